//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

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
