//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import HTTPTypes
import Hummingbird
import MCPServer
import NIOCore

/// The 2024-11-05 HTTP+SSE transport: `GET /sse` opens a session's stream, and `POST /messages?sessionId=<id>`
/// sends it a message, on any replica. The edge checks and parses as for Streamable HTTP, and makes one call.
extension MCPHTTPEndpoint {
    /// Adds the HTTP+SSE routes.
    func addHTTPSSERoutes<Context: Hummingbird.RequestContext>(_ paths: HTTPSSEPaths, to router: Router<Context>) {
        router.get(RouterPath(stringLiteral: paths.stream)) { request, _ in try await self.handleMessageStream(request, paths: paths) }
        router.post(RouterPath(stringLiteral: paths.messages)) { request, _ in try await self.handleMessagePost(request) }
    }

    /// Opens a session and its stream.
    func handleMessageStream(_ request: Request, paths: HTTPSSEPaths) async throws -> Response {
        let headers = request.headers
        guard configuration.allows(origin: headers.fieldValue(.origin)) else { return forbiddenOrigin() }
        // Early clients sent no Accept header; one that is sent must allow the stream.
        if let accept = headers.fieldValue(.accept), !Self.accepts(accept, "text/event-stream") {
            return errorResponse(status: .notAcceptable, error: .invalidRequest("Accept must list text/event-stream"))
        }
        let principal: Principal
        switch await authenticate(headers, tokenInQuery: Self.hasQueryToken(request.uri.query)) {
        case .success(let p): principal = p
        case .failure(let refusal): return refusal.response
        }
        let call = TransportRequest(action: .openMessageStream(messagesPath: paths.messages), principal: principal, pacing: pacing)
        return write(try await server.respond(to: call), request: request)
    }

    /// Accepts a message into a session; what it answers goes out on the session's stream.
    func handleMessagePost(_ request: consuming Request) async throws -> Response {
        let headers = request.headers
        if let refusal = refusePostHeaders(headers, checkAccept: false) { return refusal }
        guard let sessionID = request.uri.queryParameters.get("sessionId"), !sessionID.isEmpty else {
            return errorResponse(status: .badRequest, error: .invalidRequest("the sessionId query parameter is required"))
        }
        let principal: Principal
        switch await authenticate(headers, tokenInQuery: Self.hasQueryToken(request.uri.query)) {
        case .success(let p): principal = p
        case .failure(let refusal): return refusal.response
        }
        let body: ByteBuffer
        do {
            body = try await Self.collect(request.body, upTo: configuration.maxBodySize)
        } catch {
            return bodyTooLarge()
        }
        switch parseJSON(body) {
        case .success(let message):
            let call = TransportRequest(action: .postMessage(message), principal: principal, sessionID: sessionID, pacing: pacing)
            return write(try await server.respond(to: call), request: request)
        case .failure(let refusal):
            return refusal.response
        }
    }
}
