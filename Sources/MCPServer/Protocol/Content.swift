//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// A content block in a tool result or prompt message.
public struct Content: Sendable, Hashable {
    /// The content block as JSON.
    public var json: JSONValue

    /// Wraps a raw content block.
    public init(json: JSONValue) { self.json = json }

    /// A text block.
    public static func text(_ text: String) -> Content { Content(json: ["type": "text", "text": .string(text)]) }

    /// An image block with base64 `data`.
    public static func image(data: String, mimeType: String) -> Content {
        Content(json: ["type": "image", "data": .string(data), "mimeType": .string(mimeType)])
    }

    /// An audio block with base64 `data`.
    public static func audio(data: String, mimeType: String) -> Content {
        Content(json: ["type": "audio", "data": .string(data), "mimeType": .string(mimeType)])
    }

    /// A resource embedded in the block: its contents (text or blob) travel inline.
    public static func resource(_ contents: ResourceContents) -> Content {
        Content(json: ["type": "resource", "resource": contents.json])
    }

    /// A link to a resource.
    public static func resourceLink(uri: String, name: String, mimeType: String? = nil) -> Content {
        var o: [String: JSONValue] = ["type": "resource_link", "uri": .string(uri), "name": .string(name)]
        if let mimeType { o["mimeType"] = .string(mimeType) }
        return Content(json: .object(o))
    }
}
