//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import HTTPTypes
import Hummingbird
public import MCPServer
public import NIOCore

/// Writing the runtime's reply: JSON, an empty status, or Server-Sent Events.
extension MCPHTTPEndpoint {
    /// The response that carries `reply`. While the server shuts down it also says `Connection: close`, so that
    /// keep-alive connections end at a response boundary and their next request goes to another replica.
    func write(_ reply: TransportReply, request: Request) -> Response {
        var response = response(for: reply, request: request)
        if server.isShuttingDown { response.headers[.connection] = "close" }
        return response
    }

    func response(for reply: TransportReply, request: Request) -> Response {
        switch reply {
        case .message(let message, let sessionID):
            var headers = HTTPFields()
            if let sessionID { headers[.mcpSessionID] = sessionID }
            return json(status: .ok, message, headers: headers)
        case .accepted:
            return Response(status: .accepted)
        case .done:
            return Response(status: .ok)
        case .refusal(let refusal):
            var headers = HTTPFields()
            if let retryAfter = refusal.retryAfter { headers[.retryAfter] = "\(max(1, retryAfter.components.seconds))" }
            if let scopes = refusal.requiredScopes {
                let error = MCPAuthenticationError(message: refusal.error.message, kind: .insufficientScope(scopes))
                headers[.wwwAuthenticate] = BearerChallenge.value(for: error, metadata: configuration.resourceMetadata)
            }
            return json(status: HTTPResponse.Status(code: refusal.status), refusal.body, headers: headers)
        case .stream(let stream):
            return eventStream(stream, request: request)
        }
    }

    /// An SSE response that writes `stream` until it ends, with keep-alive comments on a SwiftNIO repeated task
    /// (not a Swift task: a replica may hold tens of thousands of streams).
    ///
    /// When the edge watches for the client going away (``MCPHTTPConfiguration/cancelOnInboundClose``), the stream
    /// learns of it as soon as the connection's inbound side closes.
    @inline(never)
    func eventStream(_ stream: EventStream, request: Request) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.xAccelBuffering] = "no"
        // Watching for the client to go away consumes the connection: say so, so clients do not reuse it.
        let watchInbound = configuration.cancelOnInboundClose
        if watchInbound { headers[.connection] = "close" }
        let keepAlive = TimeAmount(configuration.keepAliveInterval)
        let eventLoop = eventLoopGroup.any()
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                let ticker = eventLoop.scheduleRepeatedTask(initialDelay: keepAlive, delay: keepAlive) { _ in stream.keepAlive() }
                defer { ticker.cancel() }
                // The writing loop keeps only what it needs: its frame lives as long as the stream.
                let events = stream.events
                let head = stream.head
                if watchInbound {
                    try await request.body.consumeWithInboundCloseHandler { _ in
                        try await stream.withEvents {
                            if let first = head?.take() { try await writer.write(SSE.frame(first)) }
                            for await event in events { try await writer.write(SSE.frame(event)) }
                        }
                    } onInboundClosed: {
                        stream.clientGone()
                    }
                } else {
                    try await stream.withEvents {
                        if let first = head?.take() { try await writer.write(SSE.frame(first)) }
                        for await event in events { try await writer.write(SSE.frame(event)) }
                    }
                }
                try await writer.finish(nil)
            }
        )
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

    /// The frame of one event of a runtime stream.
    static func frame(_ event: OutboundEvent) -> ByteBuffer {
        switch event {
        case .message(let message):
            return frame(message)
        case .logged(let id, let data):
            var bytes: [UInt8] = Array("id: \(id)\nevent: message\ndata: ".utf8)
            bytes.append(contentsOf: data)
            bytes.append(contentsOf: [0x0A, 0x0A])
            return ByteBuffer(bytes: bytes)
        case .priming(let id, let retry):
            return ByteBuffer(string: "id: \(id)\nretry: \(retry.wholeMilliseconds)\ndata: \n\n")
        case .keepAlive:
            return keepAlive
        case .named(let event, let data):
            return ByteBuffer(string: "event: \(event)\ndata: \(data)\n\n")
        }
    }
}
