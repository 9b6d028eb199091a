//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer

/// The tools, resources and prompts of the official MCP conformance suite's "everything server"
/// (`modelcontextprotocol/conformance`), served by the ordinary runtime with no special cases, so that the suite's
/// server scenarios of 2025-11-25 and 2026-07-28 can be run against it on one replica or across many
/// (docs/conformance.md).
///
/// Names, arguments and texts are the ones the scenarios check; they are a contract.
public enum ConformanceServer {
    /// A 1×1 PNG image, base64.
    public static let imageBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
    /// A short silent WAV file, base64.
    public static let audioBase64 = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQgAAAAAAAAAAAAAAA=="

    /// How long list and read results may be cached (`ttlMs`).
    static let cacheTTL = Duration.seconds(300)

    /// Registers everything on `server`.
    public static func register(on server: MCPServer) {
        registerTaskTools(on: server)
        registerContentTools(on: server)
        registerInteractiveTools(on: server)
        registerInputRequiredTools(on: server)
        registerResources(on: server)
        registerPrompts(on: server)
    }

    // MARK: Tools

    static func registerContentTools(on server: MCPServer) {
        server.registerTool(Tool(name: "test_simple_text", description: "Returns a simple text content block.", inputSchema: emptyObject)) { _, _ in
            .text("This is a simple text response for testing.")
        }
        server.registerTool(Tool(name: "test_image_content", description: "Returns an image content block.", inputSchema: emptyObject)) { _, _ in
            CallToolResult(content: [.image(data: imageBase64, mimeType: "image/png")])
        }
        server.registerTool(Tool(name: "test_audio_content", description: "Returns an audio content block.", inputSchema: emptyObject)) { _, _ in
            CallToolResult(content: [.audio(data: audioBase64, mimeType: "audio/wav")])
        }
        server.registerTool(
            Tool(name: "test_embedded_resource", description: "Returns an embedded resource content block.", inputSchema: emptyObject)
        ) { _, _ in
            CallToolResult(content: [
                .resource(.text(uri: "test://embedded-resource", text: "This is an embedded resource content.", mimeType: "text/plain"))
            ])
        }
        server.registerTool(
            Tool(name: "test_multiple_content_types", description: "Returns text, image and resource content blocks.", inputSchema: emptyObject)
        ) { _, _ in
            CallToolResult(content: [
                .text("Multiple content types test:"),
                .image(data: imageBase64, mimeType: "image/png"),
                .resource(.text(uri: "test://mixed-content-resource", text: #"{"test":"data","value":123}"#, mimeType: "application/json")),
            ])
        }
        server.registerTool(
            Tool(name: "test_error_handling", description: "Always fails, as a tool error.", inputSchema: emptyObject)
        ) { _, _ in
            .error("This tool intentionally returns an error for testing")
        }
        server.registerTool(
            Tool(name: "test_tool_with_logging", description: "Logs three messages while it runs.", inputSchema: emptyObject)
        ) { _, context in
            for (n, text) in ["Tool execution started", "Tool processing data", "Tool execution completed"].enumerated() {
                if n > 0 { try await Task.sleep(for: .milliseconds(50)) }
                try await context.log(.info, .string(text), logger: "conformance")
            }
            return .text("Tool with logging executed successfully")
        }
        server.registerTool(
            Tool(name: "test_tool_with_progress", description: "Reports progress 0, 50 and 100 of 100.", inputSchema: emptyObject)
        ) { _, context in
            for (n, step) in [0, 50, 100].enumerated() {
                if n > 0 { try await Task.sleep(for: .milliseconds(50)) }
                try await context.progress(Double(step), total: 100, message: "Completed step \(step) of 100")
            }
            let token = context.meta.progressToken
            return .text(token.map { $0.stringValue ?? $0.description } ?? "0")
        }
        server.registerTool(
            Tool(
                name: "json_schema_2020_12_tool",
                description: "A tool whose input schema uses JSON Schema 2020-12 keywords ($schema, $defs, $ref, composition, conditionals).",
                inputSchema: jsonSchema202012
            )
        ) { arguments, _ in
            .text("JSON Schema 2020-12 tool called with: \(JSONValue.object(arguments).description)")
        }
        server.registerTool(
            Tool(
                name: "test_reconnection",
                description: "Closes its stream's connection mid-call, then answers on the stream the client resumes (SEP-1699).",
                inputSchema: emptyObject
            )
        ) { _, context in
            try await context.closeStreamConnection()
            try await Task.sleep(for: .milliseconds(100))
            return .text("Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.")
        }
        server.registerTool(
            Tool(name: "test_logging_tool", description: "Logs one message, at info, when the request asked for logs.", inputSchema: emptyObject)
        ) { _, context in
            try await context.log(.info, "Diagnostic trace logging activated", logger: "conformance")
            return .text("Logging evaluated")
        }
        server.registerTool(
            Tool(
                name: "test_custom_header",
                description: "Echoes its region argument, which travels in the Mcp-Param-Region header too (SEP-2243).",
                inputSchema: [
                    "type": "object",
                    "properties": ["region": ["type": "string", "x-mcp-header": "Region"]],
                ]
            )
        ) { arguments, _ in
            .text("region: \(arguments["region"]?.stringValue ?? "(none)")")
        }
        server.registerTool(
            Tool(name: "test_trigger_tool_change", description: "Announces that the tool list changed.", inputSchema: emptyObject)
        ) { _, context in
            try await context.notifyListChanged(.tools)
            return .text("Mutation triggered")
        }
        server.registerTool(
            Tool(name: "test_trigger_prompt_change", description: "Announces that the prompt list changed.", inputSchema: emptyObject)
        ) { _, context in
            try await context.notifyListChanged(.prompts)
            return .text("Mutation triggered")
        }
        server.registerTool(
            Tool(
                name: "test_trigger_resource_update", description: "Announces that a resource changed.",
                inputSchema: [
                    "type": "object", "properties": ["uri": ["type": "string"]],
                ])
        ) { arguments, context in
            let uri = arguments["uri"]?.stringValue ?? watchedURI
            try await context.notifyResourceUpdated(uri: uri)
            return .text("Updated \(uri)")
        }
    }

    static func registerInteractiveTools(on server: MCPServer) {
        server.registerTool(
            Tool(
                name: "test_sampling",
                description: "Asks the client's model to answer the prompt.",
                inputSchema: [
                    "type": "object", "properties": ["prompt": ["type": "string", "description": "The prompt to send to the LLM"]],
                    "required": ["prompt"],
                ]
            )
        ) { arguments, context in
            let result = try await context.sample(question(arguments["prompt"]?.stringValue ?? "", maxTokens: 100))
            return .text("LLM response: \(samplingText(result))")
        }
        server.registerTool(
            Tool(
                name: "test_elicitation",
                description: "Asks the user for a response.",
                inputSchema: [
                    "type": "object", "properties": ["message": ["type": "string", "description": "The message to show the user"]],
                    "required": ["message"],
                ]
            )
        ) { arguments, context in
            let result = try await context.elicit(
                message: arguments["message"]?.stringValue ?? "",
                requestedSchema: [
                    "type": "object",
                    "properties": ["response": ["type": "string", "description": "User's response"]],
                    "required": ["response"],
                ]
            )
            return .text("User response: action=\(result.action), content=\((result.content ?? [:]).description)")
        }
        server.registerTool(
            Tool(
                name: "test_elicitation_sep1034_defaults", description: "Elicits a form whose fields have defaults (SEP-1034).",
                inputSchema: emptyObject)
        ) { _, context in
            let result = try await context.elicit(
                message: "Please review and update the form fields with defaults",
                requestedSchema: [
                    "type": "object",
                    "properties": [
                        "name": ["type": "string", "description": "User name", "default": "John Doe"],
                        "age": ["type": "integer", "description": "User age", "default": 30],
                        "score": ["type": "number", "description": "User score", "default": 95.5],
                        "status": [
                            "type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active",
                        ],
                        "verified": ["type": "boolean", "description": "Verification status", "default": true],
                    ],
                    "required": [],
                ]
            )
            return .text("Elicitation completed: action=\(result.action), content=\((result.content ?? [:]).description)")
        }
        server.registerTool(
            Tool(name: "test_elicitation_sep1330_enums", description: "Elicits a form with every enum variant (SEP-1330).", inputSchema: emptyObject)
        ) { _, context in
            let result = try await context.elicit(
                message: "Please select options from the enum fields",
                requestedSchema: [
                    "type": "object",
                    "properties": [
                        "untitledSingle": ["type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]],
                        "titledSingle": [
                            "type": "string", "description": "Select one option with titles",
                            "oneOf": [
                                ["const": "value1", "title": "First Option"],
                                ["const": "value2", "title": "Second Option"],
                                ["const": "value3", "title": "Third Option"],
                            ],
                        ],
                        "legacyEnum": [
                            "type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"],
                        ],
                        "untitledMulti": [
                            "type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3,
                            "items": ["type": "string", "enum": ["option1", "option2", "option3"]],
                        ],
                        "titledMulti": [
                            "type": "array", "description": "Select multiple options with titles", "minItems": 1, "maxItems": 3,
                            "items": [
                                "anyOf": [
                                    ["const": "value1", "title": "First Choice"],
                                    ["const": "value2", "title": "Second Choice"],
                                    ["const": "value3", "title": "Third Choice"],
                                ]
                            ],
                        ],
                    ],
                    "required": [],
                ]
            )
            return .text("Elicitation completed: action=\(result.action), content=\((result.content ?? [:]).description)")
        }
        server.registerTool(
            Tool(name: "test_streaming_elicitation", description: "Asks the user a question while the call is open.", inputSchema: emptyObject)
        ) { _, context in
            let answer = try await context.elicit(
                message: "Continue streaming?",
                requestedSchema: ["type": "object", "properties": ["ok": ["type": "boolean"]], "required": ["ok"]]
            )
            return .text("Streaming complete: \(answer.action)")
        }
        server.registerTool(
            Tool(
                name: "test_missing_capability",
                description: "Needs the client's sampling capability.",
                inputSchema: emptyObject
            )
        ) { _, context in
            guard context.meta.hasCapability("sampling") else {
                throw JSONRPCError.missingRequiredClientCapability(["sampling": [:]], detail: "sampling")
            }
            return .text("Success")
        }
    }

    /// The tools of the `input-required-result-*` scenarios (2026-07-28 multi-round tool results). They use the
    /// ordinary input API: in a 2026-07-28 request each input ends the round with an `InputRequiredResult` and the
    /// handler runs again with the answers; in a session each is a server-to-client request.
    static func registerInputRequiredTools(on server: MCPServer) {
        func tool(_ name: String, _ description: String, handler: @escaping ToolHandler) {
            server.registerTool(Tool(name: name, description: description, inputSchema: emptyObject), handler: handler)
        }
        let nameSchema: JSONValue = ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"]]
        let okSchema: JSONValue = ["type": "object", "properties": ["ok": ["type": "boolean"]], "required": ["ok"]]

        tool("test_input_required_result_elicitation", "Asks the user's name, then greets them.") { _, context in
            let answer = try await context.elicit(message: "What is your name?", requestedSchema: nameSchema, key: "user_name")
            guard let name = acceptedText(answer, field: "name") else { return missing("name") }
            return .text("Hello, \(name)!")
        }
        tool("test_input_required_result_sampling", "Asks the client's model a question.") { _, context in
            let answer = try await context.sample(question("What is the capital of France?", maxTokens: 100), key: "capital_question")
            return .text("Sampling result: \(samplingText(answer))")
        }
        tool("test_input_required_result_list_roots", "Lists the client's roots.") { _, context in
            let roots = try await context.listRoots(key: "client_roots")
            return .text("Found \(roots.count) root(s)\(roots.isEmpty ? "" : ": " + roots.map(\.uri).joined(separator: ", "))")
        }
        tool("test_input_required_result_request_state", "Asks for a confirmation; the round's state travels in requestState.") { _, context in
            let answer = try await context.elicit(message: "Please confirm", requestedSchema: okSchema, key: "confirm")
            guard answer.action == "accept", answer.content?["ok"] == .bool(true) else { return .text("not confirmed: \(answer.action)") }
            return .text("state-ok: requestState validated")
        }
        tool("test_input_required_result_multiple_inputs", "Asks for a name, a greeting and the roots at once.") { _, context in
            let answers = try await context.inputs([
                .elicitation(message: "What is your name?", requestedSchema: nameSchema, key: "user_name"),
                .sampling(question("Generate a greeting", maxTokens: 50), key: "greeting"),
                .roots(key: "client_roots"),
            ])
            guard let name = acceptedText(try ElicitResult(json: answers[0]), field: "name") else { return missing("name") }
            let roots = answers[2]["roots"]?.arrayValue?.count ?? 0
            return .text("Name: \(name); Greeting: \(samplingText(answers[1])); Roots: \(roots)")
        }
        tool("test_input_required_result_multi_round", "Asks two questions, one per round.") { _, context in
            let step1 = try await context.elicit(message: "Step 1: What is your name?", requestedSchema: nameSchema, key: "step1")
            guard let name = acceptedText(step1, field: "name") else { return missing("name") }
            let step2 = try await context.elicit(
                message: "Step 2: What is your favorite color?",
                requestedSchema: ["type": "object", "properties": ["color": ["type": "string"]], "required": ["color"]],
                key: "step2"
            )
            guard let color = acceptedText(step2, field: "color") else { return missing("color") }
            return .text("Multi-round complete for \(name) who likes \(color)")
        }
        tool("test_input_required_result_tampered_state", "Asks for a confirmation; a tampered requestState is refused.") { _, context in
            _ = try await context.elicit(message: "Please confirm", requestedSchema: okSchema, key: "confirm")
            return .text("integrity-ok: state verified")
        }
        tool("test_input_required_result_capabilities", "Asks only for the inputs the client declared it can give.") { _, context in
            var requests: [InputRequest] = []
            if context.meta.hasCapability("elicitation") {
                requests.append(
                    .elicitation(
                        message: "Elicitation input",
                        requestedSchema: ["type": "object", "properties": ["value": ["type": "string"]], "required": ["value"]],
                        key: "elicit_input"
                    )
                )
            }
            if context.meta.hasCapability("sampling") {
                requests.append(.sampling(question("Sample request", maxTokens: 50), key: "sample_input"))
            }
            guard !requests.isEmpty else { return .text("No supported capabilities declared") }
            _ = try await context.inputs(requests)
            return .text("capabilities-ok: received \(requests.compactMap(\.key).joined(separator: ","))")
        }
    }

    /// The `content[field]` string of an accepted elicitation, `(decline)` or `(cancel)` for the others; `nil` when an
    /// accepted answer lacks the string field (the caller reports it as a tool error: the model can ask again).
    static func acceptedText(_ result: ElicitResult, field: String) -> String? {
        guard result.action == "accept" else { return "(\(result.action))" }
        return result.content?[field]?.stringValue
    }

    /// A tool error for an accepted elicitation answer without the string `field`.
    static func missing(_ field: String) -> CallToolResult {
        .error("the answer has no string \"\(field)\"")
    }

    /// The text of a `CreateMessageResult`.
    static func samplingText(_ result: JSONValue) -> String {
        result["content"]?["text"]?.stringValue ?? result["content"]?.arrayValue?.compactMap { $0["text"]?.stringValue }.joined() ?? "no response"
    }

    /// `CreateMessageRequestParams` of one user message.
    static func question(_ text: String, maxTokens: Int) -> JSONValue {
        ["messages": [["role": "user", "content": ["type": "text", "text": .string(text)]]], "maxTokens": .int(Int64(maxTokens))]
    }

    /// The tools of the `tasks-*` scenarios (the 2026-07-28 `io.modelcontextprotocol/tasks` extension).
    static func registerTaskTools(on server: MCPServer) {
        server.registerTool(
            Tool(
                name: "greet", description: "Greets someone, synchronously.",
                inputSchema: ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"]]
            )
        ) { arguments, _ in
            .text("Hello, \(arguments["name"]?.stringValue ?? "")!")
        }
        server.registerTool(
            Tool(
                name: "slow_compute", description: "Computes for a while; a task when the client allows.",
                inputSchema: [
                    "type": "object",
                    "properties": ["seconds": ["type": "number", "minimum": 0, "maximum": 600], "label": ["type": "string"]],
                ],
                taskSupport: .optional()
            )
        ) { arguments, context in
            let seconds = arguments["seconds"]?.doubleValue ?? 1
            let label = arguments["label"]?.stringValue ?? "job"
            let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                try await context.progress(0, message: "computing \(label)")
            }
            return .text("computed \(label) in \(seconds) s")
        }
        server.registerTool(
            Tool(name: "failing_job", description: "Fails as a tool error, as a task only.", inputSchema: emptyObject, taskSupport: .required())
        ) { _, _ in
            try await Task.sleep(for: .milliseconds(500))
            return .error("the job failed")
        }
        server.registerTool(
            Tool(
                name: "protocol_error_job", description: "Fails with a JSON-RPC error, as a task only.", inputSchema: emptyObject,
                taskSupport: .required()
            )
        ) { _, _ in
            try await Task.sleep(for: .milliseconds(200))
            throw JSONRPCError.internalError("the job hit a protocol error")
        }
        server.registerTool(
            Tool(
                name: "confirm_delete", description: "Asks before it deletes a file, as a task only.",
                inputSchema: ["type": "object", "properties": ["filename": ["type": "string"]], "required": ["filename"]],
                taskSupport: .required()
            )
        ) { arguments, context in
            let file = arguments["filename"]?.stringValue ?? ""
            let answer = try await context.elicit(
                message: "Delete \(file)?",
                requestedSchema: ["type": "object", "properties": ["confirm": ["type": "boolean"]], "required": ["confirm"]],
                key: "confirm_delete"
            )
            guard answer.action == "accept", answer.content?["confirm"] == .bool(true) else { return .text("kept \(file)") }
            return .text("deleted \(file)")
        }
        server.registerTool(
            Tool(name: "multi_input", description: "Asks two questions at once, as a task only.", inputSchema: emptyObject, taskSupport: .required())
        ) { _, context in
            let answers = try await context.inputs([
                .elicitation(message: "Your name?", requestedSchema: ["type": "object", "properties": ["name": ["type": "string"]]], key: "name"),
                .elicitation(message: "Your city?", requestedSchema: ["type": "object", "properties": ["city": ["type": "string"]]], key: "city"),
            ])
            let name = answers[0]["content"]?["name"]?.stringValue ?? "?"
            let city = answers[1]["content"]?["city"]?.stringValue ?? "?"
            return .text("\(name) from \(city)")
        }
    }

    // MARK: Resources

    /// The subscribable resource.
    public static let watchedURI = "test://watched-resource"

    static func registerResources(on server: MCPServer) {
        let cache = CacheHint(ttl: cacheTTL, scope: .private)
        server.registerResource(
            Resource(
                uri: "test://static-text", name: "static-text", title: "Static Text Resource", description: "A static text resource for testing",
                mimeType: "text/plain"),
            cache: cache
        ) { uri, _, _ in
            [.text(uri: uri, text: "This is the content of the static text resource.", mimeType: "text/plain")]
        }
        server.registerResource(
            Resource(
                uri: "test://static-binary", name: "static-binary", title: "Static Binary Resource",
                description: "A static binary resource (image) for testing", mimeType: "image/png"),
            cache: cache
        ) { uri, _, _ in
            [.blob(uri: uri, base64: imageBase64, mimeType: "image/png")]
        }
        server.registerResourceTemplate(
            ResourceTemplate(
                uriTemplate: "test://template/{id}/data", name: "template", title: "Resource Template",
                description: "A resource template with parameter substitution", mimeType: "application/json"),
            cache: cache
        ) { uri, variables, _ in
            let id = variables["id"] ?? ""
            let json: JSONValue = ["id": .string(id), "templateTest": true, "data": .string("Data for ID: \(id)")]
            return [.text(uri: uri, text: json.description, mimeType: "application/json")]
        }
        server.registerResource(
            Resource(
                uri: watchedURI, name: "watched-resource", title: "Watched Resource", description: "A resource that can be subscribed to",
                mimeType: "text/plain"),
            cache: cache
        ) { uri, _, _ in
            [.text(uri: uri, text: "Watched resource content", mimeType: "text/plain")]
        }
        server.registerResource(
            Resource(
                uri: "test://stateless-static-text", name: "Stateless Static Text", description: "A static text resource", mimeType: "text/plain"),
            cache: cache
        ) { uri, _, _ in
            [.text(uri: uri, text: "Static text content from the stateless draft path.", mimeType: "text/plain")]
        }
        server.registerCompletion(for: .resourceTemplate("test://template/{id}/data"), argument: "id") { _, _ in
            Completion(values: [])
        }
    }

    // MARK: Prompts

    static func registerPrompts(on server: MCPServer) {
        server.registerPrompt(Prompt(name: "test_simple_prompt", title: "Simple Test Prompt", description: "A simple prompt without arguments")) {
            _, _ in
            GetPromptResult(messages: [PromptMessage(role: "user", content: .text("This is a simple prompt for testing."))])
        }
        server.registerPrompt(
            Prompt(
                name: "test_prompt_with_arguments",
                title: "Prompt With Arguments",
                description: "A prompt with required arguments",
                arguments: [
                    PromptArgument(name: "arg1", description: "First test argument", required: true),
                    PromptArgument(name: "arg2", description: "Second test argument", required: true),
                ]
            )
        ) { arguments, _ in
            GetPromptResult(messages: [
                PromptMessage(
                    role: "user", content: .text("Prompt with arguments: arg1='\(arguments["arg1"] ?? "")', arg2='\(arguments["arg2"] ?? "")'"))
            ])
        }
        server.registerPrompt(
            Prompt(
                name: "test_prompt_with_embedded_resource",
                title: "Prompt With Embedded Resource",
                description: "A prompt that includes an embedded resource",
                arguments: [PromptArgument(name: "resourceUri", description: "URI of the resource to embed", required: true)]
            )
        ) { arguments, _ in
            GetPromptResult(messages: [
                PromptMessage(
                    role: "user",
                    content: .resource(
                        .text(uri: arguments["resourceUri"] ?? "", text: "Embedded resource content for testing.", mimeType: "text/plain"))
                ),
                PromptMessage(role: "user", content: .text("Please process the embedded resource above.")),
            ])
        }
        server.registerPrompt(Prompt(name: "test_prompt_with_image", title: "Prompt With Image", description: "A prompt that includes image content"))
        { _, _ in
            GetPromptResult(messages: [
                PromptMessage(role: "user", content: .image(data: imageBase64, mimeType: "image/png")),
                PromptMessage(role: "user", content: .text("Please analyze the image above.")),
            ])
        }
        server.registerPrompt(
            Prompt(name: "test_input_required_result_prompt", description: "Asks the user for context before it is built (multi-round prompts/get).")
        ) { _, context in
            let answer = try await context.elicit(
                message: "What context should the prompt use?",
                requestedSchema: ["type": "object", "properties": ["context": ["type": "string"]], "required": ["context"]],
                key: "user_context"
            )
            // A prompt has no error result: an answer without the field is invalid params.
            guard let text = acceptedText(answer, field: "context") else {
                throw JSONRPCError.invalidParams("the answer has no string \"context\"")
            }
            return GetPromptResult(messages: [PromptMessage(role: "user", content: .text("Prompt with context: \(text)"))])
        }
        for argument in ["arg1", "arg2"] {
            server.registerCompletion(for: .prompt("test_prompt_with_arguments"), argument: argument) { _, _ in
                Completion(values: [])
            }
        }
    }

    // MARK: Schemas

    static let emptyObject: JSONValue = ["type": "object", "properties": [:]]

    /// An input schema with the JSON Schema 2020-12 keywords that must reach clients unchanged (SEP-1613, SEP-2106).
    static let jsonSchema202012: JSONValue = [
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": [
            "address": [
                "$anchor": "addressDef",
                "type": "object",
                "properties": ["street": ["type": "string"], "city": ["type": "string"]],
            ]
        ],
        "properties": [
            "name": ["type": "string"],
            "address": ["$ref": "#/$defs/address"],
            "contactMethod": ["type": "string", "enum": ["phone", "email"]],
            "phone": ["type": "string"],
            "email": ["type": "string"],
        ],
        "allOf": [["anyOf": [["required": ["phone"]], ["required": ["email"]]]]],
        "if": ["properties": ["contactMethod": ["const": "phone"]], "required": ["contactMethod"]],
        "then": ["required": ["phone"]],
        "else": ["required": ["email"]],
        "additionalProperties": false,
    ]
}
