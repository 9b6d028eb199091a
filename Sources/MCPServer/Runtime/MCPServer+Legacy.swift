//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

extension MCPServer {
    /// The session-based protocol versions served, newest first.
    public static let legacyVersions: [String] = ["2025-11-25", "2025-06-18", "2025-03-26"]

    /// The methods a legacy session may call.
    public static let legacyMethods: Set<String> = [
        "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read",
        "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get", "completion/complete",
        "logging/setLevel",
    ]

    /// Answers `initialize`: negotiates the version, stores a new session, and returns its id and the result.
    public func initializeSession(_ request: IncomingRequest) async -> (sessionID: String?, response: JSONValue) {
        let params = request.params
        guard case .string(let requested)? = params["protocolVersion"] else {
            return (nil, JSONRPCMessage.errorResponse(id: request.id, error: .invalidParams("initialize needs a protocolVersion")).json)
        }
        var clientCapabilities: JSONValue = [:]
        if let c = params["capabilities"] {
            guard case .object = c else {
                return (nil, JSONRPCMessage.errorResponse(id: request.id, error: .invalidParams("capabilities must be an object")).json)
            }
            clientCapabilities = c
        }
        let version = Self.legacyVersions.contains(requested) ? requested : Self.legacyVersions[0]
        let session = LegacySession(
            protocolVersion: ProtocolVersion(version),
            clientInfo: params["clientInfo"] ?? [:],
            clientCapabilities: clientCapabilities,
            principal: request.principal.id,
            createdAt: WallClock.system.millis()
        )
        do {
            let id = try await sessionIDs.mint()
            guard try await backends.sessionStore.create(StoreKey.session(id), value: session.json, ttl: configuration.sessionTTL) != nil else {
                throw JSONRPCError.internalError("session id collision")
            }
            let caps = capabilities()
            var result: [String: JSONValue] = [
                "protocolVersion": .string(version),
                "capabilities": caps,
                "serverInfo": serverInfo,
            ]
            if let instructions = configuration.instructions { result["instructions"] = .string(instructions) }
            logger.debug("session created", metadata: ["mcp.session": "\(id)", "mcp.version": "\(version)"])
            return (id, ["jsonrpc": "2.0", "id": request.id.json, "result": .object(result)])
        } catch {
            logger.error("session creation failed", metadata: ["mcp.error": "\(error)"])
            return (nil, JSONRPCMessage.errorResponse(id: request.id, error: .internalError("could not create a session")).json)
        }
    }

    /// Loads a session's state from the store; `nil` if it does not exist or has expired.
    public func loadSession(_ id: String) async throws -> LegacySession? {
        guard let stored = try await backends.sessionStore.get(StoreKey.session(id)) else { return nil }
        return LegacySession(json: stored.value)
    }

    /// Checks a session id as a request presents it: authentic (MAC) first, then present in the store, then owned by
    /// `principal`. Extends the session's lifetime. `nil` means `404`.
    public func resumeSession(_ id: String, principal: Principal) async throws -> LegacySession? {
        guard await sessionIDs.isAuthentic(id) else { return nil }
        guard let stored = try await backends.sessionStore.getAndTouch(StoreKey.session(id), ttl: configuration.sessionTTL),
            let session = LegacySession(json: stored.value), session.principal == principal.id
        else { return nil }
        return session
    }

    /// Applies `change` to a stored session with compare-and-set, retrying on concurrent updates.
    func updateSession(_ id: String, _ change: (inout LegacySession) -> Void) async throws {
        let store = backends.sessionStore
        for _ in 0..<32 {
            guard let stored = try await store.get(StoreKey.session(id)), var session = LegacySession(json: stored.value) else {
                throw JSONRPCError.invalidRequest("session not found")
            }
            change(&session)
            if try await store.compareAndSet(
                StoreKey.session(id),
                value: session.json,
                expectedVersion: stored.version,
                ttl: configuration.sessionTTL
            ) != nil {
                return
            }
        }
        throw JSONRPCError.internalError("session update conflicted too often")
    }

    /// Handles a client notification in a legacy session.
    public func handleLegacyNotification(sessionID: String, method: String, params: [String: JSONValue]) async {
        switch method {
        case "notifications/initialized":
            try? await updateSession(sessionID) { $0.initialized = true }
        case "notifications/cancelled":
            guard let raw = params["requestId"], let id = JSONRPCRequestID(json: raw) else { return }
            await broadcastCancel(sessionID: sessionID, requestID: id)
        default:
            // roots/list_changed and unknown notifications: nothing to do.
            break
        }
    }

    /// Ends a session: removes its state, and tells every replica to end its streams and cancel its handlers.
    public func deleteSession(_ id: String) async throws {
        try await backends.sessionStore.delete(StoreKey.session(id))
        try await backends.sessionStore.delete(StoreKey.getStreamLock(id))
        try await backends.messageBus.publish(Array("deleted".utf8), to: StoreKey.sessionChannel(id))
        await broadcastCancel(sessionID: id, requestID: nil)
    }

    func endLocalSession(_ id: String) {
        let cancels = runningLegacyHandlers.withLock { map in map.filter { $0.key.hasPrefix("\(id)|") }.map(\.value) }
        for cancel in cancels { cancel() }
    }

    /// Handles one request of a legacy session.
    /// - Returns: the final response, or `nil` when the request was cancelled (no response may follow).
    public func handleLegacy(_ request: IncomingRequest, sessionID: String, session: LegacySession, sink: any MessageSink) async -> JSONValue? {
        do {
            // The handler's task is awaited right here; the registry only lets notifications/cancelled and DELETE
            // (arriving on other requests) cancel it.
            // Started at once on this thread: a handler that never suspends costs no thread hop, and one that has
            // already finished is not registered at all.
            let finished = HandlerFinished()
            let task = Task.immediate {
                defer { finished.flag.store(true, ordering: .releasing) }
                return try await self.dispatchLegacy(request, sessionID: sessionID, session: session, sink: sink)
            }
            var key: String?
            if !finished.flag.load(ordering: .acquiring) {
                let k = "\(sessionID)|\(request.id.json)"
                runningLegacyHandlers.withLock { $0[k] = { task.cancel() } }
                key = k
            }
            defer { if let key { _ = runningLegacyHandlers.withLock { $0.removeValue(forKey: key) } } }
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
    public func handleLegacyBatch(_ elements: [JSONValue], sessionID: String, session: LegacySession, principal: Principal) async -> [JSONValue] {
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
                if let response = await handleLegacy(request, sessionID: sessionID, session: session, sink: BatchSink()) {
                    responses.append(response)
                }
            case .notification(let method, let params):
                await handleLegacyNotification(sessionID: sessionID, method: method, params: params)
            case .response(let id, let result):
                _ = try? await routeClientResponse(sessionID: sessionID, id: id, result: .success(result))
            case .errorResponse(let id, let error):
                if let id { _ = try? await routeClientResponse(sessionID: sessionID, id: id, result: .failure(error)) }
            }
        }
        return responses
    }

    /// A cancelled request gets no response, unless the server cancelled it while draining: then the stream (which
    /// the client resumes on another replica) ends with an error that says so, so nothing waits forever.
    func drainedResponse(_ request: IncomingRequest) -> JSONValue? {
        guard isDraining else { return nil }
        return JSONRPCMessage.errorResponse(
            id: request.id,
            error: .internalError("the request was cancelled because the server shut down before it finished; retry it")
        ).json
    }

    func dispatchLegacy(_ request: IncomingRequest, sessionID: String, session: LegacySession, sink: any MessageSink) async throws -> JSONValue {
        let params = request.params
        switch request.method {
        case "ping":
            return [:]
        case "logging/setLevel":
            guard case .string(let s)? = params["level"], let level = LogLevel(rawValue: s) else {
                throw JSONRPCError.invalidParams("level must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try await updateSession(sessionID) { $0.logLevel = level }
            return [:]
        case "resources/subscribe", "resources/unsubscribe":
            guard case .string(let uri)? = params["uri"] else { throw JSONRPCError.invalidParams("\(request.method) needs a string uri") }
            let subscribe = request.method == "resources/subscribe"
            try await updateSession(sessionID) { s in
                s.subscriptions.removeAll { $0 == uri }
                if subscribe { s.subscriptions.append(uri) }
            }
            return [:]
        case let method where Self.legacyMethods.contains(method):
            let meta = RequestMeta(
                protocolVersion: session.protocolVersion,
                clientInfo: session.clientInfo,
                clientCapabilities: session.clientCapabilities,
                logLevel: session.logLevel,
                progressToken: params["_meta"]?["progressToken"],
                raw: params["_meta"]?.objectValue ?? [:]
            )
            let legacy = LegacyRequest(sessionID: sessionID, protocolVersion: session.protocolVersion, clientCapabilities: session.clientCapabilities)
            return Self.legacyShape(try await dispatchModern(request, meta: meta, sink: sink, legacy: legacy))
        default:
            throw JSONRPCError.methodNotFound(request.method)
        }
    }

    /// The bus channels that feed a session's standalone GET stream.
    public static let sessionNotificationChannels: [String] = [
        toolsListChangedChannel, promptsListChangedChannel, resourcesListChangedChannel, resourceUpdatedChannel,
    ]

    /// The notification a bus message means for one session's GET stream, or `nil` if it is not for this session
    /// (for example an update of a resource the session did not subscribe to).
    public func sessionNotification(for message: BusMessage, sessionID: String) async throws -> JSONValue? {
        var uris: Set<String> = []
        if message.channel == Self.resourceUpdatedChannel {
            // Subscriptions change on any replica: read them from the store when an update arrives.
            guard let session = try await loadSession(sessionID) else { return nil }
            uris = Set(session.subscriptions)
        }
        return Self.notification(for: message, uris: uris, subscriptionID: nil)
    }

    /// Removes the 2026-07-28 fields from a result: legacy results have no `resultType` or caching hints.
    /// It takes the result by value, so the members are removed in place, without copying the object.
    static func legacyShape(_ result: consuming JSONValue) -> JSONValue {
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

/// Set by a legacy handler's task when it ends.
final class HandlerFinished: Sendable {
    let flag = Atomic(false)
}
