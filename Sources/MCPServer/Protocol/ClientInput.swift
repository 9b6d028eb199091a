//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

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
