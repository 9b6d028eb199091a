//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Hummingbird
import HTTPTypes
public import MCPServer
public import NIOCore
import NIOPosix
import Synchronization

/// The Streamable HTTP edge of an ``MCPServer``: routes, header and body checks, JSON or SSE responses.
public struct MCPHTTPEndpoint: Sendable {
    /// The runtime requests are handed to.
    public let server: MCPServer
    /// The edge's configuration.
    public let configuration: MCPHTTPConfiguration
    /// Where the keep-alive timers of open `subscriptions/listen` streams are scheduled.
    public let eventLoopGroup: any EventLoopGroup

    /// Creates an endpoint.
    /// - Parameters:
    ///   - server: the runtime requests are handed to.
    ///   - configuration: the edge's configuration.
    ///   - eventLoopGroup: where listen streams schedule their keep-alive timers: pass the group the HTTP server
    ///     runs on. `nil` (the default) means SwiftNIO's singleton group, which is Hummingbird's default too.
    public init(
        server: MCPServer,
        configuration: MCPHTTPConfiguration = MCPHTTPConfiguration(),
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) {
        self.server = server
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
    }

    /// Adds the MCP endpoint plus `/healthz` and `/readyz` to `router`.
    public func addRoutes<Context: Hummingbird.RequestContext>(to router: Router<Context>) {
        let path = RouterPath(stringLiteral: configuration.path)
        router.post(path) { request, _ in try await self.handlePost(request) }
        router.get(path) { request, _ in try await self.handleGet(request) }
        router.delete(path) { request, _ in try await self.handleDelete(request) }
        router.get("/healthz") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("/readyz") { _, _ in
            if self.server.isDraining {
                return Response(status: .serviceUnavailable, body: ResponseBody(byteBuffer: ByteBuffer(string: "draining\n")))
            }
            // Ready only when the shared backend answers: a replica that cannot reach it cannot serve sessions.
            do {
                _ = try await self.server.backends.sessionStore.get("mcp:readyz")
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return Response(status: .serviceUnavailable, body: ResponseBody(byteBuffer: ByteBuffer(string: "backend unavailable\n")))
            }
        }
    }

    func methodNotAllowed(_ request: Request) -> Response {
        var headers = HTTPFields()
        headers[.allow] = request.headers[.mcpSessionID] == nil ? "POST" : "GET, POST, DELETE"
        return errorResponse(
            status: .methodNotAllowed,
            error: JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Method not allowed: this endpoint accepts POST only"),
            extraHeaders: headers
        )
    }

    // MARK: POST

    /// Serves a POST.
    ///
    /// An async function's frame holds every local it ever needs, and a connection's task keeps the memory its
    /// deepest frames took for as long as the connection lives (an open `subscriptions/listen` stream, a
    /// keep-alive connection). So this stays a thin async shell: the checks, the parse and the routing decision
    /// are synchronous steps that are not inlined into it, which took its frame from 5.8 KiB to a fraction of that.
    func handlePost(_ request: consuming Request) async throws -> Response {
        if let refusal = refusePostHeaders(request.headers) { return refusal }
        let principal: Principal
        switch await authenticate(request.headers) {
        case .success(let p): principal = p
        case .failure(let refusal): return refusal.response
        }
        let body: ByteBuffer
        do {
            body = try await Self.collect(request.body, upTo: configuration.maxBodySize)
            // As `Request.collectBody(upTo:)` does: the SSE path's inbound-close watch needs the collected body.
            request.body = RequestBody(buffer: body)
        } catch {
            return bodyTooLarge()
        }
        switch routePost(body, headers: request.headers) {
        case .respond(let response):
            return response
        case .batch(let elements):
            return try await handleBatch(elements, headers: request.headers, principal: principal)
        case .legacy(let message):
            return try await handleLegacyPost(message, headers: request.headers, principal: principal, request: request)
        case .modern(let id, let method, let params, let streams):
            let call = IncomingRequest(id: id, method: method, params: params, principal: principal)
            if method == "subscriptions/listen" { return listenResponse(call, request: request) }
            if streams { return try await streamingResponse(call, request: request) }
            guard let response = await server.handle(call, sink: DiscardingSink()) else { throw CancellationError() }
            return jsonResponse(response)
        }
    }

    /// Where ``routePost(_:headers:)`` sends a POST.
    enum PostRoute {
        /// Answered already: a refusal, or a notification's `202`.
        case respond(Response)
        /// A JSON-RPC batch (legacy 2025-03-26 only).
        case batch([JSONValue])
        /// A legacy-era message.
        case legacy(JSONRPCMessage)
        /// A 2026-07-28 request, and whether its handler may stream.
        case modern(id: JSONRPCRequestID, method: String, params: [String: JSONValue], streams: Bool)
    }

    /// The header checks that need no body: origin, media types and declared length.
    @inline(never)
    func refusePostHeaders(_ headers: HTTPFields) -> Response? {
        guard configuration.allows(origin: headers.fieldValue(.origin)) else {
            return forbiddenOrigin()
        }
        guard let contentType = headers.fieldValue(.contentType), Self.isJSON(contentType) else {
            return errorResponse(
                status: .unsupportedMediaType,
                error: .invalidRequest("Content-Type must be application/json")
            )
        }
        guard Self.acceptsBoth(headers.fieldValue(.accept)) else {
            return errorResponse(
                status: .notAcceptable,
                error: .invalidRequest("Accept must list both application/json and text/event-stream")
            )
        }
        if let length = headers.fieldValue(.contentLength).flatMap({ Int($0) }), length > configuration.maxBodySize {
            return bodyTooLarge()
        }
        return nil
    }

    /// A refusal to send in place of a response, as an error (`Result` needs one).
    struct Refusal: Error {
        var response: Response
    }

    /// The caller, or the `401` (with `WWW-Authenticate: Bearer`) that refuses it: for every method.
    func authenticate(_ headers: HTTPFields) async -> Result<Principal, Refusal> {
        do {
            return .success(try await configuration.authenticator.authenticate(headers: headers))
        } catch {
            return .failure(unauthorized(error))
        }
    }

    @inline(never)
    func unauthorized(_ error: any Error) -> Refusal {
        var extra = HTTPFields()
        extra[.wwwAuthenticate] = "Bearer"
        let message = (error as? MCPAuthenticationError)?.message ?? "authentication failed"
        return Refusal(response: errorResponse(
            status: .unauthorized,
            error: JSONRPCError(code: JSONRPCError.invalidRequestCode, message: message),
            extraHeaders: extra
        ))
    }

    @inline(never)
    func bodyTooLarge() -> Response {
        errorResponse(status: .contentTooLarge, error: .invalidRequest("body larger than \(configuration.maxBodySize) bytes"))
    }

    /// Parses and validates a POST body, decides its era, and checks a modern request's metadata headers.
    @inline(never)
    func routePost(_ body: ByteBuffer, headers: HTTPFields) -> PostRoute {
        let parsed: Result<JSONValue, JSONParseError> = body.withUnsafeReadableBytes { buffer in
            do throws(JSONParseError) {
                return .success(try JSONParser().parse(buffer))
            } catch {
                return .failure(error)
            }
        }
        let value: JSONValue
        switch parsed {
        case .success(let v): value = v
        case .failure(let error): return .respond(errorResponse(status: .badRequest, error: .parseError(error.description)))
        }
        if case .array(let elements) = value { return .batch(elements) }
        let message: JSONRPCMessage
        do throws(JSONRPCError) {
            message = try JSONRPCMessage(validating: value)
        } catch {
            return .respond(errorResponse(status: .badRequest, error: error))
        }
        // One pass over the header fields serves both the era decision and the metadata-header checks.
        let metadata = Self.metadataHeaders(headers)
        if isLegacy(message, protocolVersion: metadata.protocolVersion, headers: headers) { return .legacy(message) }
        switch message {
        case .notification:
            // No client notification changes anything in 2026-07-28 over HTTP; accept and ignore.
            return .respond(Response(status: .accepted))
        case .response, .errorResponse:
            return .respond(errorResponse(status: .badRequest, error: .invalidRequest("this endpoint does not accept JSON-RPC responses")))
        case .request(let id, let method, let params):
            if let error = server.validateHeaders(metadata, method: method, params: params) {
                return .respond(errorResponse(status: .badRequest, error: error, id: id))
            }
            guard MCPServer.modernMethods.contains(method) else {
                return .respond(errorResponse(status: .notFound, error: .methodNotFound(method), id: id))
            }
            switch method {
            case "tools/call", "resources/read", "prompts/get":
                return .modern(id: id, method: method, params: params, streams: true)
            default:
                return .modern(id: id, method: method, params: params, streams: false)
            }
        }
    }

    /// The whole request body, at most `maxSize` bytes: what `Request.collectBody(upTo:)` collects, but a body that
    /// came in one piece passes through without a copy or a generic accumulation loop.
    static func collect(_ body: RequestBody, upTo maxSize: Int) async throws -> ByteBuffer {
        var iterator = body.makeAsyncIterator()
        guard var collected = try await iterator.next() else { return ByteBuffer() }
        guard collected.readableBytes <= maxSize else { throw BodyTooLarge() }
        while var chunk = try await iterator.next() {
            guard collected.readableBytes + chunk.readableBytes <= maxSize else { throw BodyTooLarge() }
            collected.writeBuffer(&chunk)
        }
        return collected
    }

    struct BodyTooLarge: Error {}

    /// The MCP metadata headers, read in one pass over the fields (repeated fields join with ", ", as
    /// ``HTTPFields/fieldValue(_:)`` does).
    static func metadataHeaders(_ headers: HTTPFields) -> RequestMetadataHeaders {
        var out = RequestMetadataHeaders()
        let prefix = "mcp-param-".utf8
        for field in headers {
            switch field.name {
            case .mcpProtocolVersion: out.protocolVersion = HTTPFields.joined(out.protocolVersion, field.value)
            case .mcpMethod: out.method = HTTPFields.joined(out.method, field.value)
            case .mcpName: out.name = HTTPFields.joined(out.name, field.value)
            default:
                if field.name.canonicalName.utf8.starts(with: prefix) {
                    out.params[String(field.name.canonicalName.utf8.dropFirst(prefix.count))!] = field.value
                }
            }
        }
        return out
    }

    static func isJSON(_ contentType: String) -> Bool {
        var list = MediaTypeList(contentType)
        return list.first(is: "application/json")
    }

    static func acceptsBoth(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var list = MediaTypeList(accept)
        return list.accepts("application/json") && list.accepts("text/event-stream")
    }

    // MARK: Responses

    func forbiddenOrigin() -> Response {
        errorResponse(status: .forbidden, error: JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Forbidden: origin not allowed"))
    }

    func jsonResponse(_ message: JSONValue, legacy: Bool = false, extraHeaders: HTTPFields = HTTPFields()) -> Response {
        var status = HTTPResponse.Status.ok
        // Legacy clients read 404 as "session gone", so their JSON-RPC errors travel with 200.
        if !legacy, case .object(let e)? = message["error"], let code = e["code"]?.intValue {
            status = HTTPResponse.Status(code: MCPServer.httpStatus(for: code))
        }
        var headers = extraHeaders
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONWriter.encode(message))))
    }

    func errorResponse(status: HTTPResponse.Status, error: JSONRPCError, id: JSONRPCRequestID? = nil, extraHeaders: HTTPFields = HTTPFields()) -> Response {
        var headers = extraHeaders
        headers[.contentType] = "application/json"
        let body = JSONWriter.encode(JSONRPCMessage.errorResponse(id: id, error: error).json)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Runs a handler that may stream. Its response is JSON if it finishes silently within the streaming threshold,
    /// otherwise an SSE stream that carries its notifications and final response.
    ///
    /// The handler starts at once on this thread (`Task.immediate`): one that finishes without suspending, as most
    /// do, is answered as JSON with no timer, no second task switch and no stream read. Only a handler that
    /// suspends gets the threshold timer.
    func streamingResponse(_ call: IncomingRequest, request: Request) async throws -> Response {
        let race = EdgeRace()
        let server = self.server
        // The handler's task is owned by the response: it is cancelled when this request is cancelled, when the
        // response stream ends or is dropped, and when the SSE body finishes.
        let task = Task.immediate {
            let response = await server.handle(call, sink: StreamSink(race: race))
            race.finish(response)
        }
        let (events, continuation): EdgeRace.Events
        switch race.settle() {
        case .finished(let response):
            guard let response else { throw CancellationError() }
            return jsonResponse(response)
        case .streaming(let stream):
            (events, continuation) = stream
        }
        let threshold = call.method == "subscriptions/listen" ? Duration.zero : configuration.streamingThreshold
        let keepAlive = configuration.keepAliveInterval
        // The timer starts the stream once the handler has been silent for the threshold, then keeps it alive. It
        // stops when cancelled, or by itself once the stream has ended.
        let timer = Task {
            if threshold > .zero { try? await Task.sleep(for: threshold) }
            guard !Task.isCancelled, case .enqueued = continuation.yield(.startStream) else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: keepAlive)
                if Task.isCancelled { break }
                guard case .enqueued = continuation.yield(.keepAlive) else { break }
            }
        }
        continuation.onTermination = { _ in
            task.cancel()
            timer.cancel()
        }
        let first: EdgeEvent? = await withTaskCancellationHandler {
            var iterator = events.makeAsyncIterator()
            return await iterator.next()
        } onCancel: {
            task.cancel()
            timer.cancel()
        }
        switch first {
        case nil:
            // Cancelled with no response.
            timer.cancel()
            throw CancellationError()
        case .final(let message):
            timer.cancel()
            return jsonResponse(message)
        case .message, .startStream, .keepAlive:
            return eventStreamResponse(first: first, events: events, request: request, task: task, timer: timer)
        }
    }

    /// Serves `subscriptions/listen`: a JSON error response if the request is refused, otherwise an SSE stream
    /// that starts with the acknowledgement.
    ///
    /// A replica may hold tens of thousands of these streams, so each costs as little as the stack allows: it runs
    /// in the connection's own task (plus the inbound-close watch), with no handler task and no timer task. Bus
    /// messages, the drain and the keep-alive ticks (a SwiftNIO repeated task, not a Swift task) all feed one
    /// buffered stream that the connection's task writes out.
    @inline(never)
    func listenResponse(_ call: IncomingRequest, request: Request) -> Response {
        let subscription: ListenSubscription
        do throws(JSONRPCError) {
            subscription = try server.acceptListen(call)
        } catch {
            return jsonResponse(JSONRPCMessage.errorResponse(id: call.id, error: error).json)
        }
        let server = self.server
        let keepAlive = TimeAmount(configuration.keepAliveInterval)
        let eventLoop = eventLoopGroup.any()
        let (events, continuation) = AsyncStream<ListenEvent>.makeStream(bufferingPolicy: .bufferingNewest(MCPServer.listenBufferSize))
        return sseResponse(request: request, onInboundClosed: { continuation.finish() }) { writer in
            let ticker = eventLoop.scheduleRepeatedTask(initialDelay: keepAlive, delay: keepAlive) { _ in
                continuation.yield(.keepAlive)
            }
            defer {
                ticker.cancel()
                continuation.finish()
            }
            var opened = false
            do {
                try await server.withListen(subscription, deliver: { continuation.yield($0) }) {
                    opened = true
                    try await writer.write(SSE.frame(subscription.acknowledgement))
                    for await event in events {
                        switch event {
                        case .notification(let message): try await writer.write(SSE.frame(message))
                        case .keepAlive: try await writer.write(SSE.keepAlive)
                        case .drained: return try await writer.write(SSE.frame(server.listenFinalResponse(subscription)))
                        case .ended: return
                        }
                    }
                }
            } catch where !opened && !(error is CancellationError) {
                // The bus could not subscribe (Redis down, say): the stream's headers are out, so the request's one
                // response is an error event in place of the acknowledgement.
                try await writer.write(Self.listenRefusal(error, id: subscription.id, server: server))
            }
        }
    }

    /// The error event that answers a listen whose subscription could not be opened. Not inlined: the stream's
    /// closure lives as long as the stream, so it keeps none of this in its frame.
    @inline(never)
    static func listenRefusal(_ error: any Error, id: JSONRPCRequestID, server: MCPServer) -> ByteBuffer {
        server.logger.warning("listen subscription failed", metadata: ["mcp.error": "\(error)"])
        let refusal = JSONRPCError.internalError("could not subscribe to notifications; retry later")
        return SSE.frame(JSONRPCMessage.errorResponse(id: id, error: refusal).json)
    }

    /// An SSE response whose body `write` writes, then finishes. When the edge watches for the client going away
    /// (``MCPHTTPConfiguration/cancelOnInboundClose``), `onInboundClosed` runs as soon as the connection's inbound
    /// side closes, and must make `write` return.
    func sseResponse(
        request: Request,
        onInboundClosed: @escaping @Sendable () -> Void,
        _ write: @escaping @concurrent @Sendable (inout any ResponseBodyWriter) async throws -> Void
    ) -> Response {
        let watchInbound = configuration.cancelOnInboundClose
        return sseResponse(
            ResponseBody { writer in
                if watchInbound {
                    try await request.body.consumeWithInboundCloseHandler { _ in
                        try await write(&writer)
                    } onInboundClosed: {
                        onInboundClosed()
                    }
                } else {
                    try await write(&writer)
                }
                try await writer.finish(nil)
            }
        )
    }

    /// The SSE response of a streaming handler, once its first event is in: `first`, then the rest of `events`.
    /// Not inlined into ``streamingResponse(_:request:)``, whose async frame lives as long as the stream.
    @inline(never)
    func eventStreamResponse(
        first: EdgeEvent?,
        events: AsyncStream<EdgeEvent>,
        request: Request,
        task: Task<Void, Never>,
        timer: Task<Void, Never>
    ) -> Response {
        sseResponse(request: request, onInboundClosed: { task.cancel() }) { writer in
            defer {
                task.cancel()
                timer.cancel()
            }
            if case .message(let m) = first { try await writer.write(SSE.frame(m)) }
            for await event in events {
                switch event {
                case .message(let m): try await writer.write(SSE.frame(m))
                case .final(let m): try await writer.write(SSE.frame(m))
                case .keepAlive: try await writer.write(SSE.keepAlive)
                case .startStream: try await writer.write(SSE.keepAlive)
                }
            }
        }
    }
}

/// Decides between the JSON fast path and the event stream for one modern request: a handler that finishes before
/// the edge first looks, having sent nothing, hands its response over directly, and no stream is ever made; anything
/// else goes through the stream.
final class EdgeRace: Sendable {
    typealias Events = (stream: AsyncStream<EdgeEvent>, continuation: AsyncStream<EdgeEvent>.Continuation)

    enum State {
        /// The handler is running, has sent nothing, and the edge has not looked yet.
        case starting
        /// The handler finished first, silently: its response (`nil` when cancelled).
        case finished(JSONValue?)
        /// Everything goes through the stream.
        case streaming(Events)
    }

    /// What the edge finds when it looks.
    enum Outcome {
        case finished(JSONValue?)
        case streaming(Events)
    }

    private let state = Mutex(State.starting)

    /// The edge looks once, right after starting the handler: the response if it has finished silently, otherwise
    /// the stream that carries everything from now on.
    func settle() -> Outcome {
        state.withLock { s in
            if case .finished(let response) = s { return .finished(response) }
            return .streaming(Self.stream(&s)!)
        }
    }

    /// The stream, opened now if the handler has sent nothing and the edge has not looked yet; `nil` once the
    /// handler finished first.
    private static func stream(_ s: inout State) -> Events? {
        switch s {
        case .starting:
            let events = AsyncStream<EdgeEvent>.makeStream()
            s = .streaming(events)
            return events
        case .streaming(let events):
            return events
        case .finished:
            return nil
        }
    }

    /// A notification from the handler: it always goes through the stream.
    func send(_ message: JSONValue) -> AsyncStream<EdgeEvent>.Continuation.YieldResult {
        guard let continuation = state.withLock({ Self.stream(&$0)?.continuation }) else { return .terminated }
        return continuation.yield(.message(message))
    }

    /// The handler's final response (`nil` when cancelled).
    func finish(_ response: JSONValue?) {
        let continuation = state.withLock { s -> AsyncStream<EdgeEvent>.Continuation? in
            switch s {
            case .starting:
                s = .finished(response)
                return nil
            case .streaming(let events):
                return events.continuation
            case .finished:
                return nil
            }
        }
        guard let continuation else { return }
        if let response { continuation.yield(.final(response)) }
        continuation.finish()
    }
}

enum EdgeEvent: Sendable {
    case message(JSONValue)
    case final(JSONValue)
    case startStream
    case keepAlive
}

/// Feeds a handler's notifications to the response stream; fails once the stream is gone.
struct StreamSink: MessageSink {
    let race: EdgeRace

    func send(_ message: JSONValue) async throws {
        if case .terminated = race.send(message) { throw CancellationError() }
    }
}

/// Server-Sent Events framing.
public enum SSE {
    /// One `data:` event holding a JSON message (JSON text has no raw newlines, so one line suffices).
    public static func frame(_ message: JSONValue) -> ByteBuffer {
        var bytes: [UInt8] = Array("event: message\ndata: ".utf8)
        JSONWriter.write(message, into: &bytes)
        bytes.append(contentsOf: [0x0A, 0x0A])
        return ByteBuffer(bytes: bytes)
    }

    /// A comment line that keeps intermediaries from closing an idle stream.
    public static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")
}

extension HTTPField.Name {
    static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
    static let mcpMethod = Self("Mcp-Method")!
    static let mcpName = Self("Mcp-Name")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
