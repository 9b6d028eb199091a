//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// One request as the runtime sees it, whatever the transport.
public struct IncomingRequest: Sendable {
    /// The JSON-RPC id.
    public var id: JSONRPCRequestID
    /// The method.
    public var method: String
    /// The `params` object (empty when absent).
    public var params: [String: JSONValue]
    /// The authenticated caller.
    public var principal: Principal

    /// Creates a request.
    public init(id: JSONRPCRequestID, method: String, params: [String: JSONValue], principal: Principal = .anonymous) {
        self.id = id
        self.method = method
        self.params = params
        self.principal = principal
    }
}

extension MCPServer {
    /// The methods of protocol 2026-07-28 this runtime serves.
    public static let modernMethods: Set<String> = [
        "server/discover", "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read",
        "prompts/list", "prompts/get", "completion/complete", "subscriptions/listen",
    ]

    /// The protocol versions this server accepts, newest first.
    public var supportedVersions: [String] { ProtocolVersion.modern.map(\.rawValue) }

    /// Handles one 2026-07-28 request.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - sink: the request's response stream, for progress and log notifications (and the listen stream).
    /// - Returns: the final JSON-RPC response, or `nil` if the request was cancelled and must get no response.
    public func handle(_ request: IncomingRequest, sink: any MessageSink) async -> JSONValue? {
        do {
            let meta = try parseModernMeta(request.params)
            let result = try await dispatchModern(request, meta: meta, sink: sink)
            return ["jsonrpc": "2.0", "id": request.id.json, "result": result]
        } catch let error as JSONRPCError {
            return JSONRPCMessage.errorResponse(id: request.id, error: error).json
        } catch is CancellationError {
            return nil
        } catch {
            if Task.isCancelled { return nil }
            logger.error("request failed", metadata: ["mcp.method": "\(request.method)", "mcp.error": "\(error)"])
            return JSONRPCMessage.errorResponse(id: request.id, error: .internalError()).json
        }
    }

    /// Reads and checks the reserved `_meta` fields of a modern request.
    func parseModernMeta(_ params: [String: JSONValue]) throws(JSONRPCError) -> RequestMeta {
        guard let rawMeta = params["_meta"] else {
            throw .invalidParams("params._meta is required and must carry \(MetaKey.protocolVersion)")
        }
        guard case .object(let meta) = rawMeta else { throw .invalidParams("params._meta must be an object") }
        // One pass over the members rather than a hashed look-up of each long reserved key.
        var rawVersion: JSONValue?, rawCapabilities: JSONValue?, rawLevel: JSONValue?, rawToken: JSONValue?
        var clientInfo: JSONValue?
        for (key, value) in meta {
            switch key {
            case MetaKey.protocolVersion: rawVersion = value
            case MetaKey.clientCapabilities: rawCapabilities = value
            case MetaKey.clientInfo: clientInfo = value
            case MetaKey.logLevel: rawLevel = value
            case MetaKey.progressToken: rawToken = value
            default: break
            }
        }
        guard case .string(let version)? = rawVersion else {
            throw .invalidParams("params._meta.\(MetaKey.protocolVersion) is required")
        }
        guard supportedVersions.contains(version) else {
            throw .unsupportedProtocolVersion(requested: version, supported: supportedVersions)
        }
        var capabilities: JSONValue = [:]
        if let c = rawCapabilities {
            guard case .object = c else { throw .invalidParams("\(MetaKey.clientCapabilities) must be an object") }
            capabilities = c
        }
        var level: LogLevel?
        if let l = rawLevel {
            guard case .string(let s) = l, let parsed = LogLevel(rawValue: s) else {
                throw .invalidParams("\(MetaKey.logLevel) must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            level = parsed
        }
        var token: JSONValue?
        if let t = rawToken {
            switch t {
            case .string, .int: token = t
            default: throw .invalidParams("progressToken must be a string or an integer")
            }
        }
        return RequestMeta(
            protocolVersion: ProtocolVersion(version),
            clientInfo: clientInfo,
            clientCapabilities: capabilities,
            logLevel: level,
            progressToken: token,
            raw: meta
        )
    }

    func dispatchModern(
        _ request: IncomingRequest,
        meta: RequestMeta,
        sink: any MessageSink,
        legacy: LegacyRequest? = nil
    ) async throws -> JSONValue {
        let params = request.params
        switch request.method {
        case "server/discover":
            var fields: [String: JSONValue] = [
                "supportedVersions": .array(supportedVersions.map { .string($0) }),
                "capabilities": capabilities(),
            ]
            if let instructions = configuration.instructions { fields["instructions"] = .string(instructions) }
            return complete(fields, cache: listCache)
        case "tools/list":
            let tools = registry.withLock { $0.tools.map(\.tool.json) }
            let (items, next) = try page(tools, cursor: params["cursor"])
            return complete(paged("tools", items, next), cache: listCache)
        case "resources/list":
            let resources = registry.withLock { $0.resources.map(\.resource.json) }
            let (items, next) = try page(resources, cursor: params["cursor"])
            return complete(paged("resources", items, next), cache: listCache)
        case "resources/templates/list":
            let templates = registry.withLock { $0.templates.map(\.template.json) }
            let (items, next) = try page(templates, cursor: params["cursor"])
            return complete(paged("resourceTemplates", items, next), cache: listCache)
        case "prompts/list":
            let prompts = registry.withLock { $0.prompts.map(\.prompt.json) }
            let (items, next) = try page(prompts, cursor: params["cursor"])
            return complete(paged("prompts", items, next), cache: listCache)
        case "tools/call":
            return try await callTool(request, meta: meta, sink: sink, legacy: legacy)
        case "resources/read":
            return try await readResource(request, meta: meta, sink: sink, legacy: legacy)
        case "prompts/get":
            return try await getPrompt(request, meta: meta, sink: sink, legacy: legacy)
        case "completion/complete":
            return try await complete(request)
        case "subscriptions/listen":
            return try await listen(request, meta: meta, sink: sink)
        default:
            throw JSONRPCError.methodNotFound(request.method)
        }
    }

    // MARK: Results

    var listCache: CacheHint { CacheHint(ttl: configuration.listCacheTTL, scope: configuration.listCacheScope) }

    /// A `complete` result with `serverInfo` and, where given, caching hints.
    func complete(_ fields: consuming [String: JSONValue], cache: CacheHint? = nil) -> JSONValue {
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
            o["ttlMs"] = .int(cache.ttl.milliseconds)
            o["cacheScope"] = cache.scope.json
        }
        return .object(o)
    }

    func paged(_ key: String, _ items: [JSONValue], _ next: String?) -> [String: JSONValue] {
        var o: [String: JSONValue] = [key: .array(items)]
        if let next { o["nextCursor"] = .string(next) }
        return o
    }

    /// The capabilities this server declares, from what is registered.
    func capabilities() -> JSONValue {
        let (tools, resources, templates, prompts, completions) = registry.withLock {
            (!$0.tools.isEmpty, !$0.resources.isEmpty, !$0.templates.isEmpty, !$0.prompts.isEmpty, !$0.completions.isEmpty)
        }
        var c: [String: JSONValue] = ["logging": [:]]
        if tools { c["tools"] = ["listChanged": true] }
        if resources || templates { c["resources"] = ["subscribe": true, "listChanged": true] }
        if prompts { c["prompts"] = ["listChanged": true] }
        if completions || prompts || templates { c["completions"] = [:] }
        return .object(c)
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
        legacy: LegacyRequest?,
        _ body: (HandlerContext) async throws -> T
    ) async throws -> RoundOutcome<T> {
        let inputs: MRTRInputs
        let channel: any InputChannel
        if let legacy {
            // Legacy sessions ask the client with real server-to-client requests; there are no rounds.
            inputs = MRTRInputs(answers: [:])
            channel = LegacyInputs(server: self, session: legacy)
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
            inputs: channel,
            server: self,
            legacy: legacy
        )
        stats.withLock { $0.activeHandlers += 1 }
        defer {
            let cancelled = Task.isCancelled
            stats.withLock {
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
        let state = try await sealer.seal(["answers": .object(inputs.answers)], binding: binding, principal: principal)
        return [
            "resultType": "input_required",
            "inputRequests": .object([pending.key: pending.request]),
            "requestState": .string(state),
            "_meta": serverInfoMeta,
        ]
    }

    func callTool(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink, legacy: LegacyRequest?) async throws -> JSONValue {
        guard case .string(let name)? = request.params["name"] else {
            throw JSONRPCError.invalidParams("tools/call needs a string \"name\"")
        }
        var arguments: [String: JSONValue] = [:]
        if let a = request.params["arguments"], !a.isNull {
            guard case .object(let o) = a else { throw JSONRPCError.invalidParams("arguments must be an object") }
            arguments = o
        }
        guard let entry = registry.withLock({ r in r.toolIndex[name].map { r.tools[$0] } }) else {
            throw JSONRPCError.invalidParams("Unknown tool: \(name)")
        }
        if let violation = entry.input.firstViolation(of: .object(arguments)) {
            return complete(CallToolResult.error("Invalid arguments for tool \(name): \(violation)").fields)
        }
        let outcome = try await runRound(
            request, meta: meta, sink: sink,
            binding: RequestStateSealer.binding(method: request.method, target: name, arguments: .object(arguments)),
            legacy: legacy
        ) { context -> CallToolResult in
            do {
                return try await entry.handler(arguments, context)
            } catch let error as JSONRPCError {
                throw error
            } catch is InputRequiredSignal {
                throw InputRequiredSignal(key: "", request: .null)
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
            return complete(result.fields)
        }
    }

    func readResource(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink, legacy: LegacyRequest?) async throws -> JSONValue {
        guard case .string(let uri)? = request.params["uri"] else {
            throw JSONRPCError.invalidParams("resources/read needs a string \"uri\"")
        }
        let found = registry.withLock { r -> (ResourceHandler, [String: String], CacheHint)? in
            if let i = r.resourceIndex[uri] { return (r.resources[i].handler, [:], r.resources[i].cache) }
            for t in r.templates {
                if let vars = t.matcher.match(uri) { return (t.handler, vars, t.cache) }
            }
            return nil
        }
        guard let (handler, variables, cache) = found else {
            throw JSONRPCError.invalidParams("Resource not found", data: ["uri": .string(uri)])
        }
        let outcome = try await runRound(
            request, meta: meta, sink: sink,
            binding: RequestStateSealer.binding(method: request.method, target: uri, arguments: nil),
            legacy: legacy
        ) { context in
            try await handler(uri, variables, context)
        }
        switch outcome {
        case .inputRequired(let result):
            return result
        case .value(let contents):
            return complete(["contents": .array(contents.map(\.json))], cache: cache)
        }
    }

    func getPrompt(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink, legacy: LegacyRequest?) async throws -> JSONValue {
        guard case .string(let name)? = request.params["name"] else {
            throw JSONRPCError.invalidParams("prompts/get needs a string \"name\"")
        }
        guard let entry = registry.withLock({ r in r.promptIndex[name].map { r.prompts[$0] } }) else {
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
            legacy: legacy
        ) { context in
            try await entry.handler(arguments, context)
        }
        switch outcome {
        case .inputRequired(let result):
            return result
        case .value(let result):
            var fields: [String: JSONValue] = ["messages": .array(result.messages.map(\.json))]
            if let d = result.description { fields["description"] = .string(d) }
            return complete(fields)
        }
    }

    func complete(_ request: IncomingRequest) async throws -> JSONValue {
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
            guard registry.withLock({ $0.promptIndex[name] != nil }) else { throw JSONRPCError.invalidParams("Unknown prompt: \(name)") }
            reference = .prompt(name)
        case "ref/resource":
            guard case .string(let uri)? = ref["uri"] else { throw JSONRPCError.invalidParams("ref/resource needs a uri") }
            guard registry.withLock({ r in r.templates.contains { $0.template.uriTemplate == uri } || r.resourceIndex[uri] != nil }) else {
                throw JSONRPCError.invalidParams("Unknown resource template: \(uri)")
            }
            reference = .resourceTemplate(uri)
        default:
            throw JSONRPCError.invalidParams("unknown ref type \(type)")
        }
        let handler = registry.withLock { $0.completions[reference]?[argName] }
        let completion = try await handler?(value, contextArgs) ?? Completion(values: [])
        return complete(["completion": completion.json])
    }
}
