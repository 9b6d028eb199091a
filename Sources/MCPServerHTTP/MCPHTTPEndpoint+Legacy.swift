//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import HTTPTypes
import Hummingbird
import MCPServer
import NIOCore

/// The session-based Streamable HTTP transport (protocols 2025-03-26 … 2025-11-25) on the same endpoint.
extension MCPHTTPEndpoint {
    /// Whether a POST belongs to the legacy transport rather than to 2026-07-28. `protocolVersion` is the request's
    /// `MCP-Protocol-Version` header, already read.
    func isLegacy(_ message: JSONRPCMessage, protocolVersion: String?, headers: HTTPFields) -> Bool {
        if case .request(_, "initialize", _) = message, protocolVersion.map({ !server.supportedVersions.contains($0) }) ?? true {
            return true
        }
        // A version header decides: a legacy version is legacy; a modern or unknown one is answered the modern way
        // (an unknown version gets UnsupportedProtocolVersionError, which dual-era clients understand).
        if let version = protocolVersion { return MCPServer.legacyVersions.contains(version) }
        // No header: 2025-03-26 clients sent none.
        if headers.fieldValue(.mcpSessionID) != nil { return true }
        switch message {
        case .request(_, _, let params), .notification(_, let params):
            // A request carrying modern `_meta` but no version header is a modern request missing its header.
            return params["_meta"]?[MetaKey.protocolVersion] == nil
        case .response, .errorResponse:
            return true
        }
    }

    func handleLegacyPost(_ message: JSONRPCMessage, headers: HTTPFields, principal: Principal, request: Request) async throws -> Response {
        if case .request(let id, "initialize", let params) = message {
            let (sessionID, response) = await server.initializeSession(IncomingRequest(id: id, method: "initialize", params: params, principal: principal))
            var extra = HTTPFields()
            if let sessionID { extra[.mcpSessionID] = sessionID }
            return jsonResponse(response, legacy: true, extraHeaders: extra)
        }
        guard let sessionID = headers.fieldValue(.mcpSessionID) else {
            return errorResponse(status: .badRequest, error: .invalidRequest("the Mcp-Session-Id header is required; send initialize first"))
        }
        guard let session = try await server.resumeSession(sessionID, principal: principal) else {
            return sessionNotFound()
        }
        switch message {
        case .notification(let method, let params):
            await server.handleLegacyNotification(sessionID: sessionID, method: method, params: params)
            return Response(status: .accepted)
        case .response(let id, let result):
            guard try await server.routeClientResponse(sessionID: sessionID, id: id, result: .success(result)) else {
                return errorResponse(status: .badRequest, error: .invalidRequest("no request with id \(id) is waiting: unknown or already answered"))
            }
            return Response(status: .accepted)
        case .errorResponse(let id, let error):
            guard let id, try await server.routeClientResponse(sessionID: sessionID, id: id, result: .failure(error)) else {
                return errorResponse(status: .badRequest, error: .invalidRequest("no request with this id is waiting: unknown or already answered"))
            }
            return Response(status: .accepted)
        case .request(let id, let method, let params):
            let call = IncomingRequest(id: id, method: method, params: params, principal: principal)
            switch method {
            case "tools/call", "resources/read", "prompts/get":
                return try await legacyStreamingResponse(call, sessionID: sessionID, session: session, request: request)
            default:
                guard let response = await server.handleLegacy(call, sessionID: sessionID, session: session, sink: DiscardingSink()) else {
                    throw CancellationError()
                }
                return jsonResponse(response, legacy: true)
            }
        }
    }

    /// JSON-RPC batches exist only in 2025-03-26; every other revision gets `400`.
    func handleBatch(_ elements: [JSONValue], headers: HTTPFields, principal: Principal) async throws -> Response {
        let refusal = JSONRPCError.invalidRequest("batches are not supported")
        if let version = headers.fieldValue(.mcpProtocolVersion), version != ProtocolVersion.v2025_03_26.rawValue {
            return errorResponse(status: .badRequest, error: refusal)
        }
        guard let sessionID = headers.fieldValue(.mcpSessionID) else { return errorResponse(status: .badRequest, error: refusal) }
        guard let session = try await server.resumeSession(sessionID, principal: principal) else {
            return sessionNotFound()
        }
        guard session.protocolVersion == .v2025_03_26 else {
            return errorResponse(status: .badRequest, error: .invalidRequest("batches are not supported in protocol \(session.protocolVersion)"))
        }
        guard !elements.isEmpty else { return errorResponse(status: .badRequest, error: .invalidRequest("an empty batch")) }
        let responses = await server.handleLegacyBatch(elements, sessionID: sessionID, session: session, principal: principal)
        if responses.isEmpty { return Response(status: .accepted) }
        return jsonResponse(.array(responses), legacy: true)
    }

    /// Runs a legacy handler as work the server owns (a disconnect is not a cancellation), and answers with JSON or
    /// with an SSE stream read from the event log. The handler starts at once on this thread: one that finishes
    /// without suspending is answered with no timer and no task switch.
    func legacyStreamingResponse(_ call: IncomingRequest, sessionID: String, session: LegacySession, request: Request) async throws -> Response {
        let server = self.server
        let channel = LegacyResponseChannel(server: server, sessionID: sessionID)
        let job: @Sendable () async -> Void = {
            let response = await server.handleLegacy(call, sessionID: sessionID, session: session, sink: channel)
            await channel.finish(response)
        }
        let threshold = configuration.streamingThreshold
        if !server.start(job) {
            // Not running (or draining): run it as part of this request.
            await job()
        }
        let signal: LegacyResponseChannel.Signal?
        if let decision = channel.decision {
            signal = decision
        } else {
            signal = await withTaskGroup(of: LegacyResponseChannel.Signal?.self) { group in
                group.addTask {
                    for await s in channel.signals { return s }
                    return nil
                }
                group.addTask {
                    try? await Task.sleep(for: threshold)
                    if !Task.isCancelled { await channel.startStreaming() }
                    return nil
                }
                var result: LegacyResponseChannel.Signal?
                for await s in group {
                    if let s {
                        result = s
                        break
                    }
                }
                group.cancelAll()
                return result
            }
        }
        switch signal {
        case nil:
            throw CancellationError()
        case .final(let response?):
            return jsonResponse(response, legacy: true)
        case .final(nil):
            // Cancelled by the client: no response follows; end with an empty stream.
            return sseResponse(ResponseBody { writer in try await writer.finish(nil) })
        case .streaming(let key):
            return logStreamResponse(sessionID: sessionID, streamKey: key, after: 0, priming: true, request: request)
        }
    }

    // MARK: GET and DELETE

    func handleGet(_ request: Request) async throws -> Response {
        let headers = request.headers
        guard let sessionID = headers.fieldValue(.mcpSessionID) else { return methodNotAllowed(request) }
        guard configuration.allows(origin: headers.fieldValue(.origin)) else {
            return forbiddenOrigin()
        }
        guard Self.accepts(headers.fieldValue(.accept), "text/event-stream") else {
            return errorResponse(status: .notAcceptable, error: .invalidRequest("Accept must list text/event-stream"))
        }
        if let version = headers.fieldValue(.mcpProtocolVersion), !MCPServer.legacyVersions.contains(version) {
            return errorResponse(status: .badRequest, error: .invalidRequest("unsupported MCP-Protocol-Version '\(version)'"))
        }
        if let refusal = try await refuseSessionCaller(sessionID, headers: headers) { return refusal }
        if let lastEventID = headers.fieldValue(.lastEventID) {
            guard let (stream, position) = StreamKey.parse(eventID: lastEventID) else {
                return errorResponse(status: .badRequest, error: .invalidRequest("malformed Last-Event-ID"))
            }
            if stream.hasPrefix("r") {
                let exists = try await server.backends.eventLog.exists(stream: StreamKey.logStream(session: sessionID, stream: stream))
                guard exists else {
                    return errorResponse(status: .notFound, error: .invalidRequest("no such stream in this session"))
                }
                return logStreamResponse(sessionID: sessionID, streamKey: stream, after: position, priming: false, request: request)
            }
            return try await standaloneStream(sessionID: sessionID, streamKey: stream, after: position, isResume: true, request: request)
        }
        return try await standaloneStream(sessionID: sessionID, streamKey: StreamKey.newGetStream(), after: 0, isResume: false, request: request)
    }

    func handleDelete(_ request: Request) async throws -> Response {
        let headers = request.headers
        guard let sessionID = headers.fieldValue(.mcpSessionID) else { return methodNotAllowed(request) }
        guard configuration.allows(origin: headers.fieldValue(.origin)) else {
            return forbiddenOrigin()
        }
        if let refusal = try await refuseSessionCaller(sessionID, headers: headers) { return refusal }
        try await server.deleteSession(sessionID)
        return Response(status: .ok)
    }

    /// The `401` for a caller who cannot be authenticated, or the `404` for a session that is gone or not theirs;
    /// `nil` when the caller may use `sessionID`.
    func refuseSessionCaller(_ sessionID: String, headers: HTTPFields) async throws -> Response? {
        switch await authenticate(headers) {
        case .success(let principal):
            return try await server.resumeSession(sessionID, principal: principal) == nil ? sessionNotFound() : nil
        case .failure(let refusal):
            return refusal.response
        }
    }

    static func accepts(_ accept: String?, _ type: StaticString) -> Bool {
        guard let accept else { return false }
        var list = MediaTypeList(accept)
        return list.accepts(type)
    }

    func sessionNotFound() -> Response {
        errorResponse(status: .notFound, error: JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Session not found"))
    }

    // MARK: SSE from the event log

    enum LogStreamItem: Sendable {
        case raw(ByteBuffer)
        case event(LoggedEvent)
        case keepAlive
        case end
    }

    func sseResponse(_ body: ResponseBody) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.xAccelBuffering] = "no"
        // Watching for the client to go away consumes the connection: say so, so clients do not reuse it.
        if configuration.cancelOnInboundClose { headers[.connection] = "close" }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// An SSE response that replays and then follows one request stream of the event log until it closes.
    func logStreamResponse(sessionID: String, streamKey: String, after: UInt64, priming: Bool, request: Request) -> Response {
        let server = self.server
        let log = server.backends.eventLog
        let logStream = StreamKey.logStream(session: sessionID, stream: streamKey)
        return sseResponse(
            ResponseBody { writer in
                if priming { try await writer.write(LegacySSE.priming(id: StreamKey.eventID(stream: streamKey, position: 0), retry: self.configuration.sseRetry)) }
                try await self.pump(into: &writer, sessionID: sessionID, streamKey: streamKey, request: request) { items in
                    try await log.tail(stream: logStream, after: after) { events in
                        // Empty events only create a stream in the log; they are never sent.
                        for try await event in events where !event.data.isEmpty { items.yield(.event(event)) }
                    }
                    items.yield(.end)
                } frame: { event in
                    LegacySSE.frame(id: StreamKey.eventID(stream: streamKey, position: event.position), data: event.data)
                }
                try await writer.finish(nil)
            }
        )
    }

    /// The standalone GET stream of a session: session notifications from the bus, logged for resumption.
    func standaloneStream(sessionID: String, streamKey: String, after: UInt64, isResume: Bool, request: Request) async throws -> Response {
        let server = self.server
        let store = server.backends.sessionStore
        let lock = StoreKey.getStreamLock(sessionID)
        // The lock names the stream and this connection: `<streamKey> <token>`.
        let owner = JSONValue.string("\(streamKey) \(StreamKey.newGetStream())")
        if try await store.create(lock, value: owner, ttl: .seconds(60)) == nil {
            // At most one GET stream per session; but a client resuming the same stream takes it over from a
            // connection that has not noticed it is gone yet.
            guard isResume, let holder = try await store.get(lock), holder.value.stringValue?.hasPrefix("\(streamKey) ") == true,
                try await store.compareAndSet(lock, value: owner, expectedVersion: holder.version, ttl: .seconds(60)) != nil
            else {
                return errorResponse(status: .conflict, error: .invalidRequest("this session already has an open GET stream"))
            }
            try await server.backends.messageBus.publish(Array("takeover:\(streamKey)".utf8), to: StoreKey.sessionChannel(sessionID))
        }
        let log = server.backends.eventLog
        let logStream = StreamKey.logStream(session: sessionID, stream: streamKey)
        let ttl = server.configuration.sessionTTL
        return sseResponse(
            ResponseBody { writer in
                do {
                    let priming = LegacySSE.priming(id: StreamKey.eventID(stream: streamKey, position: after), retry: self.configuration.sseRetry)
                    try await self.pump(into: &writer, sessionID: sessionID, streamKey: streamKey, request: request, touchLock: lock) { items in
                        try await server.backends.messageBus.subscribe(to: MCPServer.sessionNotificationChannels) { messages in
                            // Primed only once subscribed: nothing raised after the priming event can be missed.
                            items.yield(.raw(priming))
                            // Subscribed first, then replayed, so nothing falls between the two.
                            var position = after
                            while true {
                                let missed = try await log.read(stream: logStream, after: position, limit: 256)
                                if missed.isEmpty { break }
                                for event in missed { items.yield(.event(event)) }
                                position = missed.last!.position
                            }
                            for await message in messages {
                                guard let notification = try await server.sessionNotification(for: message, sessionID: sessionID) else { continue }
                                let data = JSONWriter.encode(notification)
                                let pos = try await log.append(stream: logStream, data: data, ttl: ttl)
                                items.yield(.event(LoggedEvent(position: pos, data: data)))
                            }
                        }
                        items.yield(.end)
                    } frame: { event in
                        LegacySSE.frame(id: StreamKey.eventID(stream: streamKey, position: event.position), data: event.data)
                    }
                } catch {
                    await Self.release(lock, owner: owner, store: store)
                    throw error
                }
                await Self.release(lock, owner: owner, store: store)
                try await writer.finish(nil)
            }
        )
    }

    /// Releases the GET stream lock if this connection still holds it.
    static func release(_ lock: String, owner: JSONValue, store: any SessionStore) async {
        guard let holder = try? await store.get(lock), holder.value == owner else { return }
        try? await store.delete(lock)
    }

    /// Writes what `produce` yields until it ends, the session is deleted, the server drains, or the poll interval
    /// elapses; keep-alive comments fill idle time. A failed write (the client went away) just stops the writing.
    func pump(
        into writer: inout any ResponseBodyWriter,
        sessionID: String,
        streamKey: String,
        request: Request,
        touchLock: String? = nil,
        produce: @escaping @Sendable (AsyncStream<LogStreamItem>.Continuation) async throws -> Void,
        frame: @escaping @Sendable (LoggedEvent) -> ByteBuffer
    ) async throws {
        let (items, continuation) = AsyncStream<LogStreamItem>.makeStream()
        let server = self.server
        let keepAlive = configuration.keepAliveInterval
        let pollAfter = configuration.ssePollAfter
        let takeover = Array("takeover:\(streamKey)".utf8)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await produce(continuation) } catch {}
                continuation.yield(.end)
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: keepAlive)
                    continuation.yield(.keepAlive)
                    if let touchLock { _ = try? await server.backends.sessionStore.touch(touchLock, ttl: .seconds(60)) }
                }
            }
            group.addTask {
                await server.waitForDrain()
                continuation.yield(.end)
            }
            group.addTask {
                try await server.backends.messageBus.subscribe(to: [StoreKey.sessionChannel(sessionID)]) { messages in
                    // The session was deleted, or this stream was taken over by a resume of it.
                    for await message in messages where message.payload == Array("deleted".utf8) || message.payload == takeover {
                        continuation.yield(.end)
                        return
                    }
                }
            }
            if let pollAfter {
                group.addTask {
                    try await Task.sleep(for: pollAfter)
                    continuation.yield(.end)
                }
            }
            defer { group.cancelAll() }
            let writeAll: @concurrent (inout any ResponseBodyWriter) async throws -> Void = { writer in
                loop: for await item in items {
                    switch item {
                    case .raw(let bytes): try await writer.write(bytes)
                    case .event(let event): try await writer.write(frame(event))
                    case .keepAlive: try await writer.write(SSE.keepAlive)
                    case .end: break loop
                    }
                }
            }
            if configuration.cancelOnInboundClose {
                // Notice a client that goes away at once, not at the next write: it frees the GET stream slot.
                try await request.body.consumeWithInboundCloseHandler { _ in
                    try await writeAll(&writer)
                } onInboundClosed: {
                    continuation.yield(.end)
                }
            } else {
                try await writeAll(&writer)
            }
        }
    }
}

/// SSE framing of legacy streams: every event has an id.
enum LegacySSE {
    static func frame(id: String, data: [UInt8]) -> ByteBuffer {
        var bytes: [UInt8] = Array("id: \(id)\nevent: message\ndata: ".utf8)
        bytes.append(contentsOf: data)
        bytes.append(contentsOf: [0x0A, 0x0A])
        return ByteBuffer(bytes: bytes)
    }

    /// The priming event: an id and empty data, plus the reconnection delay (SEP-1699).
    static func priming(id: String, retry: Duration) -> ByteBuffer {
        ByteBuffer(string: "id: \(id)\nretry: \(retry.components.seconds * 1000 + retry.components.attoseconds / 1_000_000_000_000_000)\ndata: \n\n")
    }
}

extension HTTPField.Name {
    static let mcpSessionID = Self("Mcp-Session-Id")!
    static let lastEventID = Self("Last-Event-ID")!
}
