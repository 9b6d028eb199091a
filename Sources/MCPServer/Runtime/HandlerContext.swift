//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging

/// Where a request's notifications go: the response stream of that request.
public protocol MessageSink: Sendable {
    /// Sends one JSON-RPC message on the request's stream.
    /// - Throws: when the stream is gone (the client disconnected); the handler should stop.
    func send(_ message: JSONValue) async throws
}

/// A sink that drops everything; for requests that have no stream.
public struct DiscardingSink: MessageSink {
    public init() {}
    public func send(_ message: JSONValue) async throws {}
}

/// The per-request metadata the client sent in `_meta`.
public struct RequestMeta: Sendable {
    /// The protocol revision of the request.
    public var protocolVersion: ProtocolVersion
    /// The client's self-reported identity (`name`, `version`, ...).
    public var clientInfo: JSONValue?
    /// The capabilities the client declared for this request.
    public var clientCapabilities: JSONValue
    /// The level at and above which the client wants `notifications/message`; `nil` means none.
    public var logLevel: LogLevel?
    /// The token to put on progress notifications; `nil` means the client wants none.
    public var progressToken: JSONValue?

    /// Creates request metadata.
    public init(
        protocolVersion: ProtocolVersion,
        clientInfo: JSONValue? = nil,
        clientCapabilities: JSONValue = [:],
        logLevel: LogLevel? = nil,
        progressToken: JSONValue? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.clientInfo = clientInfo
        self.clientCapabilities = clientCapabilities
        self.logLevel = logLevel
        self.progressToken = progressToken
    }

    /// Whether the client declared the capability at `path` (for example `["elicitation", "url"]`).
    public func hasCapability(_ path: String...) -> Bool {
        var node: JSONValue? = clientCapabilities
        for key in path { node = node?[key] }
        if case .object? = node { return true }
        if case .bool(true)? = node { return true }
        return false
    }
}

/// Asks the client for input. Stateless requests answer through MRTR rounds; sessions through server-to-client
/// requests.
protocol InputChannel: Sendable {
    /// Asks for every request of `requests` and returns their answers, in the same order.
    func request(_ requests: [InputRequest], context: HandlerContext) async throws -> [JSONValue]
}

/// One thing a handler needs from the client: an answer to an elicitation, a sampling request or a roots listing.
///
/// In a 2026-07-28 request, every input a handler asks for at once (``HandlerContext/inputs(_:)``) goes out in one
/// `InputRequiredResult`, each under its key in `inputRequests`; in a session each is a server-to-client request.
public struct InputRequest: Sendable, Hashable {
    /// The key of the request in `inputRequests`: the client answers under the same key in `inputResponses`.
    /// `nil` gives `input-<n>`, numbered in the order the handler asks.
    public var key: String?
    /// The client method: `elicitation/create`, `sampling/createMessage` or `roots/list`.
    public var method: String
    /// Its params.
    public var params: JSONValue

    /// Creates a request for `method` with `params`; the public factories below are the methods a client can be
    /// asked (a session's `ping` is internal).
    init(method: String, params: JSONValue, key: String? = nil) {
        self.key = key
        self.method = method
        self.params = params
    }

    /// A form-mode elicitation.
    /// - Parameters:
    ///   - message: what to ask.
    ///   - requestedSchema: a flat object schema of primitive properties.
    ///   - key: its key in `inputRequests`; `nil` numbers it (`input-<n>`, a form reserved for that).
    public static func elicitation(message: String, requestedSchema: JSONValue, key: String? = nil) -> InputRequest {
        InputRequest(
            method: "elicitation/create",
            params: ["mode": "form", "message": .string(message), "requestedSchema": requestedSchema],
            key: key
        )
    }

    /// A URL-mode elicitation: the user is sent to `url` out of band.
    /// - Parameters:
    ///   - message: why.
    ///   - url: where to go.
    ///   - elicitationID: the id the client reports completion with.
    ///   - key: its key in `inputRequests`; `nil` numbers it.
    public static func urlElicitation(message: String, url: String, elicitationID: String, key: String? = nil) -> InputRequest {
        InputRequest(
            method: "elicitation/create",
            params: ["mode": "url", "message": .string(message), "url": .string(url), "elicitationId": .string(elicitationID)],
            key: key
        )
    }

    /// A sampling request.
    /// - Parameters:
    ///   - params: a `CreateMessageRequestParams` object.
    ///   - key: its key in `inputRequests`; `nil` numbers it.
    public static func sampling(_ params: JSONValue, key: String? = nil) -> InputRequest {
        InputRequest(method: "sampling/createMessage", params: params, key: key)
    }

    /// A request for the client's roots.
    /// - Parameter key: its key in `inputRequests`; `nil` numbers it.
    public static func roots(key: String? = nil) -> InputRequest {
        InputRequest(method: "roots/list", params: [:], key: key)
    }
}

/// What a handler knows about its request, and how it talks back to the client.
///
/// The same handler code serves every protocol generation: in a 2026-07-28 request, ``elicit(message:requestedSchema:key:)``
/// ends the round with an `InputRequiredResult` and returns the answer when the client retries; in a session it sends
/// a server-to-client request and waits for the answer.
public struct HandlerContext: Sendable {
    /// The JSON-RPC id of the request.
    public let requestID: JSONRPCRequestID
    /// The method, e.g. `tools/call`.
    public let method: String
    /// The authenticated caller.
    public let principal: Principal
    /// The request's `_meta` as parsed.
    public let meta: RequestMeta
    /// A logger with request metadata attached.
    public let logger: Logger
    let sink: any MessageSink
    let inputChannel: any InputChannel
    let runtime: HandlerRuntime
    let session: SessionContext?

    init(
        requestID: JSONRPCRequestID,
        method: String,
        principal: Principal,
        meta: RequestMeta,
        logger: Logger,
        sink: any MessageSink,
        inputChannel: any InputChannel,
        runtime: HandlerRuntime,
        session: SessionContext? = nil
    ) {
        self.requestID = requestID
        self.method = method
        self.principal = principal
        self.meta = meta
        self.logger = logger
        self.sink = sink
        self.inputChannel = inputChannel
        self.runtime = runtime
        self.session = session
    }

    /// The deployment's shared key-value store: state that every replica must see (a counter, a cache) belongs
    /// here, never in a handler's process memory.
    public var store: any SessionStore { runtime.store }

    /// The id of the replica running this handler.
    public var replicaID: String { runtime.replicaID }

    /// A snapshot of the counters of the runtime running this handler.
    public var statistics: MCPServer.Statistics { runtime.supervisor.statistics.withLock { $0 } }

    /// Whether the request was cancelled (for example, the client closed the response stream).
    public var isCancelled: Bool { Task.isCancelled }

    /// Throws `CancellationError` if the request was cancelled.
    public func checkCancellation() throws { try Task.checkCancellation() }

    /// Reports progress, if the client asked for it with a progress token. Progress must increase.
    public func progress(_ progress: Double, total: Double? = nil, message: String? = nil) async throws {
        if let task = sink as? TaskSink {
            // A task has no progress notifications: its message becomes the task's statusMessage.
            if let message { try await task.status(message) }
            return
        }
        guard let token = meta.progressToken else { return }
        var params: [String: JSONValue] = ["progressToken": token, "progress": .double(progress)]
        if let total { params["total"] = .double(total) }
        if let message { params["message"] = .string(message) }
        try await sink.send(["jsonrpc": "2.0", "method": "notifications/progress", "params": .object(params)])
    }

    /// Sends a log message, if the client asked for messages at `level` or above.
    public func log(_ level: LogLevel, _ data: JSONValue, logger name: String? = nil) async throws {
        let wanted: LogLevel?
        if let session {
            // A session's level can change while the handler runs (logging/setLevel, on any replica).
            wanted = try await runtime.sessions.load(session.sessionID)?.logLevel
        } else {
            wanted = meta.logLevel
        }
        guard let wanted, level >= wanted else { return }
        var params: [String: JSONValue] = ["level": .string(level.rawValue), "data": data]
        if let name { params["logger"] = .string(name) }
        try await sink.send(["jsonrpc": "2.0", "method": "notifications/message", "params": .object(params)])
    }

    /// Asks the user for structured input through a form (elicitation, form mode).
    /// - Parameters:
    ///   - message: what to ask.
    ///   - requestedSchema: a flat object schema of primitive properties.
    ///   - key: its key in `inputRequests` (2026-07-28); `nil` numbers it.
    public func elicit(message: String, requestedSchema: JSONValue, key: String? = nil) async throws -> ElicitResult {
        try ElicitResult(json: try await input(.elicitation(message: message, requestedSchema: requestedSchema, key: key)))
    }

    /// Asks the client for one input and returns its answer.
    /// - Parameter request: the elicitation, sampling or roots request.
    /// - Returns: the client's `ElicitResult`, `CreateMessageResult` or `ListRootsResult` object.
    public func input(_ request: InputRequest) async throws -> JSONValue {
        try await inputChannel.request([request], context: self)[0]
    }

    /// Asks the client for several inputs at once. In a 2026-07-28 request they all go out in one
    /// `InputRequiredResult` (the client may answer them together); in a session they are sent one after another.
    /// Every capability they need is checked before any is asked.
    /// - Parameter requests: the requests; no key twice, and none of the form `input-<n>`.
    /// - Returns: the answers, in the order of `requests`.
    public func inputs(_ requests: [InputRequest]) async throws -> [JSONValue] {
        guard !requests.isEmpty else { return [] }
        return try await inputChannel.request(requests, context: self)
    }

    /// Asks the user to visit a URL out of band (elicitation, URL mode).
    /// - Parameters:
    ///   - message: why.
    ///   - url: where to go.
    ///   - elicitationID: the id the client reports completion with.
    ///   - key: its key in `inputRequests` (2026-07-28); `nil` numbers it.
    public func elicitURL(message: String, url: String, elicitationID: String, key: String? = nil) async throws -> ElicitResult {
        try ElicitResult(json: try await input(.urlElicitation(message: message, url: url, elicitationID: elicitationID, key: key)))
    }

    /// Asks the client's model for a completion (sampling).
    /// - Parameters:
    ///   - params: a `CreateMessageRequestParams` object.
    ///   - key: its key in `inputRequests` (2026-07-28); `nil` numbers it.
    /// - Returns: the `CreateMessageResult` object.
    public func sample(_ params: JSONValue, key: String? = nil) async throws -> JSONValue {
        try await input(.sampling(params, key: key))
    }

    /// Asks the client for a plain-text completion of a single user message.
    public func sample(prompt: String, maxTokens: Int = 256, systemPrompt: String? = nil) async throws -> String {
        var params: [String: JSONValue] = [
            "messages": [["role": "user", "content": ["type": "text", "text": .string(prompt)]]],
            "maxTokens": .int(Int64(maxTokens)),
        ]
        if let systemPrompt { params["systemPrompt"] = .string(systemPrompt) }
        let result = try await sample(.object(params))
        if let text = result["content"]?["text"]?.stringValue { return text }
        if let blocks = result["content"]?.arrayValue {
            return blocks.compactMap { $0["text"]?.stringValue }.joined()
        }
        throw JSONRPCError.invalidParams("sampling result has no text content")
    }

    /// Asks the client for its roots.
    /// - Parameter key: its key in `inputRequests` (2026-07-28); `nil` numbers it.
    public func listRoots(key: String? = nil) async throws -> [Root] {
        let result = try await input(.roots(key: key))
        guard let roots = result["roots"]?.arrayValue else { throw JSONRPCError.invalidParams("roots result has no roots array") }
        return try roots.map { r throws(JSONRPCError) -> Root in
            guard let uri = r["uri"]?.stringValue else { throw JSONRPCError.invalidParams("a root needs a uri") }
            return Root(uri: uri, name: r["name"]?.stringValue)
        }
    }

    /// Pings the client. In a session this sends a `ping` request on the request's stream and waits for the answer
    /// (or the client-request timeout); 2026-07-28 has no server-to-client ping, so there it returns at once.
    public func pingClient() async throws {
        guard session != nil else { return }
        _ = try await inputChannel.request([InputRequest(method: "ping", params: [:])], context: self)
    }

    /// Ends the SSE response that carries this request's stream, without ending the stream (SEP-1699): the client
    /// reconnects after the stream's `retry` interval with `GET` and `Last-Event-ID`, on any replica, and receives
    /// everything the handler sends after this. It spares long-lived responses through proxies. The request's reply
    /// becomes a stream if it was not one yet. Only a session request has a resumable stream: elsewhere (a 2026-07-28
    /// request, a request in a batch, the 2024-11-05 transport) and after the final response it does nothing.
    public func closeStreamConnection() async throws {
        guard session != nil, let channel = sink as? RequestStreamChannel else { return }
        try await channel.breakConnection()
    }

    /// Publishes `notifications/resources/updated` for `uri` to every subscriber, on every replica.
    public func notifyResourceUpdated(uri: String) async throws {
        try await runtime.notifier.resourceUpdated(uri: uri)
    }

    /// Publishes `notifications/<kind>/list_changed` on every replica.
    public func notifyListChanged(_ kind: ListKind) async throws {
        try await runtime.notifier.listChanged(kind)
    }
}

/// What a handler's context reaches of the runtime: the shared store, notifications, the session state, the counters.
struct HandlerRuntime: Sendable {
    let store: any SessionStore
    let sessions: Sessions
    let supervisor: Supervisor
    let notifier: Notifier
    let replicaID: String

    init(backends: Backends, sessions: Sessions, supervisor: Supervisor, notifier: Notifier, replicaID: String) {
        self.store = backends.sessionStore
        self.sessions = sessions
        self.supervisor = supervisor
        self.notifier = notifier
        self.replicaID = replicaID
    }
}
