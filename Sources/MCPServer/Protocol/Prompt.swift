//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

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
