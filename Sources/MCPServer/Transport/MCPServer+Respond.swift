//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

/// The one entry point of the runtime: one ``TransportRequest`` in, one ``TransportReply`` out.
///
/// The walk of a request, top to bottom: ``route(_:)`` decides synchronously what the request is (a stateless
/// request, a session's message or batch, a session stream, a session end) and refuses what is malformed; then one
/// async step serves it: dispatch for a stateless request, ``Sessions`` and dispatch for a session's request,
/// ``SessionStreams`` for a stream.
extension MCPServer {
    /// Answers one request. A transport makes exactly this one call per request, and writes what it returns.
    ///
    /// Its async frame, and those of what it calls on the stateless path, stay on the connection's task for as long
    /// as the connection lives (a listen stream, a keep-alive connection), so it only switches: the decisions are in
    /// the synchronous ``route(_:)``, and the session work, with its store failures, in ``serveSession(_:_:)``.
    /// `scripts/check-stream-memory` guards the budget (docs/performance.md, "Frame sizes").
    /// - Throws: `CancellationError` only, when the request was cancelled and must get no response.
    package func respond(to request: TransportRequest) async throws -> TransportReply {
        switch route(request) {
        case .reply(let reply):
            return reply
        case .stateless(let call):
            guard let answer = await answer(call, sink: DiscardingSink()) else { throw CancellationError() }
            return answer.reply
        case .streaming(let call):
            return try await streamingReply(call, threshold: request.pacing.streamingThreshold)
        case .session(let work):
            return try await serveSession(work, request)
        }
    }

    /// Serves what concerns a session: a message, a batch, a stream, an end. A failure of the shared store is a
    /// `503` with `Retry-After`, never a `404`: clients take that as "session gone".
    @inline(never)
    func serveSession(_ work: SessionWork, _ request: TransportRequest) async throws -> TransportReply {
        do {
            switch work {
            case .message(let message):
                return try await sessionReply(message, request)
            case .batch(let elements):
                return try await batchReply(elements, request)
            case .openStream(let sessionID, let lastEventID):
                guard try await sessions.resume(sessionID, principal: request.principal) != nil else { return .refusal(.sessionNotFound) }
                return try await streams.open(session: sessionID, lastEventID: lastEventID, pacing: request.pacing)
            case .endSession(let sessionID):
                guard try await sessions.resume(sessionID, principal: request.principal) != nil else { return .refusal(.sessionNotFound) }
                try await deleteSession(sessionID)
                return .done
            case .openMessageStream(let messagesPath):
                return try await messageStreams.open(principal: request.principal, messagesPath: messagesPath)
            case .streamMessage(let body):
                return try await messageReply(body, request)
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return unavailable(error)
        }
    }

    /// Where ``route(_:)`` sends a request.
    enum Route {
        /// Answered already: a refusal, a notification's `202`, or a listen stream (which opens when written).
        case reply(TransportReply)
        /// A 2026-07-28 request answered with one message.
        case stateless(IncomingRequest)
        /// A 2026-07-28 request whose handler may stream.
        case streaming(IncomingRequest)
        /// Work on a session.
        case session(SessionWork)
    }

    /// What ``route(_:)`` found a session request to be.
    enum SessionWork {
        /// A message of a session (or an `initialize` that creates one).
        case message(JSONRPCMessage)
        /// A JSON-RPC batch (2025-03-26 sessions only).
        case batch([JSONValue])
        /// A session's stream: resume after `lastEventID`, or open the standalone stream.
        case openStream(sessionID: String, lastEventID: String?)
        /// End a session.
        case endSession(sessionID: String)
        /// HTTP+SSE (2024-11-05): open a session and its stream.
        case openMessageStream(messagesPath: String)
        /// HTTP+SSE (2024-11-05): a message POSTed into a session.
        case streamMessage(JSONValue)
    }

    /// Decides what a request is, with no I/O: the checks, the era and the method. Not inlined into
    /// ``respond(to:)``, whose async frame a listen stream's task keeps for as long as it lives.
    @inline(never)
    func route(_ request: TransportRequest) -> Route {
        switch request.action {
        case .post(.array(let elements)):
            return .session(.batch(elements))
        case .post(let body):
            let message: JSONRPCMessage
            do throws(JSONRPCError) {
                message = try JSONRPCMessage(validating: body)
            } catch {
                return .reply(.refusal(.badRequest(error)))
            }
            if isSessionMessage(message, protocolVersion: request.metadata.protocolVersion, sessionID: request.sessionID) {
                return .session(.message(message))
            }
            return statelessRoute(message, request)
        case .openStream(let lastEventID):
            guard let sessionID = request.sessionID else { return .reply(.refusal(.badRequest(.invalidRequest("the Mcp-Session-Id header is required")))) }
            if let version = request.metadata.protocolVersion, !Sessions.versions.contains(version) {
                return .reply(.refusal(.badRequest(.invalidRequest("unsupported MCP-Protocol-Version '\(version)'"))))
            }
            return .session(.openStream(sessionID: sessionID, lastEventID: lastEventID))
        case .endSession:
            guard let sessionID = request.sessionID else { return .reply(.refusal(.badRequest(.invalidRequest("the Mcp-Session-Id header is required")))) }
            return .session(.endSession(sessionID: sessionID))
        case .openMessageStream(let messagesPath):
            return .session(.openMessageStream(messagesPath: messagesPath))
        case .postMessage(let body):
            guard request.sessionID != nil else { return .reply(.refusal(.badRequest(.invalidRequest("the sessionId query parameter is required")))) }
            return .session(.streamMessage(body))
        }
    }

    /// Whether a message belongs to a session rather than to a stateless request, from the `MCP-Protocol-Version`
    /// header, the session id, and the body.
    func isSessionMessage(_ message: JSONRPCMessage, protocolVersion: String?, sessionID: String?) -> Bool {
        if case .request(_, "initialize", _) = message, protocolVersion.map({ !Self.statelessVersions.contains($0) }) ?? true {
            return true
        }
        // A version header decides: a session version is a session; a stateless or unknown one is answered the
        // stateless way (an unknown version gets UnsupportedProtocolVersionError, which dual-era clients understand).
        if let version = protocolVersion { return Sessions.versions.contains(version) }
        // No header: 2025-03-26 clients sent none.
        if sessionID != nil { return true }
        switch message {
        case .request(_, _, let params), .notification(_, let params):
            // A request carrying stateless `_meta` but no version header is a stateless request missing its header.
            return params["_meta"]?[MetaKey.protocolVersion] == nil
        case .response, .errorResponse:
            return true
        }
    }

    /// The route of a 2026-07-28 message: its metadata headers checked, its method known.
    func statelessRoute(_ message: JSONRPCMessage, _ request: TransportRequest) -> Route {
        switch message {
        case .notification:
            // No client notification changes anything in 2026-07-28 over HTTP; accept and ignore.
            return .reply(.accepted)
        case .response, .errorResponse:
            return .reply(.refusal(.badRequest(.invalidRequest("this endpoint does not accept JSON-RPC responses"))))
        case .request(let id, let method, let params):
            if let error = validateHeaders(request.metadata, method: method, params: params) {
                return .reply(.refusal(.badRequest(error, id: id)))
            }
            guard Self.statelessMethods.contains(method) else {
                return .reply(.refusal(Refusal(status: 404, error: .methodNotFound(method), id: id)))
            }
            if let refusal = scopeRefusal(method: method, params: params, principal: request.principal, id: id) { return .reply(.refusal(refusal)) }
            let call = IncomingRequest(id: id, method: method, params: params, principal: request.principal)
            switch method {
            case "subscriptions/listen":
                do throws(JSONRPCError) {
                    return .reply(.stream(try listenStream(call)))
                } catch {
                    return .reply(Refusal.reply(error, id: id))
                }
            case "tools/call", "resources/read", "prompts/get":
                return .streaming(call)
            default:
                return .stateless(call)
            }
        }
    }

    /// A failure of the shared store (or bus) while serving a request: `503` with `Retry-After`, never a `404`.
    @inline(never)
    func unavailable(_ error: any Error) -> TransportReply {
        logger.warning("the shared store failed while serving a request", metadata: ["mcp.error": "\(error)"])
        return .refusal(.storeUnavailable)
    }

    // MARK: Stateless requests

    /// Runs a stateless request that may stream: answered as JSON if it finishes silently within the streaming
    /// threshold, and otherwise as a stream of its notifications and final response.
    ///
    /// The handler starts at once on this thread (`Task.immediate`): one that finishes without suspending, as most
    /// do, is answered as JSON with no timer, no second task switch and no stream.
    func streamingReply(_ call: IncomingRequest, threshold: Duration) async throws -> TransportReply {
        let race = ResponseRace()
        // The handler's task is owned by the reply: it is cancelled when this request is cancelled, and when the
        // stream ends or is dropped.
        let task = Task.immediate {
            race.finish(await self.answer(call, sink: race))
        }
        if case .finished(let answer) = race.settle() {
            guard let answer else { throw CancellationError() }
            return answer.reply
        }
        await withTaskCancellationHandler {
            await race.waitForDecision(threshold: threshold)
        } onCancel: {
            task.cancel()
        }
        switch race.decide() {
        case .finished(let answer):
            guard let answer else { throw CancellationError() }
            return answer.reply
        case .streaming(let events, let continuation):
            continuation.onTermination = { _ in task.cancel() }
            return .stream(.handler(task, events: events, continuation: continuation))
        }
    }

    // MARK: Sessions

    /// Serves a message of a session.
    func sessionReply(_ message: JSONRPCMessage, _ request: TransportRequest) async throws -> TransportReply {
        if case .request(let id, "initialize", let params) = message {
            let (sessionID, response) = try await createSession(IncomingRequest(id: id, method: "initialize", params: params, principal: request.principal))
            return .message(response, sessionID: sessionID)
        }
        guard let sessionID = request.sessionID else {
            return .refusal(.badRequest(.invalidRequest("the Mcp-Session-Id header is required; send initialize first")))
        }
        // An answer waits for the store (answerReply); everything else needs the session at once.
        switch message {
        case .response(let id, let result):
            return try await answerReply(sessionID: sessionID, id: id, result: .success(result), principal: request.principal)
        case .errorResponse(let id, let error):
            return try await answerReply(sessionID: sessionID, id: id, result: .failure(error), principal: request.principal)
        case .notification(let method, let params):
            guard try await sessions.resume(sessionID, principal: request.principal) != nil else { return .refusal(.sessionNotFound) }
            await handleSessionNotification(sessionID: sessionID, method: method, params: params)
            return .accepted
        case .request(let id, let method, let params):
            guard let session = try await sessions.resume(sessionID, principal: request.principal) else {
                return .refusal(.sessionNotFound)
            }
            if let refusal = scopeRefusal(method: method, params: params, principal: request.principal, id: id) { return .refusal(refusal) }
            let call = IncomingRequest(id: id, method: method, params: params, principal: request.principal)
            switch method {
            case "tools/call", "resources/read", "prompts/get", "tasks/result":
                return try await sessionStreamingReply(call, sessionID: sessionID, session: session, pacing: request.pacing)
            default:
                guard let response = await handleSessionRequest(call, sessionID: sessionID, session: session, sink: DiscardingSink()) else {
                    // Cancelled by the client (notifications/cancelled, DELETE): no response follows; an empty stream
                    // ends the request.
                    return .stream(.buffered([]))
                }
                return .message(response)
            }
        }
    }

    /// Serves a client's answer to a server-to-client request of a session. A store that fails for a moment is waited
    /// for (up to 10 seconds) rather than answered with `503`: a handler waits for the answer, and clients rarely send
    /// an answer again.
    func answerReply(sessionID: String, id: JSONRPCRequestID?, result: Result<JSONValue, JSONRPCError>, principal: Principal) async throws -> TransportReply {
        try await ridingOutTheStore { retry in
            guard try await sessions.resume(sessionID, principal: principal) != nil else { return .refusal(.sessionNotFound) }
            if case .string(let key)? = id, ClusterWire.Identifier.taskInput(key) != nil {
                // An answer to a task's input request (tasks/result): it goes to the task, on any replica.
                guard try await answerTaskInput(key, result: result, principal: principal) else {
                    return .refusal(.badRequest(.invalidRequest("no task input is waiting for \(key): unknown or already answered")))
                }
                return .accepted
            }
            return try await routeAnswer(sessionID: sessionID, id: id, result: result, retry: retry)
        }
    }

    /// Runs `body` again while it fails, as a store that fails for a moment makes it, until `limit` has passed; then
    /// answers `503`. `body` is told whether an earlier try failed.
    func ridingOutTheStore(
        for limit: Duration = .seconds(10), _ body: (_ retry: Bool) async throws -> TransportReply
    ) async throws -> TransportReply {
        do {
            return try await retryingStoreFailures(for: limit, retryProtocolErrors: true, body)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return unavailable(error)
        }
    }

    /// Runs `body` again while it fails (backoff from 50 ms to 1 s) until `limit` has passed, then throws its last
    /// error. A cancellation, and (unless `retryProtocolErrors`) a JSON-RPC error, is thrown at once. `body` is told
    /// whether an earlier try failed.
    func retryingStoreFailures<T: Sendable>(
        for limit: Duration, retryProtocolErrors: Bool = false, _ body: (_ retry: Bool) async throws -> T
    ) async throws -> T {
        let deadline = ContinuousClock.now + limit
        var backoff = Duration.milliseconds(50)
        var retry = false
        while true {
            do {
                return try await body(retry)
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as JSONRPCError where !retryProtocolErrors {
                throw error
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                retry = true
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
            }
        }
    }

    /// Routes a client's answer to a server-to-client request of a session: `202`, or `400` for an answer that is
    /// unknown or already given (`retry`: see ``Relay/route(session:id:result:retry:)``).
    func routeAnswer(
        sessionID: String, id: JSONRPCRequestID?, result: Result<JSONValue, JSONRPCError>, retry: Bool = false
    ) async throws -> TransportReply {
        guard let id, try await relay.route(session: sessionID, id: id, result: result, retry: retry) else {
            let which = id.map { "with id \($0) " } ?? "with this id "
            return .refusal(.badRequest(.invalidRequest("no request \(which)is waiting: unknown or already answered")))
        }
        return .accepted
    }

    /// Runs a session's handler as work this replica owns (a disconnect is not a cancellation), and answers with
    /// JSON or with a stream read from the event log. The handler starts at once on this thread: one that finishes
    /// without suspending is answered with no timer and no task switch.
    func sessionStreamingReply(_ call: IncomingRequest, sessionID: String, session: SessionState, pacing: StreamPacing) async throws -> TransportReply {
        let channel = RequestStreamChannel(
            log: backends.eventLog, store: backends.sessionStore, sessionID: sessionID, requestID: call.id,
            replicaID: configuration.replicaID, incarnation: leases.incarnation, ttl: configuration.sessionTTL,
            retention: configuration.eventRetention, logger: logger
        )
        let job: @Sendable () async -> Void = {
            let response = await self.handleSessionRequest(call, sessionID: sessionID, session: session, sink: channel)
            await channel.finish(response)
        }
        if !supervisor.start(job) {
            // Draining: new work goes to another replica; this one could not see it to its end.
            if isDraining {
                return .refusal(Refusal(
                    status: 503,
                    error: JSONRPCError(code: JSONRPCError.internalErrorCode, message: "this replica is shutting down; retry the request"),
                    id: call.id,
                    retryAfter: .seconds(1)
                ))
            }
            // Not running (embedded without `run()`): run it as part of this request.
            await job()
        }
        var signal = channel.decision
        if signal == nil {
            signal = await withTaskGroup(of: RequestStreamChannel.Signal?.self) { group in
                group.addTask {
                    for await s in channel.signals { return s }
                    return nil
                }
                group.addTask {
                    try? await Task.sleep(for: pacing.streamingThreshold)
                    if !Task.isCancelled { await channel.startStreaming() }
                    return nil
                }
                var result: RequestStreamChannel.Signal?
                for await s in group {
                    if let s {
                        result = s
                        break
                    }
                }
                group.cancelAll()
                return result
            }
        }
        switch signal {
        case nil:
            throw CancellationError()
        case .final(let response?):
            return .message(response)
        case .final(nil):
            // Cancelled by the client: no response follows; an empty stream ends the request.
            return .stream(.buffered([]))
        case .streaming(let key):
            return .stream(streams.requestStream(session: sessionID, stream: key, after: 0, priming: true, pacing: pacing))
        }
    }

    /// JSON-RPC batches exist only in 2025-03-26; every other revision gets `400`.
    func batchReply(_ elements: [JSONValue], _ request: TransportRequest) async throws -> TransportReply {
        let refusal = Refusal.badRequest(.invalidRequest("batches are not supported"))
        if let version = request.metadata.protocolVersion, version != ProtocolVersion.v2025_03_26.rawValue {
            return .refusal(refusal)
        }
        guard let sessionID = request.sessionID else { return .refusal(refusal) }
        guard let session = try await sessions.resume(sessionID, principal: request.principal) else {
            return .refusal(.sessionNotFound)
        }
        guard session.protocolVersion == .v2025_03_26 else {
            return .refusal(.badRequest(.invalidRequest("batches are not supported in protocol \(session.protocolVersion)")))
        }
        guard !elements.isEmpty else { return .refusal(.badRequest(.invalidRequest("an empty batch"))) }
        let responses = await handleSessionBatch(elements, sessionID: sessionID, session: session, principal: request.principal)
        if responses.isEmpty { return .accepted }
        return .message(.array(responses))
    }
}

/// Decides between JSON and a stream for one stateless request: a handler that finishes silently before the decision
/// hands its response over directly, and no stream is made; a notification, or the streaming threshold passing,
/// makes the stream that carries everything from then on.
final class ResponseRace: MessageSink {
    typealias Events = (stream: AsyncStream<OutboundEvent>, continuation: AsyncStream<OutboundEvent>.Continuation)

    enum State {
        /// The handler is running and has sent nothing; nothing is decided.
        case starting
        /// The handler finished first, silently: its answer (`nil` when cancelled).
        case finished(MCPServer.Answer?)
        /// Everything goes through the stream.
        case streaming(Events)
    }

    /// What the decision was.
    enum Outcome {
        case finished(MCPServer.Answer?)
        case streaming(AsyncStream<OutboundEvent>, AsyncStream<OutboundEvent>.Continuation)
    }

    private let state = Mutex(State.starting)
    /// Resumed once when something happens: a notification, the final response, the threshold.
    private let decided = Mutex<(happened: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// The response, if the handler has finished silently; otherwise nothing is decided yet.
    func settle() -> Outcome? {
        state.withLock { s in
            if case .finished(let response) = s { return .finished(response) }
            return nil
        }
    }

    /// Waits until the handler sends something, finishes, or is silent for `threshold`.
    func waitForDecision(threshold: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: threshold)
                self.happen()
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = decided.withLock { d -> Bool in
                    if d.happened { return true }
                    d.waiter = c
                    return false
                }
                if ready { c.resume() }
            }
            group.cancelAll()
        }
    }

    /// Decides: the response if the handler finished silently, otherwise the stream (opened now if need be).
    func decide() -> Outcome {
        state.withLock { s in
            if case .finished(let response) = s { return .finished(response) }
            let events = Self.stream(&s)!
            return .streaming(events.stream, events.continuation)
        }
    }

    private func happen() {
        let waiter = decided.withLock { d -> CheckedContinuation<Void, Never>? in
            d.happened = true
            let w = d.waiter
            d.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// The stream, opened now if the handler has sent nothing and nothing is decided; `nil` once the handler
    /// finished first.
    private static func stream(_ s: inout State) -> Events? {
        switch s {
        case .starting:
            let events = AsyncStream<OutboundEvent>.makeStream()
            s = .streaming(events)
            return events
        case .streaming(let events):
            return events
        case .finished:
            return nil
        }
    }

    /// A notification from the handler: it always goes through the stream.
    func send(_ message: JSONValue) async throws {
        let continuation = state.withLock { Self.stream(&$0)?.continuation }
        happen()
        guard let continuation, case .enqueued = continuation.yield(.message(message)) else { throw CancellationError() }
    }

    /// The handler's answer (`nil` when cancelled).
    func finish(_ answer: MCPServer.Answer?) {
        let continuation = state.withLock { s -> AsyncStream<OutboundEvent>.Continuation? in
            switch s {
            case .starting:
                s = .finished(answer)
                return nil
            case .streaming(let events):
                return events.continuation
            case .finished:
                return nil
            }
        }
        happen()
        guard let continuation else { return }
        if let answer { continuation.yield(.message(answer.response)) }
        continuation.finish()
    }
}
