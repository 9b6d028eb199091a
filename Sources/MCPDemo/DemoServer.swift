//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer

/// The demo server's tools, resources and prompts: a fixed contract that outside test suites rely on.
///
/// Tools: `echo`, `add`, `countdown`, `ask`, `ask-twice`, `summarize`, `list-roots`, `touch`, `fail`, `long-job`.
/// Resources: `demo://greeting`, the template `demo://items/{id}`, the subscribable `demo://counter`, and
/// `demo://stats` (runtime counters, for tests). Prompt: `greet {name}`.
public enum DemoServer {
    /// The URI of the subscribable counter resource; `touch` of this URI increments it.
    public static let counterURI = "demo://counter"
    static let counterKey = "demo:counter"

    /// Registers everything on `server`.
    /// The scope `touch` needs when authorization is on.
    public static let writeScope = "demo:write"

    public static func register(on server: MCPServer) {
        registerTools(on: server)
        registerResources(on: server)
        registerPrompts(on: server)
    }

    static func registerTools(on server: MCPServer) {
        server.registerTool(
            Tool(
                name: "echo",
                description: "Returns the text it is given.",
                inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]]
            )
        ) { arguments, _ in
            .text(arguments["text"]?.stringValue ?? "")
        }

        server.registerTool(
            Tool(
                name: "add",
                description: "Adds two numbers.",
                inputSchema: [
                    "type": "object",
                    "properties": ["a": ["type": "number"], "b": ["type": "number"]],
                    "required": ["a", "b"],
                ],
                outputSchema: ["type": "object", "properties": ["sum": ["type": "number"]], "required": ["sum"]]
            )
        ) { arguments, _ in
            let a = arguments["a"]?.doubleValue ?? 0
            let b = arguments["b"]?.doubleValue ?? 0
            let sum: JSONValue
            if case .int(let x)? = arguments["a"], case .int(let y)? = arguments["b"], case (let s, false) = x.addingReportingOverflow(y) {
                sum = .int(s)
            } else {
                sum = .double(a + b)
            }
            return CallToolResult(content: [.text("\(sum)")], structuredContent: ["sum": sum])
        }

        server.registerTool(
            Tool(
                name: "countdown",
                description: "Counts down, reporting progress and logging once per step, then returns done.",
                inputSchema: [
                    "type": "object",
                    "properties": [
                        "steps": ["type": "integer", "minimum": 0, "maximum": 10000],
                        "intervalMs": ["type": "integer", "minimum": 0, "maximum": 60000],
                    ],
                    "required": ["steps"],
                ]
            )
        ) { arguments, context in
            let steps = arguments["steps"]?.intValue ?? 0
            let interval = arguments["intervalMs"]?.intValue ?? 100
            for step in 1...max(steps, 1) where steps > 0 {
                try await Task.sleep(for: .milliseconds(interval))
                try await context.progress(Double(step), total: Double(steps), message: "step \(step) of \(steps)")
                try await context.log(.info, .string("countdown: \(steps - step) left"), logger: "countdown")
            }
            return .text("done")
        }

        server.registerTool(
            Tool(
                name: "ask",
                description: "Asks the user a question and returns the answer.",
                inputSchema: ["type": "object", "properties": ["question": ["type": "string"]], "required": ["question"]]
            )
        ) { arguments, context in
            let answer = try await askForAnswer(arguments["question"]?.stringValue ?? "?", context: context)
            return .text("answer: \(answer)")
        }

        server.registerTool(
            Tool(name: "ask-twice", description: "Asks two questions in a row.", inputSchema: ["type": "object"])
        ) { _, context in
            let first = try await askForAnswer("First question?", context: context)
            let second = try await askForAnswer("Second question?", context: context)
            return .text("first: \(first), second: \(second)")
        }

        server.registerTool(
            Tool(
                name: "summarize",
                description: "Asks the client's model to summarize the text.",
                inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]]
            )
        ) { arguments, context in
            let text = arguments["text"]?.stringValue ?? ""
            return .text(try await context.sample(prompt: "Summarize this text:\n\n\(text)", maxTokens: 200))
        }

        server.registerTool(
            Tool(name: "list-roots", description: "Lists the client's roots, one URI per line.", inputSchema: ["type": "object"])
        ) { _, context in
            .text(try await context.listRoots().map(\.uri).joined(separator: "\n"))
        }

        server.registerTool(
            Tool(
                name: "touch",
                description: "Announces that a resource changed (notifications/resources/updated).",
                inputSchema: ["type": "object", "properties": ["uri": ["type": "string"]], "required": ["uri"]]
            ),
            // With authorization on, only callers granted demo:write may touch.
            scopes: [writeScope]
        ) { arguments, context in
            let uri = arguments["uri"]?.stringValue ?? ""
            if uri == counterURI { try await incrementCounter(context.store) }
            try await context.notifyResourceUpdated(uri: uri)
            return .text("touched \(uri)")
        }

        server.registerTool(
            Tool(name: "fail", description: "Always fails, as a tool error.", inputSchema: ["type": "object"])
        ) { _, _ in
            .error("this tool always fails")
        }

        server.registerTool(
            Tool(
                name: "long-job",
                description: "A long job: steps of intervalMs each, as a task when the client allows; with confirm, asks to continue after the first step.",
                inputSchema: [
                    "type": "object",
                    "properties": [
                        "steps": ["type": "integer", "minimum": 0, "maximum": 10000],
                        "intervalMs": ["type": "integer", "minimum": 0, "maximum": 60000],
                        "confirm": ["type": "boolean", "default": false],
                    ],
                    "required": ["steps", "intervalMs"],
                ],
                taskSupport: .optional(rerunnable: true)
            )
        ) { arguments, context in
            let steps = arguments["steps"]?.intValue ?? 0
            let interval = arguments["intervalMs"]?.intValue ?? 0
            let confirm = arguments["confirm"] == .bool(true)
            for step in 0..<steps {
                try await Task.sleep(for: .milliseconds(interval))
                try await context.progress(Double(step + 1), total: Double(steps), message: "step \(step + 1) of \(steps)")
                if step == 0, confirm {
                    let answer = try await context.elicit(
                        message: "Step 1 of \(steps) is done. Continue?",
                        requestedSchema: ["type": "object", "properties": ["ok": ["type": "boolean"]], "required": ["ok"]],
                        key: "continue"
                    )
                    guard answer.action == "accept", answer.content?["ok"] == .bool(true) else { return .text("declined") }
                }
            }
            return .text("done: \(steps)")
        }
    }

    static func askForAnswer(_ question: String, context: HandlerContext) async throws -> String {
        let result = try await context.elicit(
            message: question,
            requestedSchema: ["type": "object", "properties": ["answer": ["type": "string"]], "required": ["answer"]]
        )
        guard result.action == "accept", let answer = result.content?["answer"]?.stringValue else {
            return "(\(result.action))"
        }
        return answer
    }

    static func incrementCounter(_ store: any SessionStore) async throws {
        for _ in 0..<16 {
            let current = try await store.get(counterKey)
            let next = JSONValue.int(Int64((current?.value.intValue ?? 0) + 1))
            if let current {
                if try await store.compareAndSet(counterKey, value: next, expectedVersion: current.version, ttl: .seconds(86400 * 365)) != nil { return }
            } else if try await store.create(counterKey, value: next, ttl: .seconds(86400 * 365)) != nil {
                return
            }
        }
    }

    static func registerResources(on server: MCPServer) {
        server.registerResource(
            Resource(uri: "demo://greeting", name: "greeting", description: "A friendly greeting.", mimeType: "text/plain"),
            cache: CacheHint(ttl: .seconds(3600), scope: .public)
        ) { uri, _, _ in
            [.text(uri: uri, text: "Hello from the MCP demo server!")]
        }
        server.registerResourceTemplate(
            ResourceTemplate(uriTemplate: "demo://items/{id}", name: "item", description: "An item by id.", mimeType: "text/plain"),
            cache: CacheHint(ttl: .seconds(60), scope: .public)
        ) { uri, variables, _ in
            [.text(uri: uri, text: "item \(variables["id"] ?? "")")]
        }
        server.registerResource(
            Resource(uri: counterURI, name: "counter", description: "A counter; touch it to increment and notify subscribers.", mimeType: "text/plain")
        ) { uri, _, context in
            let value = try await context.store.get(counterKey)?.value.intValue ?? 0
            return [.text(uri: uri, text: "\(value)")]
        }
        server.registerResource(
            Resource(uri: "demo://stats", name: "stats", description: "Runtime counters of this replica (JSON).", mimeType: "application/json")
        ) { uri, _, context in
            let s = context.statistics
            let json: JSONValue = [
                "activeHandlers": .int(Int64(s.activeHandlers)),
                "cancelledHandlers": .int(Int64(s.cancelledHandlers)),
                "openListenStreams": .int(Int64(s.openListenStreams)),
                "replicaId": .string(context.replicaID),
            ]
            return [.text(uri: uri, text: json.description, mimeType: "application/json")]
        }
        server.registerCompletion(for: .resourceTemplate("demo://items/{id}"), argument: "id") { value, _ in
            Completion(values: (1...20).map(String.init).filter { $0.hasPrefix(value) })
        }
    }

    static func registerPrompts(on server: MCPServer) {
        server.registerPrompt(
            Prompt(name: "greet", description: "Greets someone by name.", arguments: [PromptArgument(name: "name", description: "Who to greet", required: true)])
        ) { arguments, _ in
            GetPromptResult(
                description: "A greeting",
                messages: [PromptMessage(role: "user", content: .text("Please greet \(arguments["name"] ?? "") warmly."))]
            )
        }
        let names = ["Ada", "Alan", "Barbara", "Edsger", "Grace", "Ken", "Linus", "Margaret"]
        server.registerCompletion(for: .prompt("greet"), argument: "name") { value, _ in
            Completion(values: names.filter { $0.lowercased().hasPrefix(value.lowercased()) })
        }
    }
}
