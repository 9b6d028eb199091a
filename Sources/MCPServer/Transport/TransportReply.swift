//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The runtime's one answer to a ``TransportRequest``. A transport writes it out and decides nothing.
package enum TransportReply: Sendable {
    /// One JSON-RPC message (or a batch's array of them), sent with a success status. `sessionID` is set when the
    /// request created a session.
    case message(JSONValue, sessionID: String? = nil)
    /// An event stream: the transport writes each event as it comes.
    case stream(EventStream)
    /// Accepted, with nothing to say (a notification, a client's answer).
    case accepted
    /// Done, with nothing to say (a session ended).
    case done
    /// Refused: the error carries its own status.
    case refusal(Refusal)
}

/// A request the runtime refuses, with the status the transport must send, the way Hummingbird's `HTTPResponseError`
/// carries its own. The statuses are the ones the Streamable HTTP transport prescribes for each error.
package struct Refusal: Error, Sendable {
    /// The status: `400`, `404`, `409`, `503`, ….
    package var status: Int
    /// The JSON-RPC error that is the body.
    package var error: JSONRPCError
    /// The id of the request refused, when it has one.
    package var id: JSONRPCRequestID?
    /// When the client may try again (`Retry-After`), for a refusal that is only temporary.
    package var retryAfter: Duration?
    /// For a `403` of a caller that lacks scopes: the scopes the request needs, for the transport's
    /// `insufficient_scope` challenge.
    package var requiredScopes: [String]?

    /// Creates a refusal.
    package init(status: Int, error: JSONRPCError, id: JSONRPCRequestID? = nil, retryAfter: Duration? = nil, requiredScopes: [String]? = nil) {
        self.status = status
        self.error = error
        self.id = id
        self.retryAfter = retryAfter
        self.requiredScopes = requiredScopes
    }

    /// `403`: the caller lacks scopes that `required` names.
    package static func insufficientScope(_ required: [String], missing: [String], id: JSONRPCRequestID?) -> Refusal {
        Refusal(status: 403, error: .insufficientScope(missing), id: id, requiredScopes: required)
    }

    /// The JSON-RPC error response that is the refusal's body.
    package var body: JSONValue { JSONRPCMessage.errorResponse(id: id, error: error).json }

    /// `400`: a malformed request.
    package static func badRequest(_ error: JSONRPCError, id: JSONRPCRequestID? = nil) -> Refusal {
        Refusal(status: 400, error: error, id: id)
    }

    /// `404` for a session that does not exist, has expired, or belongs to someone else: one answer for all three,
    /// so the server is no oracle.
    package static let sessionNotFound = Refusal(status: 404, error: JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Session not found"))

    /// `503` with `Retry-After`: the shared store cannot be reached. Never a `404`: clients take that as "session gone".
    package static let storeUnavailable = Refusal(
        status: 503,
        error: JSONRPCError(code: JSONRPCError.internalErrorCode, message: "the session store is unreachable; retry shortly"),
        retryAfter: .seconds(1)
    )

    /// The status the Streamable HTTP transport prescribes for a JSON-RPC error of a stateless request: `400` for
    /// envelope, header, version and capability errors, `404` for an unknown method, `200` (no refusal) otherwise.
    package static func status(for errorCode: Int) -> Int {
        switch errorCode {
        case JSONRPCError.parseErrorCode, JSONRPCError.invalidRequestCode, JSONRPCError.headerMismatchCode,
            JSONRPCError.unsupportedProtocolVersionCode, JSONRPCError.missingRequiredClientCapabilityCode:
            return 400
        case JSONRPCError.methodNotFoundCode:
            return 404
        default:
            return 200
        }
    }

    /// The reply to a stateless request that failed with `error`: a refusal with its status, or an ordinary error
    /// message where the status is `200`.
    package static func reply(_ error: JSONRPCError, id: JSONRPCRequestID?) -> TransportReply {
        let status = status(for: error.code)
        if status == 200 { return .message(JSONRPCMessage.errorResponse(id: id, error: error).json) }
        return .refusal(Refusal(status: status, error: error, id: id))
    }
}
