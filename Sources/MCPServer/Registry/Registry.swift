//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Synchronization

/// The registered tools, resources, templates, prompts and completions: what the server offers, in registration
/// order (so `tools/list` is deterministic), read by dispatch and changed only by registration.
final class Registry: Sendable {
    struct RegisteredTool {
        var tool: Tool
        var handler: ToolHandler
        /// Lower-cased `Mcp-Param-*` header name to the property path it mirrors (`x-mcp-header`).
        var headerParameters: [String: [String]]
        /// The tool's input and output schemas, read once at registration.
        var input: CompiledSchema
        var output: CompiledSchema?
        /// The scopes a caller needs to call it.
        var scopes: [String]
    }

    struct RegisteredResource {
        var resource: Resource
        var cache: CacheHint
        var handler: ResourceHandler
    }

    struct RegisteredTemplate {
        var template: ResourceTemplate
        var matcher: URITemplate
        var cache: CacheHint
        var handler: ResourceHandler
    }

    struct RegisteredPrompt {
        var prompt: Prompt
        var handler: PromptHandler
    }

    struct Entries {
        var tools: [RegisteredTool] = []
        var toolIndex: [String: Int] = [:]
        var resources: [RegisteredResource] = []
        var resourceIndex: [String: Int] = [:]
        var templates: [RegisteredTemplate] = []
        var prompts: [RegisteredPrompt] = []
        var promptIndex: [String: Int] = [:]
        var completions: [CompletionReference: [String: CompletionHandler]] = [:]
    }

    private let entries = Mutex(Entries())

    init() {}

    // MARK: Changes

    func add(_ tool: Tool, scopes: [String] = [], handler: @escaping ToolHandler) {
        let entry = RegisteredTool(
            tool: tool, handler: handler, headerParameters: Self.headerParameters(of: tool.inputSchema),
            input: CompiledSchema(tool.inputSchema), output: tool.outputSchema.map(CompiledSchema.init), scopes: scopes
        )
        entries.withLock { r in
            if let i = r.toolIndex[tool.name] {
                r.tools[i] = entry
            } else {
                r.toolIndex[tool.name] = r.tools.count
                r.tools.append(entry)
            }
        }
    }

    /// The scopes a caller needs to call the tool `name` (none for an unknown tool: its call fails on its own).
    func scopes(ofTool name: String) -> [String] {
        entries.withLock { r in r.toolIndex[name].map { r.tools[$0].scopes } ?? [] }
    }

    /// Every scope some tool needs, in registration order.
    func toolScopes() -> [String] {
        entries.withLock { r in
            var seen: Set<String> = []
            return r.tools.flatMap(\.scopes).filter { seen.insert($0).inserted }
        }
    }

    func removeTool(named name: String) {
        entries.withLock { r in
            guard r.toolIndex[name] != nil else { return }
            r.tools.removeAll { $0.tool.name == name }
            r.toolIndex = Dictionary(uniqueKeysWithValues: r.tools.enumerated().map { ($1.tool.name, $0) })
        }
    }

    func add(_ resource: Resource, cache: CacheHint, handler: @escaping ResourceHandler) {
        entries.withLock { r in
            let entry = RegisteredResource(resource: resource, cache: cache, handler: handler)
            if let i = r.resourceIndex[resource.uri] {
                r.resources[i] = entry
            } else {
                r.resourceIndex[resource.uri] = r.resources.count
                r.resources.append(entry)
            }
        }
    }

    func add(_ template: ResourceTemplate, matcher: URITemplate, cache: CacheHint, handler: @escaping ResourceHandler) {
        entries.withLock { r in
            r.templates.removeAll { $0.template.uriTemplate == template.uriTemplate }
            r.templates.append(RegisteredTemplate(template: template, matcher: matcher, cache: cache, handler: handler))
        }
    }

    func add(_ prompt: Prompt, handler: @escaping PromptHandler) {
        entries.withLock { r in
            let entry = RegisteredPrompt(prompt: prompt, handler: handler)
            if let i = r.promptIndex[prompt.name] {
                r.prompts[i] = entry
            } else {
                r.promptIndex[prompt.name] = r.prompts.count
                r.prompts.append(entry)
            }
        }
    }

    func addCompletion(for reference: CompletionReference, argument: String, handler: @escaping CompletionHandler) {
        entries.withLock { r in r.completions[reference, default: [:]][argument] = handler }
    }

    // MARK: Look-ups

    /// Whether any tool may run as a task.
    var hasTaskTools: Bool { entries.withLock { r in r.tools.contains { $0.tool.taskSupport.mode != .forbidden } } }

    func tool(named name: String) -> RegisteredTool? {
        entries.withLock { r in r.toolIndex[name].map { r.tools[$0] } }
    }

    /// The handler, template variables and caching hint of the resource or template that serves `uri`.
    func resource(for uri: String) -> (handler: ResourceHandler, variables: [String: String], cache: CacheHint)? {
        entries.withLock { r in
            if let i = r.resourceIndex[uri] { return (r.resources[i].handler, [:], r.resources[i].cache) }
            for t in r.templates {
                if let vars = t.matcher.match(uri) { return (t.handler, vars, t.cache) }
            }
            return nil
        }
    }

    func prompt(named name: String) -> RegisteredPrompt? {
        entries.withLock { r in r.promptIndex[name].map { r.prompts[$0] } }
    }

    func hasPrompt(named name: String) -> Bool { entries.withLock { $0.promptIndex[name] != nil } }

    func hasTemplateOrResource(_ uri: String) -> Bool {
        entries.withLock { r in r.templates.contains { $0.template.uriTemplate == uri } || r.resourceIndex[uri] != nil }
    }

    func completion(for reference: CompletionReference, argument: String) -> CompletionHandler? {
        entries.withLock { $0.completions[reference]?[argument] }
    }

    var toolList: [JSONValue] { entries.withLock { $0.tools.map(\.tool.json) } }
    var resourceList: [JSONValue] { entries.withLock { $0.resources.map(\.resource.json) } }
    var templateList: [JSONValue] { entries.withLock { $0.templates.map(\.template.json) } }
    var promptList: [JSONValue] { entries.withLock { $0.prompts.map(\.prompt.json) } }

    /// The `Mcp-Param-*` headers a tool declares: lower-cased name to property path.
    func headerParameters(ofTool name: String) -> [String: [String]] {
        entries.withLock { r in r.toolIndex[name].map { r.tools[$0].headerParameters } } ?? [:]
    }

    /// The capabilities this server declares, from what is registered.
    func capabilities() -> JSONValue {
        let (tools, resources, templates, prompts, completions) = entries.withLock {
            (!$0.tools.isEmpty, !$0.resources.isEmpty, !$0.templates.isEmpty, !$0.prompts.isEmpty, !$0.completions.isEmpty)
        }
        var c: [String: JSONValue] = ["logging": [:]]
        if tools { c["tools"] = ["listChanged": true] }
        if resources || templates { c["resources"] = ["subscribe": true, "listChanged": true] }
        if prompts { c["prompts"] = ["listChanged": true] }
        if completions || prompts || templates { c["completions"] = [:] }
        return .object(c)
    }

    /// The `x-mcp-header` annotations of an input schema: header name (lower-cased) to property path.
    static func headerParameters(of schema: JSONValue) -> [String: [String]] {
        var out: [String: [String]] = [:]
        func walk(_ node: JSONValue, _ path: [String], depth: Int) {
            guard depth < 16, let props = node["properties"]?.objectValue else { return }
            for (name, sub) in props {
                if let header = sub["x-mcp-header"]?.stringValue {
                    out[header.lowercased()] = path + [name]
                }
                walk(sub, path + [name], depth: depth + 1)
            }
        }
        walk(schema, [], depth: 0)
        return out
    }
}
