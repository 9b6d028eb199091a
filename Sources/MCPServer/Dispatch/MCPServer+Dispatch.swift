//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// Dispatch: methods to the registered handlers, for both generations. A handler's input requests become MRTR rounds
/// in a stateless request and server-to-client requests in a session (``runRound(_:meta:sink:binding:session:_:)``).
extension MCPServer {
    /// Runs one request of either generation: `session` is set for a session's request, `nil` for a stateless one.
    /// - Returns: the result, with the stateless fields (`resultType`, `serverInfo`, caching hints).
    /// The `403` for a request whose caller lacks a scope it needs (a `tools/call` of a tool registered with
    /// scopes), or `nil`.
    func scopeRefusal(method: String, params: [String: JSONValue], principal: Principal, id: JSONRPCRequestID?) -> Refusal? {
        guard method == "tools/call", principal.scopes != nil else { return nil }
        let required = registry.scopes(ofTool: params["name"]?.stringValue ?? "")
        let missing = principal.missingScopes(required)
        return missing.isEmpty ? nil : .insufficientScope(required, missing: missing, id: id)
    }

    func dispatch(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink, session: SessionContext?) async throws -> JSONValue {
        let params = request.params
        switch request.method {
        case "server/discover":
            var capabilities = registry.capabilities().objectValue ?? [:]
            capabilities["extensions"] = [Self.tasksExtension: [:]]
            var fields: [String: JSONValue] = [
                "supportedVersions": .array(Self.statelessVersions.map { .string($0) }),
                "capabilities": .object(capabilities),
            ]
            if let instructions = configuration.instructions { fields["instructions"] = .string(instructions) }
            return completeResult(fields, cache: listCache)
        case "tools/list":
            return try listResult("tools", registry.toolList, cursor: params["cursor"])
        case "resources/list":
            return try listResult("resources", registry.resourceList, cursor: params["cursor"])
        case "resources/templates/list":
            return try listResult("resourceTemplates", registry.templateList, cursor: params["cursor"])
        case "prompts/list":
            return try listResult("prompts", registry.promptList, cursor: params["cursor"])
        case "tools/call":
            // The transports refuse this with 403 before dispatch; a batched call, which has no status of its own,
            // gets the error here.
            if request.principal.scopes != nil {
                let missing = request.principal.missingScopes(registry.scopes(ofTool: params["name"]?.stringValue ?? ""))
                guard missing.isEmpty else { throw JSONRPCError.insufficientScope(missing) }
            }
            return try await callTool(request, meta: meta, sink: sink, session: session)
        case "resources/read":
            return try await readResource(request, meta: meta, sink: sink, session: session)
        case "prompts/get":
            return try await getPrompt(request, meta: meta, sink: sink, session: session)
        case "completion/complete":
            return try await completion(request)
        case "subscriptions/listen":
            return try await listen(request, meta: meta, sink: sink)
        case let method where session == nil && Self.taskMethods.contains(method):
            return try await storeFailuresRefused { try await taskMethod(request, meta: meta) }
        case "tasks/get", "tasks/result", "tasks/list", "tasks/cancel":
            guard let session, session.protocolVersion >= .v2025_11_25 else { throw JSONRPCError.methodNotFound(request.method) }
            return try await sessionTaskMethod(request, sink: sink)
        default:
            throw JSONRPCError.methodNotFound(request.method)
        }
    }

    // MARK: Results

    var listCache: CacheHint { CacheHint(ttl: configuration.listCacheTTL, scope: configuration.listCacheScope) }

    /// A `complete` result with `serverInfo` and, where given, caching hints.
    func completeResult(_ fields: consuming [String: JSONValue], cache: CacheHint? = nil) -> JSONValue {
        var o = fields
        // Room for what is added below, so the dictionary grows once at most.
        o.reserveCapacity(o.count + 4)
        o["resultType"] = "complete"
        if case .object(var meta)? = o["_meta"] {
            meta[MetaKey.serverInfo] = serverInfo
            o["_meta"] = .object(meta)
        } else {
            o["_meta"] = serverInfoMeta
        }
        if let cache {
            o["ttlMs"] = .int(cache.ttl.wholeMilliseconds)
            o["cacheScope"] = cache.scope.json
        }
        return .object(o)
    }

    /// One page of a list result: `key` holds the page's items, `nextCursor` the rest.
    func listResult(_ key: String, _ all: [JSONValue], cursor: JSONValue?) throws(JSONRPCError) -> JSONValue {
        let (items, next) = try page(all, cursor: cursor)
        var o: [String: JSONValue] = [key: .array(items)]
        if let next { o["nextCursor"] = .string(next) }
        return completeResult(o, cache: listCache)
    }

    /// Cuts one page out of `items`. Cursors are opaque to clients: `p1.<offset>` in base64url.
    func page(_ items: [JSONValue], cursor: JSONValue?) throws(JSONRPCError) -> ([JSONValue], String?) {
        var offset = 0
        if let cursor, !cursor.isNull {
            guard case .string(let c) = cursor, let bytes = Base64URL.decode(c),
                let text = String(validating: bytes, as: UTF8.self), text.hasPrefix("p1."),
                let o = Int(text.dropFirst(3)), o >= 0, o <= items.count
            else { throw .invalidParams("invalid cursor") }
            offset = o
        }
        let end = min(items.count, offset + configuration.pageSize)
        let next = end < items.count ? Base64URL.encode(Array("p1.\(end)".utf8)) : nil
        return (Array(items[offset..<end]), next)
    }

    // MARK: Handlers with input rounds

    /// The answers gathered in earlier rounds (sealed in `requestState`) plus this round's `inputResponses`.
    func gatherAnswers(_ params: [String: JSONValue], binding: () -> String, principal: Principal) async throws -> [String: JSONValue] {
        var answers: [String: JSONValue] = [:]
        if let state = params["requestState"] {
            guard case .string(let token) = state else { throw JSONRPCError.invalidParams("requestState must be a string") }
            let data: JSONValue
            do {
                data = try await sealer.open(token, binding: binding(), principal: principal)
            } catch {
                throw JSONRPCError.invalidParams(error.description)
            }
            answers = data["answers"]?.objectValue ?? [:]
        }
        if let responses = params["inputResponses"] {
            guard case .object(let o) = responses else { throw JSONRPCError.invalidParams("inputResponses must be an object") }
            for (key, value) in o {
                guard case .object = value else { throw JSONRPCError.invalidParams("inputResponses.\(key) must be an object") }
                // Answers sealed in an earlier round are final.
                if answers[key] == nil { answers[key] = value }
            }
        }
        return answers
    }

    /// Runs a handler for one round; returns its value, or the `InputRequiredResult` that ends the round.
    func runRound<T: Sendable>(
        _ request: IncomingRequest,
        meta: RequestMeta,
        sink: any MessageSink,
        binding: @autoclosure () -> String,
        session: SessionContext?,
        _ body: (HandlerContext) async throws -> T
    ) async throws -> RoundOutcome<T> {
        let inputs: MRTRInputs
        let channel: any InputChannel
        if let session {
            // Sessions ask the client with real server-to-client requests; there are no rounds.
            inputs = MRTRInputs(answers: [:])
            channel = SessionInputs(relay: relay, timeout: configuration.clientRequestTimeout, session: session)
        } else {
            let answers = try await gatherAnswers(request.params, binding: binding, principal: request.principal)
            inputs = MRTRInputs(answers: answers)
            channel = inputs
        }
        var logger = self.logger
        if logger.logLevel <= .debug {
            logger[metadataKey: "mcp.request.id"] = "\(request.id)"
            logger[metadataKey: "mcp.method"] = "\(request.method)"
        }
        let context = HandlerContext(
            requestID: request.id,
            method: request.method,
            principal: request.principal,
            meta: meta,
            logger: logger,
            sink: sink,
            inputChannel: channel,
            runtime: handlerRuntime,
            session: session
        )
        supervisor.statistics.withLock { $0.activeHandlers += 1 }
        defer {
            let cancelled = Task.isCancelled
            supervisor.statistics.withLock {
                $0.activeHandlers -= 1
                if cancelled { $0.cancelledHandlers += 1 }
            }
        }
        let value: T
        do {
            value = try await body(context)
        } catch is InputRequiredSignal {
            return .inputRequired(try await inputRequired(inputs, binding: binding(), principal: request.principal))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            if inputs.pending != nil {
                return .inputRequired(try await inputRequired(inputs, binding: binding(), principal: request.principal))
            }
            throw error
        }
        if Task.isCancelled { throw CancellationError() }
        if inputs.pending != nil {
            return .inputRequired(try await inputRequired(inputs, binding: binding(), principal: request.principal))
        }
        return .value(value)
    }

    enum RoundOutcome<T: Sendable>: Sendable {
        case value(T)
        case inputRequired(JSONValue)
    }

    func inputRequired(_ inputs: MRTRInputs, binding: String, principal: Principal) async throws -> JSONValue {
        guard let pending = inputs.pending else { throw JSONRPCError.internalError() }
        let state = try await sealer.seal(["answers": .object(inputs.askedAnswers)], binding: binding, principal: principal)
        return [
            "resultType": "input_required",
            "inputRequests": .object(Dictionary(pending.requests.map { ($0.key, $0.request) }, uniquingKeysWith: { first, _ in first })),
            "requestState": .string(state),
            "_meta": serverInfoMeta,
        ]
    }

    func callTool(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink, session: SessionContext?) async throws -> JSONValue {
        guard case .string(let name)? = request.params["name"] else {
            throw JSONRPCError.invalidParams("tools/call needs a string \"name\"")
        }
        var arguments: [String: JSONValue] = [:]
        if let a = request.params["arguments"], !a.isNull {
            guard case .object(let o) = a else { throw JSONRPCError.invalidParams("arguments must be an object") }
            arguments = o
        }
        guard let entry = registry.tool(named: name) else {
            throw JSONRPCError.invalidParams("Unknown tool: \(name)")
        }
        if let violation = entry.input.firstViolation(of: .object(arguments)) {
            return completeResult(CallToolResult.error("Invalid arguments for tool \(name): \(violation)").fields)
        }
        if let session, session.protocolVersion >= .v2025_11_25 {
            // 2025-11-25: the client asks for a task (params.task), as the tool's taskSupport allows.
            let asked = request.params["task"] != nil && request.params["task"] != .null
            switch (entry.tool.taskSupport.mode, asked) {
            case (.forbidden, true): throw JSONRPCError.methodNotFound("tools/call as a task (the tool \(name) does not run as one)")
            case (.required, false): throw JSONRPCError.methodNotFound("tools/call without a task (the tool \(name) runs only as one)")
            case (_, true): return try await createSessionTask(tool: entry, arguments: arguments, request: request, meta: meta)
            default: break
            }
        }
        if session == nil, entry.tool.taskSupport.mode != .forbidden {
            // A task only for a request that declares the extension itself; a tool that must be one refuses the rest.
            if Self.declaresTasks(meta) {
                return try await storeFailuresRefused { try await createTaskResult(tool: entry, arguments: arguments, request: request, meta: meta) }
            }
            if entry.tool.taskSupport.mode == .required { throw Self.tasksCapabilityMissing }
        }
        let outcome = try await runRound(
            request, meta: meta, sink: sink,
            binding: RequestStateSealer.binding(method: request.method, target: name, arguments: .object(arguments)),
            session: session
        ) { context -> CallToolResult in
            do {
                return try await entry.handler(arguments, context)
            } catch let error as JSONRPCError {
                throw error
            } catch is InputRequiredSignal {
                throw InputRequiredSignal(requests: [])
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                // A tool failure is a result the model can read, not a protocol error.
                return CallToolResult.error("Tool \(name) failed: \(error)")
            }
        }
        switch outcome {
        case .inputRequired(let result):
            return result
        case .value(let result):
            if let schema = entry.output, !result.isError {
                guard let structured = result.structuredContent else {
                    throw JSONRPCError.internalError("tool \(name) returned no structuredContent for its outputSchema")
                }
                if let violation = schema.firstViolation(of: structured) {
                    throw JSONRPCError.internalError("tool \(name) returned structuredContent that violates its outputSchema: \(violation)")
                }
            }
            return completeResult(result.fields)
        }
    }

    func readResource(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink, session: SessionContext?) async throws -> JSONValue {
        guard case .string(let uri)? = request.params["uri"] else {
            throw JSONRPCError.invalidParams("resources/read needs a string \"uri\"")
        }
        guard let (handler, variables, cache) = registry.resource(for: uri) else {
            throw JSONRPCError.invalidParams("Resource not found", data: ["uri": .string(uri)])
        }
        let outcome = try await runRound(
            request, meta: meta, sink: sink,
            binding: RequestStateSealer.binding(method: request.method, target: uri, arguments: nil),
            session: session
        ) { context in
            try await handler(uri, variables, context)
        }
        switch outcome {
        case .inputRequired(let result):
            return result
        case .value(let contents):
            return completeResult(["contents": .array(contents.map(\.json))], cache: cache)
        }
    }

    func getPrompt(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink, session: SessionContext?) async throws -> JSONValue {
        guard case .string(let name)? = request.params["name"] else {
            throw JSONRPCError.invalidParams("prompts/get needs a string \"name\"")
        }
        guard let entry = registry.prompt(named: name) else {
            throw JSONRPCError.invalidParams("Unknown prompt: \(name)")
        }
        var arguments: [String: String] = [:]
        if let a = request.params["arguments"], !a.isNull {
            guard case .object(let o) = a else { throw JSONRPCError.invalidParams("arguments must be an object") }
            for (k, v) in o {
                guard case .string(let s) = v else { throw JSONRPCError.invalidParams("prompt argument \(k) must be a string") }
                arguments[k] = s
            }
        }
        for argument in entry.prompt.arguments where argument.required && arguments[argument.name] == nil {
            throw JSONRPCError.invalidParams("missing required argument \(argument.name) of prompt \(name)")
        }
        let outcome = try await runRound(
            request, meta: meta, sink: sink,
            binding: RequestStateSealer.binding(method: request.method, target: name, arguments: .object(arguments.mapValues { .string($0) })),
            session: session
        ) { context in
            try await entry.handler(arguments, context)
        }
        switch outcome {
        case .inputRequired(let result):
            return result
        case .value(let result):
            var fields: [String: JSONValue] = ["messages": .array(result.messages.map(\.json))]
            if let d = result.description { fields["description"] = .string(d) }
            return completeResult(fields)
        }
    }

    /// Answers `completion/complete`.
    func completion(_ request: IncomingRequest) async throws -> JSONValue {
        let params = request.params
        guard case .object(let ref)? = params["ref"], case .string(let type)? = ref["type"] else {
            throw JSONRPCError.invalidParams("completion/complete needs a ref with a type")
        }
        guard case .object(let argument)? = params["argument"], case .string(let argName)? = argument["name"],
            case .string(let value)? = argument["value"]
        else { throw JSONRPCError.invalidParams("completion/complete needs an argument with a name and a value") }
        var contextArgs: [String: String] = [:]
        if let args = params["context"]?["arguments"]?.objectValue {
            for (k, v) in args { if case .string(let s) = v { contextArgs[k] = s } }
        }
        let reference: CompletionReference
        switch type {
        case "ref/prompt":
            guard case .string(let name)? = ref["name"] else { throw JSONRPCError.invalidParams("ref/prompt needs a name") }
            guard registry.hasPrompt(named: name) else { throw JSONRPCError.invalidParams("Unknown prompt: \(name)") }
            reference = .prompt(name)
        case "ref/resource":
            guard case .string(let uri)? = ref["uri"] else { throw JSONRPCError.invalidParams("ref/resource needs a uri") }
            guard registry.hasTemplateOrResource(uri) else {
                throw JSONRPCError.invalidParams("Unknown resource template: \(uri)")
            }
            reference = .resourceTemplate(uri)
        default:
            throw JSONRPCError.invalidParams("unknown ref type \(type)")
        }
        let handler = registry.completion(for: reference, argument: argName)
        let completion = try await handler?(value, contextArgs) ?? Completion(values: [])
        return completeResult(["completion": completion.json])
    }
}
