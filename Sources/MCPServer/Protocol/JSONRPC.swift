//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// A JSON-RPC request id: a string or an integer, never null.
public enum JSONRPCRequestID: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)

    /// The id as a JSON value.
    public var json: JSONValue {
        switch self {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        }
    }

    /// Reads an id from JSON; `nil` for anything but a string or an integer.
    public init?(json: JSONValue) {
        switch json {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        }
    }
}

/// A JSON-RPC error object: `code`, `message` and optional `data`.
public struct JSONRPCError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error code.
    public var code: Int
    /// A short description, safe to show to the client.
    public var message: String
    /// Optional structured detail.
    public var data: JSONValue?

    /// Creates an error object.
    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// The error object as JSON.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["code": .int(Int64(code)), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }

    public var description: String { "JSON-RPC error \(code): \(message)" }

    // MARK: Standard codes

    /// `-32700`: the body is not valid JSON.
    public static let parseErrorCode = -32700
    /// `-32600`: the JSON is not a valid request.
    public static let invalidRequestCode = -32600
    /// `-32601`: the method does not exist.
    public static let methodNotFoundCode = -32601
    /// `-32602`: invalid method parameters.
    public static let invalidParamsCode = -32602
    /// `-32603`: internal error.
    public static let internalErrorCode = -32603
    /// `-32020`: HTTP headers do not match the body, or a required header is missing or malformed.
    public static let headerMismatchCode = -32020
    /// `-32021`: the request needs a client capability the client did not declare.
    public static let missingRequiredClientCapabilityCode = -32021
    /// `-32022`: the requested protocol version is not supported.
    public static let unsupportedProtocolVersionCode = -32022
    /// `-32010`: the replica running the request stopped before it finished (in the implementation-defined range
    /// that 2026-07-28 leaves to servers). The request may be retried.
    public static let replicaStoppedCode = -32010

    /// A parse error.
    public static func parseError(_ detail: String) -> JSONRPCError {
        JSONRPCError(code: parseErrorCode, message: "Parse error: \(detail)")
    }

    /// An invalid-request error.
    public static func invalidRequest(_ detail: String) -> JSONRPCError {
        JSONRPCError(code: invalidRequestCode, message: "Invalid request: \(detail)")
    }

    /// The error of a request whose caller lacks the OAuth scopes `missing` (HTTP `403` with an `insufficient_scope`
    /// challenge).
    public static func insufficientScope(_ missing: [String]) -> JSONRPCError {
        JSONRPCError(code: invalidRequestCode, message: "Forbidden: insufficient scope; this request needs \(missing.joined(separator: " "))")
    }

    /// A method-not-found error.
    public static func methodNotFound(_ method: String) -> JSONRPCError {
        JSONRPCError(code: methodNotFoundCode, message: "Method not found: \(method)")
    }

    /// An invalid-params error.
    public static func invalidParams(_ detail: String, data: JSONValue? = nil) -> JSONRPCError {
        JSONRPCError(code: invalidParamsCode, message: "Invalid params: \(detail)", data: data)
    }

    /// An internal error. Keep `detail` free of secrets: it goes to the client.
    public static func internalError(_ detail: String = "internal error") -> JSONRPCError {
        JSONRPCError(code: internalErrorCode, message: detail)
    }

    /// A header-mismatch error.
    public static func headerMismatch(_ detail: String) -> JSONRPCError {
        JSONRPCError(code: headerMismatchCode, message: "Header mismatch: \(detail)")
    }

    /// An unsupported-protocol-version error listing the versions this server supports.
    public static func unsupportedProtocolVersion(requested: String, supported: [String]) -> JSONRPCError {
        JSONRPCError(
            code: unsupportedProtocolVersionCode,
            message: "Unsupported protocol version",
            data: ["supported": .array(supported.map { .string($0) }), "requested": .string(requested)]
        )
    }

    /// Why a replica stopped before a request finished: the `reason` of a ``replicaStopped(_:replica:)`` error.
    public struct StopReason: Sendable, Hashable, CustomStringConvertible {
        let rawValue: String
        /// The replica died (its lease expired): killed, crashed, or cut off from the store.
        public static let replicaLost = StopReason(rawValue: "replica_lost")
        /// The replica shut down gracefully, and the request was still running at the drain deadline.
        public static let drainDeadline = StopReason(rawValue: "drain_deadline")
        public var description: String { rawValue }
    }

    /// The final error of a request whose replica stopped: `-32010` with
    /// `data: {"reason": "replica_lost" | "drain_deadline", "replica": "<id>"}`.
    public static func replicaStopped(_ reason: StopReason, replica: String) -> JSONRPCError {
        let message = reason == .drainDeadline
            ? "the replica running the request shut down before the request finished; retry it"
            : "the replica running the request stopped before the request finished; retry it"
        return JSONRPCError(code: replicaStoppedCode, message: message, data: ["reason": .string(reason.rawValue), "replica": .string(replica)])
    }

    /// A missing-capability error naming the capabilities the request needs.
    public static func missingRequiredClientCapability(_ capabilities: JSONValue, detail: String) -> JSONRPCError {
        JSONRPCError(
            code: missingRequiredClientCapabilityCode,
            message: "Missing required client capability: \(detail)",
            data: ["requiredCapabilities": capabilities]
        )
    }
}

/// One JSON-RPC message, as read from the wire.
public enum JSONRPCMessage: Sendable, Hashable {
    /// A request: it has an id and a method.
    case request(id: JSONRPCRequestID, method: String, params: [String: JSONValue])
    /// A notification: a method with no id.
    case notification(method: String, params: [String: JSONValue])
    /// A successful response.
    case response(id: JSONRPCRequestID, result: JSONValue)
    /// An error response; the id may be absent.
    case errorResponse(id: JSONRPCRequestID?, error: JSONRPCError)

    /// Parses and validates one message.
    ///
    /// - Throws: ``JSONRPCError`` with `-32700` for text that is not JSON and `-32600` for JSON that is
    ///   not a single valid JSON-RPC 2.0 message (batches are not part of MCP).
    public static func parse(_ bytes: [UInt8]) throws(JSONRPCError) -> JSONRPCMessage {
        let value: JSONValue
        do {
            value = try JSONParser().parse(bytes)
        } catch {
            throw .parseError(error.description)
        }
        return try JSONRPCMessage(validating: value)
    }

    /// Validates a parsed JSON value as one JSON-RPC message.
    public init(validating value: JSONValue) throws(JSONRPCError) {
        guard case .object(let o) = value else {
            if case .array = value { throw .invalidRequest("batches are not supported") }
            throw .invalidRequest("a message must be a JSON object")
        }
        // One pass over the members rather than a hashed look-up per field.
        var version: JSONValue?, rawID: JSONValue?, rawMethod: JSONValue?, rawParams: JSONValue?
        var rawResult: JSONValue?, rawError: JSONValue?
        for (key, member) in o {
            switch key {
            case "jsonrpc": version = member
            case "id": rawID = member
            case "method": rawMethod = member
            case "params": rawParams = member
            case "result": rawResult = member
            case "error": rawError = member
            default: break
            }
        }
        guard version == .string("2.0") else { throw .invalidRequest("\"jsonrpc\" must be \"2.0\"") }
        let id: JSONRPCRequestID?
        if let rawID {
            guard let parsed = JSONRPCRequestID(json: rawID) else {
                throw .invalidRequest("\"id\" must be a string or an integer")
            }
            id = parsed
        } else {
            id = nil
        }
        if let rawMethod {
            guard case .string(let method) = rawMethod, !method.isEmpty else {
                throw .invalidRequest("\"method\" must be a non-empty string")
            }
            guard rawResult == nil, rawError == nil else {
                throw .invalidRequest("a request cannot carry \"result\" or \"error\"")
            }
            var params: [String: JSONValue] = [:]
            if let rawParams {
                guard case .object(let po) = rawParams else { throw .invalidRequest("\"params\" must be an object") }
                params = po
            }
            if let id {
                self = .request(id: id, method: method, params: params)
            } else {
                self = .notification(method: method, params: params)
            }
            return
        }
        if let result = rawResult {
            guard rawError == nil else { throw .invalidRequest("a response cannot carry both result and error") }
            guard let id else { throw .invalidRequest("a response needs an \"id\"") }
            self = .response(id: id, result: result)
            return
        }
        if let error = rawError {
            guard case .object(let eo) = error, let code = eo["code"]?.intValue, case .string(let message)? = eo["message"] else {
                throw .invalidRequest("\"error\" must have an integer code and a string message")
            }
            self = .errorResponse(id: id, error: JSONRPCError(code: code, message: message, data: eo["data"]))
            return
        }
        throw .invalidRequest("a message needs \"method\", \"result\" or \"error\"")
    }

    /// The message as JSON.
    public var json: JSONValue {
        switch self {
        case .request(let id, let method, let params):
            return ["jsonrpc": "2.0", "id": id.json, "method": .string(method), "params": .object(params)]
        case .notification(let method, let params):
            return ["jsonrpc": "2.0", "method": .string(method), "params": .object(params)]
        case .response(let id, let result):
            return ["jsonrpc": "2.0", "id": id.json, "result": result]
        case .errorResponse(let id, let error):
            var o: [String: JSONValue] = ["jsonrpc": "2.0", "error": error.json]
            if let id { o["id"] = id.json }
            return .object(o)
        }
    }
}
