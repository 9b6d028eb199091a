//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

/// Where the messages of one session request go: a single JSON response if the handler finishes silently and fast,
/// otherwise an SSE stream whose events are appended to the shared ``EventLog`` before any socket sees them, so the
/// client can resume it on any replica with `Last-Event-ID`.
///
/// The handler side calls ``send(_:)`` and ``finish(_:)``; the runtime reads the ``Signal`` (exactly one) and, once
/// streaming, answers with a stream that tails the event log.
final class RequestStreamChannel: MessageSink {
    /// What the reply should be.
    enum Signal: Sendable {
        /// Answer with this JSON response; `nil` means the request was cancelled and gets no response.
        case final(JSONValue?)
        /// Answer with an SSE stream: tail the event-log stream `streamKey`.
        case streaming(streamKey: String)
    }

    enum State {
        case pending
        case answered
        case streaming(String)
        /// Streamed, and the final response is in: later sends and breaks do nothing.
        case finished
    }

    let log: any EventLog
    let store: any SessionStore
    let sessionID: String
    /// The request the channel carries, and the replica that runs it: recorded with the stream so that another
    /// replica can end it with `-32010` if this one dies.
    let requestID: JSONRPCRequestID
    let replicaID: String
    let incarnation: String
    let ttl: Duration
    let retention: Duration
    let logger: Logger
    private let state = Mutex(State.pending)
    private let signal = AsyncStream<Signal>.makeStream(bufferingPolicy: .bufferingNewest(1))
    private let decided = Mutex<Signal?>(nil)

    init(
        log: any EventLog,
        store: any SessionStore,
        sessionID: String,
        requestID: JSONRPCRequestID,
        replicaID: String,
        incarnation: String = "",
        ttl: Duration,
        retention: Duration,
        logger: Logger
    ) {
        self.log = log
        self.store = store
        self.sessionID = sessionID
        self.requestID = requestID
        self.replicaID = replicaID
        self.incarnation = incarnation
        self.ttl = ttl
        self.retention = retention
        self.logger = logger
    }

    /// The instruction; exactly one element.
    var signals: AsyncStream<Signal> { signal.stream }

    /// The instruction if it has already been given: found here right after starting the handler, it needs no timer
    /// and no wait on ``signals``.
    var decision: Signal? { decided.withLock { $0 } }

    private func decide(_ s: Signal) {
        decided.withLock { $0 = s }
        signal.continuation.yield(s)
        signal.continuation.finish()
    }

    /// Switches to streaming (for a slow handler) unless the response is already decided.
    func startStreaming() async {
        let key = state.withLock { s -> String? in
            guard case .pending = s else { return nil }
            let key = StreamKey.newRequestStream()
            s = .streaming(key)
            return key
        }
        if let key { await open(key) }
    }

    /// Records who runs the request, creates the stream in the log (with an empty event, which is never sent), then
    /// signals streaming: a tail of a stream that does not exist yet would end at once.
    private func open(_ key: String) async {
        do {
            _ = try await store.set(
                ClusterWire.Key.requestStreamOwner(session: sessionID, stream: key),
                value: ClusterWire.Payload.streamOwner(replica: replicaID, incarnation: incarnation, requestID: requestID),
                ttl: ttl
            )
            _ = try await log.append(stream: ClusterWire.Stream.events(session: sessionID, stream: key), data: [], ttl: ttl)
        } catch {
            logger.error("could not open an event stream", metadata: ["mcp.error": "\(error)"])
        }
        decide(.streaming(streamKey: key))
    }

    func send(_ message: JSONValue) async throws {
        let (key, started) = state.withLock { s -> (String?, Bool) in
            switch s {
            case .pending:
                let key = StreamKey.newRequestStream()
                s = .streaming(key)
                return (key, true)
            case .streaming(let key):
                return (key, false)
            case .answered, .finished:
                return (nil, false)
            }
        }
        guard let key else { return }
        if started { await open(key) }
        _ = try await log.append(stream: ClusterWire.Stream.events(session: sessionID, stream: key), data: JSONWriter.encode(message), ttl: ttl)
    }

    /// Closes the connection that carries the stream but not the stream (SEP-1699): starts streaming if the reply
    /// is not decided yet, then appends a break mark that every reader of the stream turns into an id-only event
    /// before it closes its connection. Does nothing once the final response is in.
    func breakConnection() async throws {
        await startStreaming()
        guard case .streaming(let key) = state.withLock({ $0 }) else { return }
        let stream = ClusterWire.Stream.events(session: sessionID, stream: key)
        _ = try await log.append(stream: stream, data: ClusterWire.Payload.connectionBreak, ttl: ttl)
    }

    /// Delivers the final response (or `nil` when cancelled) and ends the stream. A streaming response goes in only
    /// if it wins the stream's final claim: a replica that found this one dead may have ended the stream already.
    func finish(_ final: JSONValue?) async {
        enum Step { case decide, record(String), nothing }
        let step = state.withLock { s -> Step in
            switch s {
            case .pending:
                s = .answered
                return .decide
            case .streaming(let key):
                s = .finished
                return .record(key)
            case .answered, .finished:
                return .nothing
            }
        }
        guard case .record(let key) = step else {
            if case .decide = step { decide(.final(final)) }
            return
        }
        // The final response is written even when the handler's job was cancelled (the drain deadline cancels it,
        // and its answer is then -32010): in a task of its own, which the cancellation does not reach.
        await Task { await self.recordFinal(final, key: key) }.value
    }

    /// Writes the final response: while the store is unreachable, keeps trying (with backoff, for up to half a
    /// minute) rather than leave the stream without an end.
    private func recordFinal(_ final: JSONValue?, key: String) async {
        let stream = ClusterWire.Stream.events(session: sessionID, stream: key)
        var backoff = Duration.milliseconds(100)
        let deadline = ContinuousClock.now + .seconds(30)
        var appended = false
        while true {
            do {
                try await writeFinal(final, to: stream, key: key, appended: &appended)
                return
            } catch {
                guard ContinuousClock.now < deadline else {
                    logger.error("could not record the final response", metadata: ["mcp.error": "\(error)"])
                    return
                }
                logger.warning("could not record the final response yet; retrying", metadata: ["mcp.error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// Claims the stream's final response and, if this claim wins, appends it (unless an earlier try did) and closes
    /// the stream.
    private func writeFinal(_ final: JSONValue?, to stream: String, key: String, appended: inout Bool) async throws {
        let claim = ClusterWire.Key.finalClaim(session: sessionID, stream: key)
        let me = ClusterWire.Payload.claimant(replica: replicaID, incarnation: incarnation)
        if try await store.create(claim, value: me, ttl: retention + ttl) == nil {
            // Ours from an earlier try that failed half-way, or another replica's, which found this one dead.
            guard try await store.get(claim)?.value == me else {
                logger.warning(
                    "the request's stream was already ended by another replica; its final response is dropped",
                    metadata: ["mcp.session": "\(sessionID)", "mcp.request.id": "\(requestID)"]
                )
                return
            }
        }
        if let final, !appended {
            _ = try await log.append(stream: stream, data: JSONWriter.encode(final), ttl: ttl)
            appended = true
        }
        try await log.close(stream: stream, ttl: retention)
    }
}
