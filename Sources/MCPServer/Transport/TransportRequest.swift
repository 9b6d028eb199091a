//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// One request as a transport hands it to the runtime, with nothing of HTTP left in it: what the client asked for,
/// who it is, and the protocol metadata that travelled outside the body. ``MCPServer/respond(to:)`` answers it with
/// one ``TransportReply``.
///
/// Three transport shapes fit it: Streamable HTTP's POST, GET and DELETE, and the 2024-11-05 HTTP+SSE pair (a GET that
/// opens the session's stream, and POSTs of messages into it).
package struct TransportRequest: Sendable {
    /// What the client asks for.
    package enum Action: Sendable {
        /// A POST body: one JSON-RPC message, or a batch (an array).
        case post(JSONValue)
        /// Open a session's standalone stream, or resume any of its streams after `lastEventID`.
        case openStream(lastEventID: String?)
        /// End the session.
        case endSession
        /// HTTP+SSE (2024-11-05): open a new session and its stream, whose first event names `messagesPath` (with
        /// `?sessionId=<id>`) as the URL to POST messages to.
        case openMessageStream(messagesPath: String)
        /// HTTP+SSE (2024-11-05): a POSTed message (or batch) of the session ``TransportRequest/sessionID`` names
        /// (from the `sessionId` query parameter); its answers go out on the session's stream.
        case postMessage(JSONValue)
    }

    /// What the client asks for.
    package var action: Action
    /// The authenticated caller.
    package var principal: Principal
    /// The session the request names (`Mcp-Session-Id`), if any.
    package var sessionID: String?
    /// The request metadata headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`).
    package var metadata: RequestMetadataHeaders
    /// How the transport wants its streams paced.
    package var pacing: StreamPacing

    /// Creates a request.
    package init(
        action: Action,
        principal: Principal,
        sessionID: String? = nil,
        metadata: RequestMetadataHeaders = RequestMetadataHeaders(),
        pacing: StreamPacing = StreamPacing()
    ) {
        self.action = action
        self.principal = principal
        self.sessionID = sessionID
        self.metadata = metadata
        self.pacing = pacing
    }
}

/// How a transport wants its replies paced: when a handler's answer turns into a stream, and how session streams
/// tell clients to come back.
package struct StreamPacing: Sendable {
    /// How long a silent handler may run before its reply becomes a stream.
    package var streamingThreshold: Duration
    /// The `retry` delay announced on session streams.
    package var retry: Duration
    /// SSE polling (SEP-1699): end each session stream's connection after this long, without ending the stream.
    package var pollAfter: Duration?

    /// Creates a pacing.
    package init(streamingThreshold: Duration = .seconds(1), retry: Duration = .seconds(1), pollAfter: Duration? = nil) {
        self.streamingThreshold = streamingThreshold
        self.retry = retry
        self.pollAfter = pollAfter
    }
}
