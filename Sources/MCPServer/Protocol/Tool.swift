//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

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
    /// Whether it runs as a task (``TaskSupport``): never (the default), when the client allows, or always.
    public var taskSupport: TaskSupport

    /// Creates a tool definition.
    public init(
        name: String,
        title: String? = nil,
        description: String? = nil,
        inputSchema: JSONValue = ["type": "object"],
        outputSchema: JSONValue? = nil,
        annotations: JSONValue? = nil,
        taskSupport: TaskSupport = .forbidden
    ) {
        self.name = name
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.annotations = annotations
        self.taskSupport = taskSupport
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "inputSchema": inputSchema]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if let outputSchema { o["outputSchema"] = outputSchema }
        if let annotations { o["annotations"] = annotations }
        // 2025-11-25's tool-level task negotiation (2026-07-28 ignores it: the server decides per request).
        if taskSupport.mode != .forbidden { o["execution"] = ["taskSupport": .string(taskSupport.mode.rawValue)] }
        return .object(o)
    }
}
