//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The result of a tool call.
public struct CallToolResult: Sendable, Hashable {
    /// Unstructured content blocks.
    public var content: [Content]
    /// Structured content, which must match the tool's `outputSchema` when it has one.
    public var structuredContent: JSONValue?
    /// Whether the tool failed. Tool failures are results, not protocol errors.
    public var isError: Bool

    /// Creates a result.
    public init(content: [Content] = [], structuredContent: JSONValue? = nil, isError: Bool = false) {
        self.content = content
        self.structuredContent = structuredContent
        self.isError = isError
    }

    /// A single text block.
    public static func text(_ text: String) -> CallToolResult { CallToolResult(content: [.text(text)]) }

    /// A failure reported to the model as a tool result.
    public static func error(_ text: String) -> CallToolResult { CallToolResult(content: [.text(text)], isError: true) }

    var fields: [String: JSONValue] {
        // Sized for what `complete` adds (resultType, _meta), so building the result allocates once.
        var o = [String: JSONValue](minimumCapacity: 6)
        o["content"] = .array(content.map(\.json))
        if let structuredContent { o["structuredContent"] = structuredContent }
        if isError { o["isError"] = true }
        return o
    }
}
