//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Hummingbird
import HTTPTypes
public import MCPServer
public import NIOCore
import NIOPosix

/// The Streamable HTTP edge of an ``MCPServer``: for every protocol generation on one endpoint.
///
/// An edge answers, it does not think. For each request it checks what HTTP alone can tell (Origin, media types,
/// body size), authenticates the caller, parses the body, makes **one** call into the runtime
/// (`MCPServer.respond(to:)`), and writes the typed reply as JSON or as Server-Sent Events. It never reaches a store,
/// a log or a bus: those belong to the runtime.
public struct MCPHTTPEndpoint: Sendable {
    /// The runtime requests are handed to.
    public let server: MCPServer
    /// The edge's configuration.
    public let configuration: MCPHTTPConfiguration
    /// Where the keep-alive timers of open streams are scheduled.
    public let eventLoopGroup: any EventLoopGroup
    /// How replies are paced, from the configuration.
    let pacing: StreamPacing

    /// Creates an endpoint.
    /// - Parameters:
    ///   - server: the runtime requests are handed to.
    ///   - configuration: the edge's configuration.
    ///   - eventLoopGroup: where streams schedule their keep-alive timers: pass the group the HTTP server runs on.
    ///     `nil` (the default) means SwiftNIO's singleton group, which is Hummingbird's default too.
    public init(
        server: MCPServer,
        configuration: MCPHTTPConfiguration = MCPHTTPConfiguration(),
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) {
        self.server = server
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.pacing = StreamPacing(
            streamingThreshold: configuration.streamingThreshold, retry: configuration.sseRetry, pollAfter: configuration.ssePollAfter
        )
    }

    /// Adds the MCP endpoint, the 2024-11-05 HTTP+SSE paths (unless turned off), the protected resource metadata (when
    /// configured), `/healthz` and `/readyz` to `router`.
    public func addRoutes<Context: Hummingbird.RequestContext>(to router: Router<Context>) {
        let path = RouterPath(stringLiteral: configuration.path)
        router.post(path) { request, _ in try await self.handlePost(request) }
        router.get(path) { request, _ in try await self.handleGet(request) }
        router.delete(path) { request, _ in try await self.handleDelete(request) }
        if let paths = configuration.httpSSE { addHTTPSSERoutes(paths, to: router) }
        if let metadata = configuration.resourceMetadata {
            for documentPath in metadata.documentPaths {
                router.get(RouterPath(stringLiteral: documentPath)) { _, _ in self.json(status: .ok, metadata.json) }
            }
        }
        router.get("/healthz") { _, _ in Self.text(.ok, "ok\n") }
        router.get("/readyz") { _, _ in
            switch await self.server.readiness() {
            case .ready: Self.text(.ok, "ready\n")
            case .draining: Self.text(.serviceUnavailable, "draining\n")
            // Ready only when the shared backend answers: a replica that cannot reach it cannot serve sessions.
            case .storeUnavailable: Self.text(.serviceUnavailable, "backend unavailable\n")
            }
        }
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: POST

    /// Serves a POST.
    ///
    /// An async function's frame holds every local it ever needs, and a connection's task keeps the memory its
    /// deepest frames took for as long as the connection lives (an open `subscriptions/listen` stream, a
    /// keep-alive connection). So this stays a thin async shell: the checks, the parse and the request description
    /// are synchronous steps that are not inlined into it (docs/performance.md, "Frame sizes").
    func handlePost(_ request: consuming Request) async throws -> Response {
        if let refusal = refusePostHeaders(request.headers) { return refusal }
        let principal: Principal
        switch await authenticate(request.headers, tokenInQuery: Self.hasQueryToken(request.uri.query)) {
        case .success(let p): principal = p
        case .failure(let refusal): return refusal.response
        }
        let body: ByteBuffer
        do {
            body = try await Self.collect(request.body, upTo: configuration.maxBodySize)
            // As `Request.collectBody(upTo:)` does: the stream's inbound-close watch needs the collected body.
            request.body = RequestBody(buffer: body)
        } catch {
            return bodyTooLarge()
        }
        let call: TransportRequest
        switch describePost(body, headers: request.headers, principal: principal) {
        case .success(let c): call = c
        case .failure(let refusal): return refusal.response
        }
        return write(try await server.respond(to: call), request: request)
    }

    /// The header checks that need no body: origin, media types and declared length. `Accept` is checked for
    /// Streamable HTTP only (`checkAccept`): an HTTP+SSE POST's answer is only ever `202`.
    @inline(never)
    func refusePostHeaders(_ headers: HTTPFields, checkAccept: Bool = true) -> Response? {
        guard configuration.allows(origin: headers.fieldValue(.origin)) else {
            return forbiddenOrigin()
        }
        guard let contentType = headers.fieldValue(.contentType), Self.isJSON(contentType) else {
            return errorResponse(status: .unsupportedMediaType, error: .invalidRequest("Content-Type must be application/json"))
        }
        guard !checkAccept || Self.acceptsBoth(headers.fieldValue(.accept)) else {
            return errorResponse(status: .notAcceptable, error: .invalidRequest("Accept must list both application/json and text/event-stream"))
        }
        if let length = headers.fieldValue(.contentLength).flatMap({ Int($0) }), length > configuration.maxBodySize {
            return bodyTooLarge()
        }
        return nil
    }

    /// Parses a POST body and describes the request for the runtime.
    @inline(never)
    func describePost(_ body: ByteBuffer, headers: HTTPFields, principal: Principal) -> Result<TransportRequest, Refusal> {
        parseJSON(body).map { describe(.post($0), headers: headers, principal: principal) }
    }

    /// Parses a JSON body; a malformed one is refused with `400` and a parse error.
    func parseJSON(_ body: ByteBuffer) -> Result<JSONValue, Refusal> {
        let parsed: Result<JSONValue, JSONParseError> = body.withUnsafeReadableBytes { buffer in
            do throws(JSONParseError) {
                return .success(try JSONParser().parse(buffer))
            } catch {
                return .failure(error)
            }
        }
        return parsed.mapError { Refusal(response: errorResponse(status: .badRequest, error: .parseError($0.description))) }
    }

    /// The runtime's description of a request: the action, the caller, and the MCP headers read in one pass.
    func describe(_ action: TransportRequest.Action, headers: HTTPFields, principal: Principal) -> TransportRequest {
        let (metadata, sessionID) = Self.metadataHeaders(headers)
        return TransportRequest(action: action, principal: principal, sessionID: sessionID, metadata: metadata, pacing: pacing)
    }

    /// A refusal to send in place of a response, as an error (`Result` needs one).
    struct Refusal: Error {
        var response: Response
    }

    /// The caller, or the refusal (`401`, `400` or `403`, with its `WWW-Authenticate: Bearer` challenge): for every
    /// method. A token in the query string is refused whatever the authenticator: tokens go in the header only.
    func authenticate(_ headers: HTTPFields, tokenInQuery: Bool) async -> Result<Principal, Refusal> {
        if tokenInQuery {
            return .failure(unauthorized(MCPAuthenticationError(message: "access tokens are not accepted in the query string", kind: .invalidRequest)))
        }
        do {
            return .success(try await configuration.authenticator.authenticate(headers: headers))
        } catch {
            return .failure(unauthorized(error))
        }
    }

    /// Whether a query string carries an `access_token` parameter.
    static func hasQueryToken(_ query: String?) -> Bool {
        guard let query else { return false }
        return query.split(separator: "&").contains { $0 == "access_token" || $0.hasPrefix("access_token=") }
    }

    @inline(never)
    func unauthorized(_ error: any Error) -> Refusal {
        let error = error as? MCPAuthenticationError ?? MCPAuthenticationError(message: "authentication failed", kind: .invalidToken)
        var extra = HTTPFields()
        extra[.wwwAuthenticate] = BearerChallenge.value(for: error, metadata: configuration.resourceMetadata)
        return Refusal(response: errorResponse(
            status: error.status,
            error: JSONRPCError(code: JSONRPCError.invalidRequestCode, message: error.message),
            extraHeaders: extra
        ))
    }

    @inline(never)
    func bodyTooLarge() -> Response {
        errorResponse(status: .contentTooLarge, error: .invalidRequest("body larger than \(configuration.maxBodySize) bytes"))
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

    /// The MCP metadata headers and the session id, read in one pass over the fields (repeated fields join with
    /// ", ", as ``HTTPFields/fieldValue(_:)`` does).
    static func metadataHeaders(_ headers: HTTPFields) -> (RequestMetadataHeaders, sessionID: String?) {
        var out = RequestMetadataHeaders()
        var sessionID: String?
        let prefix = "mcp-param-".utf8
        for field in headers {
            switch field.name {
            case .mcpProtocolVersion: out.protocolVersion = HTTPFields.joined(out.protocolVersion, field.value)
            case .mcpMethod: out.method = HTTPFields.joined(out.method, field.value)
            case .mcpName: out.name = HTTPFields.joined(out.name, field.value)
            case .mcpSessionID: sessionID = HTTPFields.joined(sessionID, field.value)
            default:
                if field.name.canonicalName.utf8.starts(with: prefix) {
                    out.params[String(field.name.canonicalName.utf8.dropFirst(prefix.count))!] = field.value
                }
            }
        }
        return (out, sessionID)
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

    static func accepts(_ accept: String?, _ type: StaticString) -> Bool {
        guard let accept else { return false }
        var list = MediaTypeList(accept)
        return list.accepts(type)
    }

    // MARK: GET and DELETE

    /// Opens or resumes a session's stream.
    func handleGet(_ request: Request) async throws -> Response {
        let headers = request.headers
        guard headers[.mcpSessionID] != nil else { return methodNotAllowed(request) }
        guard configuration.allows(origin: headers.fieldValue(.origin)) else { return forbiddenOrigin() }
        guard Self.accepts(headers.fieldValue(.accept), "text/event-stream") else {
            return errorResponse(status: .notAcceptable, error: .invalidRequest("Accept must list text/event-stream"))
        }
        let principal: Principal
        switch await authenticate(headers, tokenInQuery: Self.hasQueryToken(request.uri.query)) {
        case .success(let p): principal = p
        case .failure(let refusal): return refusal.response
        }
        let call = describe(.openStream(lastEventID: headers.fieldValue(.lastEventID)), headers: headers, principal: principal)
        return write(try await server.respond(to: call), request: request)
    }

    /// Ends a session.
    func handleDelete(_ request: Request) async throws -> Response {
        let headers = request.headers
        guard headers[.mcpSessionID] != nil else { return methodNotAllowed(request) }
        guard configuration.allows(origin: headers.fieldValue(.origin)) else { return forbiddenOrigin() }
        let principal: Principal
        switch await authenticate(headers, tokenInQuery: Self.hasQueryToken(request.uri.query)) {
        case .success(let p): principal = p
        case .failure(let refusal): return refusal.response
        }
        return write(try await server.respond(to: describe(.endSession, headers: headers, principal: principal)), request: request)
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

    func forbiddenOrigin() -> Response {
        errorResponse(status: .forbidden, error: JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Forbidden: origin not allowed"))
    }

    func errorResponse(status: HTTPResponse.Status, error: JSONRPCError, extraHeaders: HTTPFields = HTTPFields()) -> Response {
        json(status: status, JSONRPCMessage.errorResponse(id: nil, error: error).json, headers: extraHeaders)
    }

    func json(status: HTTPResponse.Status, _ message: JSONValue, headers: HTTPFields = HTTPFields()) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONWriter.encode(message))))
    }
}

extension HTTPField.Name {
    static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
    static let mcpMethod = Self("Mcp-Method")!
    static let mcpName = Self("Mcp-Name")!
    static let mcpSessionID = Self("Mcp-Session-Id")!
    static let lastEventID = Self("Last-Event-ID")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
