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

    /// A link to a resource.
    public static func resourceLink(uri: String, name: String, mimeType: String? = nil) -> Content {
        var o: [String: JSONValue] = ["type": "resource_link", "uri": .string(uri), "name": .string(name)]
        if let mimeType { o["mimeType"] = .string(mimeType) }
        return Content(json: .object(o))
    }
}

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

/// A tool's definition, as listed by `tools/list`.
public struct Tool: Sendable, Hashable {
    /// The unique name.
    public var name: String
    /// A display title.
    public var title: String?
    /// What the tool does.
    public var description: String?
    /// The JSON Schema of `arguments` (an object schema).
    public var inputSchema: JSONValue
    /// The JSON Schema of `structuredContent`, if the tool returns structured content.
    public var outputSchema: JSONValue?
    /// Tool annotations (hints), as JSON.
    public var annotations: JSONValue?

    /// Creates a tool definition.
    public init(
        name: String,
        title: String? = nil,
        description: String? = nil,
        inputSchema: JSONValue = ["type": "object"],
        outputSchema: JSONValue? = nil,
        annotations: JSONValue? = nil
    ) {
        self.name = name
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.annotations = annotations
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "inputSchema": inputSchema]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if let outputSchema { o["outputSchema"] = outputSchema }
        if let annotations { o["annotations"] = annotations }
        return .object(o)
    }
}

/// A resource's definition, as listed by `resources/list`.
public struct Resource: Sendable, Hashable {
    public var uri: String
    public var name: String
    public var title: String?
    public var description: String?
    public var mimeType: String?

    /// Creates a resource definition.
    public init(uri: String, name: String, title: String? = nil, description: String? = nil, mimeType: String? = nil) {
        self.uri = uri
        self.name = name
        self.title = title
        self.description = description
        self.mimeType = mimeType
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["uri": .string(uri), "name": .string(name)]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if let mimeType { o["mimeType"] = .string(mimeType) }
        return .object(o)
    }
}

/// A resource template's definition, as listed by `resources/templates/list`.
public struct ResourceTemplate: Sendable, Hashable {
    /// An RFC 6570 level-1 URI template such as `demo://items/{id}`.
    public var uriTemplate: String
    public var name: String
    public var title: String?
    public var description: String?
    public var mimeType: String?

    /// Creates a template definition.
    public init(uriTemplate: String, name: String, title: String? = nil, description: String? = nil, mimeType: String? = nil) {
        self.uriTemplate = uriTemplate
        self.name = name
        self.title = title
        self.description = description
        self.mimeType = mimeType
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["uriTemplate": .string(uriTemplate), "name": .string(name)]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if let mimeType { o["mimeType"] = .string(mimeType) }
        return .object(o)
    }
}

/// The contents of one resource, as returned by `resources/read`.
public struct ResourceContents: Sendable, Hashable {
    public var json: JSONValue

    /// Text contents.
    public static func text(uri: String, text: String, mimeType: String? = "text/plain") -> ResourceContents {
        var o: [String: JSONValue] = ["uri": .string(uri), "text": .string(text)]
        if let mimeType { o["mimeType"] = .string(mimeType) }
        return ResourceContents(json: .object(o))
    }

    /// Binary contents, base64-encoded.
    public static func blob(uri: String, base64: String, mimeType: String? = nil) -> ResourceContents {
        var o: [String: JSONValue] = ["uri": .string(uri), "blob": .string(base64)]
        if let mimeType { o["mimeType"] = .string(mimeType) }
        return ResourceContents(json: .object(o))
    }
}

/// An argument of a prompt.
public struct PromptArgument: Sendable, Hashable {
    public var name: String
    public var description: String?
    public var required: Bool

    /// Creates an argument definition.
    public init(name: String, description: String? = nil, required: Bool = false) {
        self.name = name
        self.description = description
        self.required = required
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name)]
        if let description { o["description"] = .string(description) }
        if required { o["required"] = true }
        return .object(o)
    }
}

/// A prompt's definition, as listed by `prompts/list`.
public struct Prompt: Sendable, Hashable {
    public var name: String
    public var title: String?
    public var description: String?
    public var arguments: [PromptArgument]

    /// Creates a prompt definition.
    public init(name: String, title: String? = nil, description: String? = nil, arguments: [PromptArgument] = []) {
        self.name = name
        self.title = title
        self.description = description
        self.arguments = arguments
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name)]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if !arguments.isEmpty { o["arguments"] = .array(arguments.map(\.json)) }
        return .object(o)
    }
}

/// A message of a prompt.
public struct PromptMessage: Sendable, Hashable {
    /// `user` or `assistant`.
    public var role: String
    public var content: Content

    /// Creates a message.
    public init(role: String, content: Content) {
        self.role = role
        self.content = content
    }

    var json: JSONValue { ["role": .string(role), "content": content.json] }
}

/// The result of `prompts/get`.
public struct GetPromptResult: Sendable, Hashable {
    public var description: String?
    public var messages: [PromptMessage]

    /// Creates a result.
    public init(description: String? = nil, messages: [PromptMessage]) {
        self.description = description
        self.messages = messages
    }
}

/// Completion values for `completion/complete`.
public struct Completion: Sendable, Hashable {
    /// At most 100 values are sent; the rest are reported through `total` and `hasMore`.
    public var values: [String]
    public var total: Int?
    public var hasMore: Bool?

    /// Creates a completion.
    public init(values: [String], total: Int? = nil, hasMore: Bool? = nil) {
        self.values = values
        self.total = total
        self.hasMore = hasMore
    }

    var json: JSONValue {
        let sent = Array(values.prefix(100))
        var o: [String: JSONValue] = ["values": .array(sent.map { .string($0) })]
        let total = self.total ?? (values.count > 100 ? values.count : nil)
        if let total { o["total"] = .int(Int64(total)) }
        if let hasMore = hasMore ?? (values.count > 100 ? true : nil) { o["hasMore"] = .bool(hasMore) }
        return .object(o)
    }
}

/// The syslog severities used by MCP logging, in increasing order.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case debug, info, notice, warning, error, critical, alert, emergency

    private var rank: Int { LogLevel.allCases.firstIndex(of: self)! }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rank < rhs.rank }
}

/// The authenticated caller of a request.
///
/// The HTTP edge fills this in through its authenticator; the default is ``anonymous``.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the caller (for example a token subject).
    public var id: String

    /// Creates a principal.
    public init(id: String) { self.id = id }

    /// The caller when no authentication is configured.
    public static let anonymous = Principal(id: "anonymous")

    public var description: String { id }
}

/// The client's answer to an elicitation.
public struct ElicitResult: Sendable, Hashable {
    /// `accept`, `decline` or `cancel`.
    public var action: String
    /// The submitted form data, when accepted in form mode.
    public var content: [String: JSONValue]?

    /// Reads an elicitation result from JSON.
    public init(json: JSONValue) throws(JSONRPCError) {
        guard case .string(let action)? = json["action"], ["accept", "decline", "cancel"].contains(action) else {
            throw .invalidParams("elicitation result needs an action of accept, decline or cancel")
        }
        self.action = action
        if let c = json["content"] {
            guard case .object(let o) = c else { throw .invalidParams("elicitation content must be an object") }
            self.content = o
        }
    }

    /// Creates a result.
    public init(action: String, content: [String: JSONValue]? = nil) {
        self.action = action
        self.content = content
    }
}

/// A root exposed by the client.
public struct Root: Sendable, Hashable {
    public var uri: String
    public var name: String?

    /// Creates a root.
    public init(uri: String, name: String? = nil) {
        self.uri = uri
        self.name = name
    }
}
