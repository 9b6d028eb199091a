//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// One JSON-RPC request as dispatch sees it, whatever the transport and the protocol generation.
package struct IncomingRequest: Sendable {
    /// The JSON-RPC id.
    package var id: JSONRPCRequestID
    /// The method.
    package var method: String
    /// The `params` object (empty when absent).
    package var params: [String: JSONValue]
    /// The authenticated caller.
    package var principal: Principal

    /// Creates a request.
    package init(id: JSONRPCRequestID, method: String, params: [String: JSONValue], principal: Principal = .anonymous) {
        self.id = id
        self.method = method
        self.params = params
        self.principal = principal
    }
}

/// Stateless requests: protocol 2026-07-28, where every request carries its own metadata and needs no session.
extension MCPServer {
    /// The methods of protocol 2026-07-28 this runtime serves.
    static let statelessMethods: Set<String> = [
        "server/discover", "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read",
        "prompts/list", "prompts/get", "completion/complete", "subscriptions/listen", "tasks/get", "tasks/update",
        "tasks/cancel",
    ]

    /// The stateless protocol versions this server accepts, newest first.
    static let statelessVersions: [String] = ProtocolVersion.stateless.map(\.rawValue)

    /// Handles one stateless request, with its notifications sent to `sink`.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - sink: the request's response stream, for progress and log notifications (and the listen stream).
    /// - Returns: the final JSON-RPC response, or `nil` if the request was cancelled and must get no response.
    package func handle(_ request: IncomingRequest, sink: any MessageSink) async -> JSONValue? {
        await answer(request, sink: sink)?.response
    }

    /// Handles one stateless request: its final response, with the error typed when it is one, or `nil` if the
    /// request was cancelled and must get no response.
    func answer(_ request: IncomingRequest, sink: any MessageSink) async -> Answer? {
        do {
            let meta = try parseStatelessMeta(request.params)
            let result = try await dispatch(request, meta: meta, sink: sink, session: nil)
            return Answer(response: ["jsonrpc": "2.0", "id": request.id.json, "result": result], error: nil)
        } catch let error as JSONRPCError {
            return Answer(id: request.id, error: error)
        } catch is CancellationError {
            return nil
        } catch let refusal as Refusal {
            var answer = Answer(id: request.id, error: refusal.error)
            answer.refusal = Refusal(status: refusal.status, error: refusal.error, id: request.id, retryAfter: refusal.retryAfter)
            return answer
        } catch {
            if Task.isCancelled { return nil }
            logger.error("request failed", metadata: ["mcp.method": "\(request.method)", "mcp.error": "\(error)"])
            return Answer(id: request.id, error: .internalError())
        }
    }

    /// The final response of a stateless request, and its error when it is one.
    struct Answer: Sendable {
        /// The JSON-RPC response.
        var response: JSONValue
        /// The error the response carries, if any.
        var error: JSONRPCError?
        /// The request's id.
        var id: JSONRPCRequestID? { response["id"].flatMap(JSONRPCRequestID.init(json:)) }

        init(response: JSONValue, error: JSONRPCError?) {
            self.response = response
            self.error = error
        }

        init(id: JSONRPCRequestID, error: JSONRPCError) {
            self.init(response: JSONRPCMessage.errorResponse(id: id, error: error).json, error: error)
        }

        /// A refusal of its own (a store that cannot be reached: `503` with `Retry-After`), whatever its error's code.
        var refusal: Refusal?

        /// The reply that carries it: a refusal with its status for an error the transport gives a status of its
        /// own, otherwise the message.
        var reply: TransportReply {
            if let refusal { return .refusal(refusal) }
            guard let error else { return .message(response) }
            let status = Refusal.status(for: error.code)
            return status == 200 ? .message(response) : .refusal(Refusal(status: status, error: error, id: id))
        }
    }

    /// Reads and checks the reserved `_meta` fields of a stateless request.
    func parseStatelessMeta(_ params: [String: JSONValue]) throws(JSONRPCError) -> RequestMeta {
        guard let rawMeta = params["_meta"] else {
            throw .invalidParams("params._meta is required and must carry \(MetaKey.protocolVersion)")
        }
        guard case .object(let meta) = rawMeta else { throw .invalidParams("params._meta must be an object") }
        // One pass over the members rather than a hashed look-up of each long reserved key.
        var rawVersion: JSONValue?, rawCapabilities: JSONValue?, rawLevel: JSONValue?, rawToken: JSONValue?
        var clientInfo: JSONValue?
        for (key, value) in meta {
            switch key {
            case MetaKey.protocolVersion: rawVersion = value
            case MetaKey.clientCapabilities: rawCapabilities = value
            case MetaKey.clientInfo: clientInfo = value
            case MetaKey.logLevel: rawLevel = value
            case MetaKey.progressToken: rawToken = value
            default: break
            }
        }
        guard case .string(let version)? = rawVersion else {
            throw .invalidParams("params._meta.\(MetaKey.protocolVersion) is required")
        }
        guard Self.statelessVersions.contains(version) else {
            throw .unsupportedProtocolVersion(requested: version, supported: Self.statelessVersions)
        }
        guard let capabilities = rawCapabilities else {
            throw .invalidParams("params._meta.\(MetaKey.clientCapabilities) is required")
        }
        guard case .object = capabilities else { throw .invalidParams("\(MetaKey.clientCapabilities) must be an object") }
        var level: LogLevel?
        if let l = rawLevel {
            guard case .string(let s) = l, let parsed = LogLevel(rawValue: s) else {
                throw .invalidParams("\(MetaKey.logLevel) must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            level = parsed
        }
        var token: JSONValue?
        if let t = rawToken {
            switch t {
            case .string, .int: token = t
            default: throw .invalidParams("progressToken must be a string or an integer")
            }
        }
        return RequestMeta(
            protocolVersion: ProtocolVersion(version),
            clientInfo: clientInfo,
            clientCapabilities: capabilities,
            logLevel: level,
            progressToken: token
        )
    }
}
