//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

/// Sessions: protocols 2025-03-26 … 2025-11-25, where `initialize` creates a session that every later request names.
/// The session lives only in the store, so any replica serves any of its requests.
extension MCPServer {
    /// The methods a session may call.
    static let sessionMethods: Set<String> = [
        "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read",
        "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get", "completion/complete",
        "logging/setLevel", "tasks/get", "tasks/result", "tasks/list", "tasks/cancel",
    ]

    // MARK: Lifecycle of a session

    /// Answers `initialize`: negotiates the version, stores a new session, and returns its id and the result.
    package func initializeSession(_ request: IncomingRequest) async -> (sessionID: String?, response: JSONValue) {
        do {
            return try await createSession(request)
        } catch {
            logger.error("session creation failed", metadata: ["mcp.error": "\(error)"])
            return (nil, JSONRPCMessage.errorResponse(id: request.id, error: .internalError("could not create a session")).json)
        }
    }

    /// ``initializeSession(_:)``, with the store's failure thrown rather than answered, so that a transport can
    /// answer `503` for it.
    func createSession(_ request: IncomingRequest) async throws -> (sessionID: String?, response: JSONValue) {
        let (version, clientCapabilities): (String, JSONValue)
        switch negotiate(request.params, versions: Sessions.versions) {
        case .success(let negotiated): (version, clientCapabilities) = negotiated
        case .failure(let error): return (nil, JSONRPCMessage.errorResponse(id: request.id, error: error).json)
        }
        let session = SessionState(
            protocolVersion: ProtocolVersion(version),
            clientInfo: request.params["clientInfo"] ?? [:],
            clientCapabilities: clientCapabilities,
            principal: request.principal.id,
            createdAt: WallClock.system.millis()
        )
        let id = try await sessions.create(session)
        logger.debug("session created", metadata: ["mcp.session": "\(id)", "mcp.version": "\(version)"])
        return (id, initializeResponse(request.id, version: version))
    }

    /// The version an `initialize` gets (the one it asks for if it is among `versions`, newest first, or else the
    /// newest) and the client's capabilities; an error for malformed params.
    func negotiate(_ params: [String: JSONValue], versions: [String]) -> Result<(version: String, capabilities: JSONValue), JSONRPCError> {
        guard case .string(let requested)? = params["protocolVersion"] else {
            return .failure(.invalidParams("initialize needs a protocolVersion"))
        }
        var clientCapabilities: JSONValue = [:]
        if let c = params["capabilities"] {
            guard case .object = c else { return .failure(.invalidParams("capabilities must be an object")) }
            clientCapabilities = c
        }
        return .success((versions.contains(requested) ? requested : versions[0], clientCapabilities))
    }

    /// The response to an `initialize` that negotiated `version`.
    func initializeResponse(_ id: JSONRPCRequestID, version: String) -> JSONValue {
        var capabilities = registry.capabilities().objectValue ?? [:]
        if ProtocolVersion(version) >= .v2025_11_25, registry.hasTaskTools {
            capabilities["tasks"] = ["list": [:], "cancel": [:], "requests": ["tools": ["call": [:]]]]
        }
        var result: [String: JSONValue] = [
            "protocolVersion": .string(version),
            "capabilities": .object(capabilities),
            "serverInfo": serverInfo,
        ]
        if let instructions = configuration.instructions { result["instructions"] = .string(instructions) }
        return ["jsonrpc": "2.0", "id": id.json, "result": .object(result)]
    }

    /// A session's state from the store; `nil` if it does not exist or has expired.
    package func loadSession(_ id: String) async throws -> SessionState? {
        try await sessions.load(id)
    }

    /// Checks a session id as a request presents it (authentic, present, owned by `principal`) and extends the
    /// session's lifetime. `nil` means `404`.
    package func resumeSession(_ id: String, principal: Principal) async throws -> SessionState? {
        try await sessions.resume(id, principal: principal)
    }

    /// Ends a session: removes its state, and tells every replica to end its streams and cancel its handlers.
    package func deleteSession(_ id: String) async throws {
        try await sessions.remove(id)
        try await relay.announceEnd(session: id)
    }

    /// Handles a client notification in a session.
    package func handleSessionNotification(sessionID: String, method: String, params: [String: JSONValue]) async {
        switch method {
        case "notifications/initialized":
            try? await sessions.update(sessionID) { $0.initialized = true }
        case "notifications/cancelled":
            guard let raw = params["requestId"], let id = JSONRPCRequestID(json: raw) else { return }
            await relay.broadcastCancel(session: sessionID, request: id)
        default:
            // roots/list_changed and unknown notifications: nothing to do.
            break
        }
    }

    /// Routes the client's answer to a server-to-client request to the replica whose handler waits for it.
    /// - Returns: `false` when the answer is refused: unknown or already answered.
    package func routeClientResponse(sessionID: String, id: JSONRPCRequestID, result: Result<JSONValue, JSONRPCError>) async throws -> Bool {
        try await relay.route(session: sessionID, id: id, result: result)
    }

    /// Delivers the client's answer to a handler waiting on this replica.
    /// - Returns: `false` if no request with this id (of this session) waits here.
    package func deliverClientResponse(sessionID: String, id: JSONRPCRequestID, result: Result<JSONValue, JSONRPCError>) -> Bool {
        relay.deliver(session: sessionID, id: id, result: result)
    }

    /// The notification a bus message means for one session's standalone stream, or `nil` if it is not for it.
    package func sessionNotification(for message: BusMessage, sessionID: String) async throws -> JSONValue? {
        try await SessionStreams.notification(for: message, session: sessionID, sessions: sessions)
    }

    // MARK: Requests

    /// Handles one request of a session.
    /// - Returns: the final response, or `nil` when the request was cancelled (no response may follow).
    package func handleSessionRequest(_ request: IncomingRequest, sessionID: String, session: SessionState, sink: any MessageSink) async -> JSONValue? {
        do {
            // The handler's task is awaited right here; the relay only lets notifications/cancelled and DELETE
            // (arriving on other requests, on any replica) cancel it.
            // Started at once on this thread: a handler that never suspends costs no thread hop, and one that has
            // already finished is not tracked at all.
            let finished = HandlerFinished()
            let task = Task.immediate {
                defer { finished.flag.store(true, ordering: .releasing) }
                return try await self.dispatchSession(request, sessionID: sessionID, session: session, sink: sink)
            }
            var key: String?
            if !finished.flag.load(ordering: .acquiring) {
                key = relay.track(session: sessionID, request: request.id) { task.cancel() }
            }
            defer { if let key { relay.forget(key) } }
            let result = try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
            return ["jsonrpc": "2.0", "id": request.id.json, "result": result]
        } catch let error as JSONRPCError {
            return JSONRPCMessage.errorResponse(id: request.id, error: error).json
        } catch is CancellationError {
            return drainedResponse(request)
        } catch {
            if Task.isCancelled { return drainedResponse(request) }
            logger.error("request failed", metadata: ["mcp.method": "\(request.method)", "mcp.error": "\(error)"])
            return JSONRPCMessage.errorResponse(id: request.id, error: .internalError()).json
        }
    }

    /// Handles a JSON-RPC batch of a 2025-03-26 session (the only revision with batches). Elements run in order; a
    /// batched request cannot send server-to-client requests (there is no stream to carry them), so a handler that
    /// asks gets a tool error, and its notifications are dropped.
    /// - Returns: the responses, in order; empty when the batch held only notifications and responses.
    package func handleSessionBatch(_ elements: [JSONValue], sessionID: String, session: SessionState, principal: Principal) async -> [JSONValue] {
        var responses: [JSONValue] = []
        for element in elements {
            let message: JSONRPCMessage
            do {
                message = try JSONRPCMessage(validating: element)
            } catch {
                responses.append(JSONRPCMessage.errorResponse(id: nil, error: error).json)
                continue
            }
            switch message {
            case .request(let id, "initialize", _):
                responses.append(JSONRPCMessage.errorResponse(id: id, error: .invalidRequest("initialize cannot be part of a batch")).json)
            case .request(let id, let method, let params):
                let request = IncomingRequest(id: id, method: method, params: params, principal: principal)
                if let response = await handleSessionRequest(request, sessionID: sessionID, session: session, sink: BatchSink()) {
                    responses.append(response)
                }
            case .notification(let method, let params):
                await handleSessionNotification(sessionID: sessionID, method: method, params: params)
            case .response(let id, let result):
                _ = try? await relay.route(session: sessionID, id: id, result: .success(result))
            case .errorResponse(let id, let error):
                if let id { _ = try? await relay.route(session: sessionID, id: id, result: .failure(error)) }
            }
        }
        return responses
    }

    /// A cancelled request gets no response, unless the server cancelled it at the drain deadline: then the stream
    /// (which the client resumes on another replica) ends with `-32010` (reason `drain_deadline`), so nothing waits
    /// forever.
    func drainedResponse(_ request: IncomingRequest) -> JSONValue? {
        guard isDraining else { return nil }
        return JSONRPCMessage.errorResponse(id: request.id, error: .replicaStopped(.drainDeadline, replica: configuration.replicaID)).json
    }

    func dispatchSession(_ request: IncomingRequest, sessionID: String, session: SessionState, sink: any MessageSink) async throws -> JSONValue {
        let params = request.params
        switch request.method {
        case "ping":
            return [:]
        case "logging/setLevel":
            guard case .string(let s)? = params["level"], let level = LogLevel(rawValue: s) else {
                throw JSONRPCError.invalidParams("level must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try await sessions.update(sessionID) { $0.logLevel = level }
            return [:]
        case "resources/subscribe", "resources/unsubscribe":
            guard case .string(let uri)? = params["uri"] else { throw JSONRPCError.invalidParams("\(request.method) needs a string uri") }
            let subscribe = request.method == "resources/subscribe"
            try await sessions.update(sessionID) { s in
                s.subscriptions.removeAll { $0 == uri }
                if subscribe { s.subscriptions.append(uri) }
            }
            return [:]
        case let method where Self.sessionMethods.contains(method):
            let meta = RequestMeta(
                protocolVersion: session.protocolVersion,
                clientInfo: session.clientInfo,
                clientCapabilities: session.clientCapabilities,
                logLevel: session.logLevel,
                progressToken: params["_meta"]?["progressToken"]
            )
            let context = SessionContext(sessionID: sessionID, protocolVersion: session.protocolVersion, clientCapabilities: session.clientCapabilities)
            return Self.sessionShape(try await dispatch(request, meta: meta, sink: sink, session: context))
        default:
            throw JSONRPCError.methodNotFound(request.method)
        }
    }

    /// Removes the 2026-07-28 fields from a result: session results have no `resultType` or caching hints.
    /// It takes the result by value, so the members are removed in place, without copying the object.
    static func sessionShape(_ result: consuming JSONValue) -> JSONValue {
        var o: [String: JSONValue]
        switch consume result {
        case .object(let members): o = members
        case let other: return other
        }
        o["resultType"] = nil
        o["ttlMs"] = nil
        o["cacheScope"] = nil
        if let rawMeta = o.removeValue(forKey: "_meta") {
            switch consume rawMeta {
            case .object(var meta):
                meta[MetaKey.serverInfo] = nil
                if !meta.isEmpty { o["_meta"] = .object(meta) }
            case let other:
                o["_meta"] = other
            }
        }
        return .object(o)
    }
}

/// The sink of a batched request: notifications are dropped, server-to-client requests refused.
struct BatchSink: MessageSink {
    func send(_ message: JSONValue) async throws {
        if message["id"] != nil, message["method"] != nil {
            throw ToolFailure(description: "a request inside a JSON-RPC batch cannot ask the client for input; send it on its own")
        }
    }
}
