//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// The POSTs of the 2024-11-05 HTTP+SSE transport (``MessageStreams`` serves the streams): any replica accepts a
/// session's message with `202`, runs it as work it owns, and appends what it answers to the session's message log,
/// which the replica holding the stream writes.
extension MCPServer {
    /// Serves one POSTed message (or batch) of an HTTP+SSE session. A store that fails for a moment is waited for
    /// (up to 10 seconds) rather than answered with `503`: the clients of this transport stop sending for good at
    /// the first refused POST.
    func messageReply(_ body: JSONValue, _ request: TransportRequest) async throws -> TransportReply {
        guard let sessionID = request.sessionID else {
            return .refusal(.badRequest(.invalidRequest("the sessionId query parameter is required")))
        }
        return try await ridingOutTheStore { retry in
            try await acceptMessage(body, sessionID: sessionID, principal: request.principal, retry: retry)
        }
    }

    /// One try of ``messageReply(_:_:)``: everything up to the start of the work may be repeated (a mark written
    /// twice changes nothing; an answer's claim written by a failed try is recognized, `retry`).
    func acceptMessage(_ body: JSONValue, sessionID: String, principal: Principal, retry: Bool = false) async throws -> TransportReply {
        guard let session = try await sessions.resume(sessionID, principal: principal) else { return .refusal(MessageStreams.gone) }
        let log = MessageStreamSink(log: backends.eventLog, stream: ClusterWire.Stream.messageStream(session: sessionID), ttl: configuration.sessionTTL)
        if case .array(let elements) = body {
            guard session.protocolVersion <= .v2025_03_26 else {
                return .refusal(.badRequest(.invalidRequest("batches are not supported in protocol \(session.protocolVersion)")))
            }
            guard !elements.isEmpty else { return .refusal(.badRequest(.invalidRequest("an empty batch"))) }
            let ids = elements.compactMap { element -> JSONRPCRequestID? in
                guard case .request(let id, _, _)? = try? JSONRPCMessage(validating: element) else { return nil }
                return id
            }
            for id in ids { try await log.mark(.accepted(id, replica: configuration.replicaID, incarnation: leases.incarnation)) }
            guard try await messageStreamIsOpen(sessionID) else { return try await refuse(ids, log: log) }
            return try await run(ids: ids, log: log) {
                let responses = await self.handleSessionBatch(elements, sessionID: sessionID, session: session, principal: principal)
                // A batch's requests are marked one by one, and answered in one array: each is done once it is written.
                return responses.isEmpty ? ids.map { .done($0) } : [.message(.array(responses))] + ids.map { .done($0) }
            }
        }
        let message: JSONRPCMessage
        do throws(JSONRPCError) {
            message = try JSONRPCMessage(validating: body)
        } catch {
            return .refusal(.badRequest(error))
        }
        switch message {
        case .notification(let method, let params):
            guard try await messageStreamIsOpen(sessionID) else { return .refusal(MessageStreams.gone) }
            await handleSessionNotification(sessionID: sessionID, method: method, params: params)
            return .accepted
        case .response(let id, let result):
            return try await routeAnswer(sessionID: sessionID, id: id, result: .success(result), retry: retry)
        case .errorResponse(let id, let error):
            return try await routeAnswer(sessionID: sessionID, id: id, result: .failure(error), retry: retry)
        case .request(let id, let method, let params):
            if let refusal = scopeRefusal(method: method, params: params, principal: principal, id: id) { return .refusal(refusal) }
            // Marked before the stream's state is read: see MessageStreams on draining.
            try await log.mark(.accepted(id, replica: configuration.replicaID, incarnation: leases.incarnation))
            guard try await messageStreamIsOpen(sessionID) else { return try await refuse([id], log: log) }
            let call = IncomingRequest(id: id, method: method, params: params, principal: principal)
            return try await run(ids: [id], log: log) {
                if method == "initialize" { return [.message(await self.initializeMessageSession(call, sessionID: sessionID))] }
                guard let response = await self.handleSessionRequest(call, sessionID: sessionID, session: session, sink: log) else {
                    // Cancelled: no response follows, and the stream's holder stops waiting for one.
                    return [.done(id)]
                }
                return [.message(response)]
            }
        }
    }

    /// What a request of an HTTP+SSE session leaves in its message log when it ends.
    enum Outcome: Sendable {
        /// A message to write: the response.
        case message(JSONValue)
        /// A mark.
        case mark(ClusterWire.Payload.MessageStreamMark)

        static func done(_ id: JSONRPCRequestID) -> Outcome { .mark(.done(id)) }
    }

    /// Starts `work` as a job this replica owns, even while it drains (the client of this transport cannot be told
    /// to send elsewhere; the drain deadline still bounds it), and answers `202`. What `work` returns is written to
    /// the log, retried for half a minute while the store is unreachable, so the stream gets it once the store is
    /// back; the work itself runs once.
    func run(ids: [JSONRPCRequestID], log: MessageStreamSink, _ work: @escaping @Sendable () async -> [Outcome]) async throws -> TransportReply {
        let logger = self.logger
        let job: @Sendable () async -> Void = {
            let outcome = await work()
            // Written even when the job was cancelled at the drain deadline (its answer is then -32010): in a task
            // of its own, which the cancellation does not reach.
            await Task { await Self.write(outcome, to: log, logger: logger) }.value
        }
        guard supervisor.start(whileDraining: true, job) else {
            // The replica has finished its drain, and is exiting.
            if supervisor.isDraining { return try await refuse(ids, log: log, status: 503) }
            // Not running (embedded without `run()`): run it as part of this request.
            await job()
            return .accepted
        }
        return .accepted
    }

    /// Writes what a request left, retrying for half a minute while the store is unreachable.
    static func write(_ outcome: [Outcome], to log: MessageStreamSink, logger: Logger) async {
        var pending = outcome[...]
        var backoff = Duration.milliseconds(100)
        let deadline = ContinuousClock.now + .seconds(30)
        while let next = pending.first {
            do {
                switch next {
                case .message(let message): try await log.send(message)
                case .mark(let mark): try await log.mark(mark)
                }
                pending = pending.dropFirst()
            } catch {
                guard ContinuousClock.now < deadline else {
                    logger.error("could not write an HTTP+SSE response", metadata: ["mcp.error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// Refuses requests already marked in the log: marks them done, so the stream's holder waits for nothing.
    func refuse(_ ids: [JSONRPCRequestID], log: MessageStreamSink, status: Int = 404) async throws -> TransportReply {
        for id in ids { try await log.mark(.done(id)) }
        guard status == 404 else {
            return .refusal(Refusal(
                status: status,
                error: JSONRPCError(code: JSONRPCError.internalErrorCode, message: "this replica is shutting down; retry the request"),
                retryAfter: .seconds(1)
            ))
        }
        return .refusal(MessageStreams.gone)
    }

    /// Whether the session's stream is open: its holder is alive and is not closing it.
    func messageStreamIsOpen(_ sessionID: String) async throws -> Bool {
        guard let record = try await backends.sessionStore.get(ClusterWire.Key.messageStreamOwner(sessionID)),
            let (replica, incarnation, closing) = ClusterWire.Payload.messageStreamOwner(record.value), !closing
        else { return false }
        if replica == configuration.replicaID, incarnation == leases.incarnation { return true }
        return try await leases.isAlive(replica, incarnation: incarnation)
    }

    /// Answers the `initialize` of an HTTP+SSE session, which exists already (the stream made it): negotiates the
    /// version (2024-11-05 or any session-based one) and stores what the client said.
    func initializeMessageSession(_ request: IncomingRequest, sessionID: String) async -> JSONValue {
        switch negotiate(request.params, versions: ProtocolVersion.httpSSE.map(\.rawValue)) {
        case .failure(let error):
            return JSONRPCMessage.errorResponse(id: request.id, error: error).json
        case .success(let (version, capabilities)):
            do {
                try await sessions.update(sessionID) { s in
                    s.protocolVersion = ProtocolVersion(version)
                    s.clientInfo = request.params["clientInfo"] ?? [:]
                    s.clientCapabilities = capabilities
                }
            } catch {
                logger.error("could not store an HTTP+SSE session's initialize", metadata: ["mcp.error": "\(error)"])
                return JSONRPCMessage.errorResponse(id: request.id, error: .internalError("could not initialize the session")).json
            }
            return initializeResponse(request.id, version: version)
        }
    }
}

/// Where a handler of an HTTP+SSE session sends its messages, and where its response goes: the session's message
/// log, which the stream's holder tails.
struct MessageStreamSink: MessageSink {
    let log: any EventLog
    let stream: String
    let ttl: Duration

    func send(_ message: JSONValue) async throws {
        _ = try await log.append(stream: stream, data: JSONWriter.encode(message), ttl: ttl)
    }

    func mark(_ mark: ClusterWire.Payload.MessageStreamMark) async throws {
        _ = try await log.append(stream: stream, data: mark.data, ttl: ttl)
    }
}
