//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import HTTPTypes
public import MCPServer

/// How the HTTP edge serves the MCP endpoint.
public struct MCPHTTPConfiguration: Sendable {
    /// The MCP endpoint path. Default `/mcp`.
    public var path: String
    /// Origins allowed to call the endpoint (exact `scheme://host[:port]` strings, or `*` for any).
    ///
    /// Requests without an `Origin` header are always allowed (they do not come from a browser). When the list is
    /// empty, only loopback origins (`localhost`, `127.0.0.1`, `[::1]`) are allowed, which protects a local server
    /// from DNS rebinding. Others get `403`.
    public var allowedOrigins: [String]
    /// The largest request body accepted; larger ones get `413`. Default 4 MiB.
    public var maxBodySize: Int
    /// How often an idle SSE stream gets a keep-alive comment. Default 15 seconds.
    public var keepAliveInterval: Duration
    /// How long a silent handler may run before its response switches to an SSE stream (so keep-alives flow and a
    /// closed connection is noticed). Default 1 second.
    public var streamingThreshold: Duration
    /// Cancel a streaming request's handler as soon as the client closes its connection, rather than at the next
    /// write. Needs a real socket; switch it off for in-process router tests. Default `true`.
    public var cancelOnInboundClose: Bool
    /// Resolves the caller of each request. Default: everyone is ``Principal/anonymous``.
    public var authenticator: any MCPAuthenticator
    /// The `retry` delay announced on legacy SSE streams: how long a client waits before it reconnects. Default 1 s.
    public var sseRetry: Duration
    /// SSE polling (SEP-1699) for legacy streams: close each SSE connection after this long, without ending the
    /// stream; clients reconnect with `Last-Event-ID`. `nil` (the default) keeps connections open.
    public var ssePollAfter: Duration?
    /// The paths of the 2024-11-05 HTTP+SSE transport, served beside ``path``; `nil` turns the transport off.
    /// Default `/sse` and `/messages`.
    public var httpSSE: HTTPSSEPaths?
    /// Protected resource metadata (RFC 9728), for an OAuth-protected server: served at its well-known paths and
    /// named in every challenge. `nil` (the default) serves none.
    public var resourceMetadata: ProtectedResourceMetadata?

    /// Creates a configuration.
    public init(
        path: String = "/mcp",
        allowedOrigins: [String] = [],
        maxBodySize: Int = 4 * 1024 * 1024,
        keepAliveInterval: Duration = .seconds(15),
        streamingThreshold: Duration = .seconds(1),
        cancelOnInboundClose: Bool = true,
        authenticator: any MCPAuthenticator = AnonymousAuthenticator(),
        sseRetry: Duration = .seconds(1),
        ssePollAfter: Duration? = nil,
        httpSSE: HTTPSSEPaths? = HTTPSSEPaths(),
        resourceMetadata: ProtectedResourceMetadata? = nil
    ) {
        precondition(path.hasPrefix("/"), "path must start with /")
        precondition(maxBodySize > 0, "maxBodySize must be positive")
        precondition(keepAliveInterval > .zero, "keepAliveInterval must be positive")
        precondition(streamingThreshold > .zero, "streamingThreshold must be positive")
        self.path = path
        self.allowedOrigins = allowedOrigins
        self.maxBodySize = maxBodySize
        self.keepAliveInterval = keepAliveInterval
        self.streamingThreshold = streamingThreshold
        self.cancelOnInboundClose = cancelOnInboundClose
        self.authenticator = authenticator
        self.sseRetry = sseRetry
        self.ssePollAfter = ssePollAfter
        self.httpSSE = httpSSE
        self.resourceMetadata = resourceMetadata
        if let httpSSE {
            precondition(httpSSE.stream != httpSSE.messages && httpSSE.stream != path && httpSSE.messages != path, "the HTTP+SSE paths must differ from each other and from path")
        }
    }

    /// Whether a request with this `Origin` header may proceed.
    public func allows(origin: String?) -> Bool {
        guard let origin else { return true }
        if allowedOrigins.contains("*") || allowedOrigins.contains(origin) { return true }
        guard allowedOrigins.isEmpty else { return false }
        for prefix in ["http://localhost", "https://localhost", "http://127.0.0.1", "https://127.0.0.1", "http://[::1]", "https://[::1]"] {
            if origin == prefix { return true }
            if origin.hasPrefix(prefix + ":"), origin.dropFirst(prefix.count + 1).allSatisfy(\.isNumber) { return true }
        }
        return false
    }
}

/// Where the 2024-11-05 HTTP+SSE transport is served: `GET stream` opens a session's stream, whose first event
/// names `messages?sessionId=<id>` as the URL to POST the session's messages to.
public struct HTTPSSEPaths: Sendable, Hashable {
    /// The path of the stream (`GET`). Default `/sse`.
    public var stream: String
    /// The path messages are POSTed to. Default `/messages`.
    public var messages: String

    /// Creates the paths; both must start with `/`.
    public init(stream: String = "/sse", messages: String = "/messages") {
        precondition(stream.hasPrefix("/") && messages.hasPrefix("/"), "the HTTP+SSE paths must start with /")
        self.stream = stream
        self.messages = messages
    }
}

/// Resolves the authenticated caller of an HTTP request.
public protocol MCPAuthenticator: Sendable {
    /// Returns the caller, or throws ``MCPAuthenticationError`` to refuse the request with `401`.
    func authenticate(headers: HTTPFields) async throws -> Principal
}

/// Refuses a request: `401 Unauthorized` with a `WWW-Authenticate: Bearer` challenge, or `400` / `403` as its
/// ``Kind`` says.
public struct MCPAuthenticationError: Error, Sendable {
    /// What is wrong, which decides the status and the challenge's `error`.
    public enum Kind: Sendable, Hashable {
        /// No credentials: `401`, a challenge with no `error`.
        case missingToken
        /// A token that is malformed, forged, expired or not for this server: `401`, `error="invalid_token"`.
        case invalidToken
        /// A malformed `Authorization` header, or a token where none may be (the query string): `400`,
        /// `error="invalid_request"`.
        case invalidRequest
        /// A valid token without the scopes listed: `403`, `error="insufficient_scope"`.
        case insufficientScope([String])
    }

    /// Why, safe to show to the client.
    public var message: String
    /// What is wrong.
    public var kind: Kind

    /// Creates an error.
    public init(message: String = "authentication required", kind: Kind = .missingToken) {
        self.message = message
        self.kind = kind
    }

    /// The HTTP status of the refusal.
    var status: HTTPResponse.Status {
        switch kind {
        case .missingToken, .invalidToken: .unauthorized
        case .invalidRequest: .badRequest
        case .insufficientScope: .forbidden
        }
    }
}

/// Treats every caller as ``Principal/anonymous``.
public struct AnonymousAuthenticator: MCPAuthenticator {
    public init() {}
    public func authenticate(headers: HTTPFields) async throws -> Principal { .anonymous }
}

/// Accepts static bearer tokens, each mapped to a principal.
public struct BearerTokenAuthenticator: MCPAuthenticator {
    let tokens: [String: Principal]

    /// Creates an authenticator from a token → principal map.
    public init(tokens: [String: Principal]) { self.tokens = tokens }

    public func authenticate(headers: HTTPFields) async throws -> Principal {
        guard let value = headers.fieldValue(.authorization), value.hasPrefix("Bearer "),
            let principal = tokens[String(value.dropFirst(7))]
        else { throw MCPAuthenticationError(message: "a valid bearer token is required", kind: headers[.authorization] == nil ? .missingToken : .invalidToken) }
        return principal
    }
}
