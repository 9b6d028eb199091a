//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

/// The streams of the 2024-11-05 HTTP+SSE transport, served by any replica.
///
/// `GET /sse` opens a session and its one stream on the replica it reaches. `POST /messages?sessionId=…` lands on any
/// replica, which answers `202`, runs the message, and appends what the stream must carry (the response, progress and
/// log notifications, server-to-client requests) to the session's ``ClusterWire/Stream/messageStream(session:)`` log.
/// The replica holding the stream tails that log and writes it, so no message needs to know where the stream is.
///
/// The log also carries marks the client never sees (``ClusterWire/Payload/MessageStreamMark``): a POST marks the
/// request it accepted, with the replica that runs it, before it runs, so the holder knows what is in flight. With
/// them the holder:
/// - answers `-32010` (`replica_lost`) itself for a request whose replica's lease is gone, and drops the response
///   if that replica turns out to be alive after all, so there is never a second one;
/// - drains without losing a response: it marks the stream closing (in its owner record, then in the log), waits
///   until every request marked before that has answered (bounded by the drain deadline), then ends the stream.
///   A POST reads the owner record after it marks its request, so a request marked after the closing mark always
///   sees the flag and refuses itself with `404`; one marked before it is always waited for.
///
/// The transport has no resumption: when the stream ends (the client goes away, its replica drains or dies), the
/// session ends, and the client opens a new stream.
package struct MessageStreams: Sendable {
    let backends: Backends
    let sessions: Sessions
    let supervisor: Supervisor
    let leases: Leases
    let notifier: Notifier
    let relay: Relay
    let logger: Logger
    /// How long in-flight requests have at most, once the drain begins, before the stream ends anyway.
    let drainTimeout: Duration

    /// The refusal of a POST whose session does not exist, or whose stream has ended or is closing: the client must
    /// open a new stream. One answer for every case, so the server is no oracle.
    static let gone = Refusal(
        status: 404,
        error: JSONRPCError(
            code: JSONRPCError.invalidRequestCode,
            message: "Session not found, or its SSE stream has closed: open a new SSE stream (GET /sse) and initialize again"
        )
    )

    // MARK: The stream

    /// Opens a new session and its stream. The first event is `endpoint`, naming `messagesPath?sessionId=<id>`.
    func open(principal: Principal, messagesPath: String) async throws -> TransportReply {
        let held = supervisor.hold()
        if !held, supervisor.isDraining {
            return .refusal(Refusal(
                status: 503,
                error: JSONRPCError(code: JSONRPCError.internalErrorCode, message: "this replica is shutting down; open the stream again"),
                retryAfter: .seconds(1)
            ))
        }
        let store = backends.sessionStore
        let log = backends.eventLog
        var created: String?
        let start: UInt64
        do {
            // The session is negotiated by the initialize that comes over POST; until then it is a 2024-11-05 one.
            let state = SessionState(
                protocolVersion: .v2024_11_05, clientInfo: [:], clientCapabilities: [:], principal: principal.id, createdAt: WallClock.system.millis()
            )
            let id = try await sessions.create(state)
            created = id
            _ = try await store.set(
                ClusterWire.Key.messageStreamOwner(id),
                value: ClusterWire.Payload.messageStreamOwner(replica: leases.replicaID, incarnation: leases.incarnation),
                ttl: sessions.ttl
            )
            // An empty entry creates the log (a tail of a log that does not exist ends at once); it is never sent.
            _ = try await log.append(stream: ClusterWire.Stream.messageStream(session: id), data: [], ttl: sessions.ttl)
            start = try await notifier.head()
        } catch {
            if let created { await end(created) }
            if held { supervisor.release() }
            throw error
        }
        let id = created!
        let streams = self
        logger.debug("HTTP+SSE stream opened", metadata: ["mcp.session": "\(id)"])
        let endpoint = OutboundEvent.named(event: "endpoint", data: "\(messagesPath)?sessionId=\(id)")
        return .stream(EventStream.produced(
            first: endpoint,
            finally: {
                await streams.end(id)
                if held { streams.supervisor.release() }
            }
        ) { events in
            await streams.follow(session: id, notificationsAfter: start, events: events)
        })
    }

    /// Ends a session whose stream has ended: its state, owner record and log go, and its handlers on every replica
    /// are cancelled. Best effort: what cannot be removed now expires with the session's lifetime.
    func end(_ id: String) async {
        do {
            try await backends.sessionStore.delete(ClusterWire.Key.messageStreamOwner(id))
            try await sessions.remove(id)
            try await backends.eventLog.delete(stream: ClusterWire.Stream.messageStream(session: id))
        } catch {
            logger.debug("could not remove an ended HTTP+SSE session; it expires", metadata: ["mcp.session": "\(id)", "mcp.error": "\(error)"])
        }
        do {
            try await relay.announceEnd(session: id)
        } catch {
            // Handlers elsewhere end on their own: their answers go to a log nobody reads, which expires.
            logger.debug("could not announce the end of an HTTP+SSE session", metadata: ["mcp.session": "\(id)", "mcp.error": "\(error)"])
        }
        logger.debug("HTTP+SSE stream ended", metadata: ["mcp.session": "\(id)"])
    }

    /// Writes the session's messages and notifications until the log goes, the session is lost, or the drain has let
    /// every request in flight answer.
    func follow(session id: String, notificationsAfter start: UInt64, events: EventStream.Continuation) async {
        let flight = InFlight()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.writeMessages(session: id, flight: flight, events: events) }
            group.addTask { await self.writeNotifications(session: id, after: start, events: events) }
            group.addTask { await self.watchRunners(flight: flight, events: events) }
            group.addTask { await self.keepAlive(session: id) }
            group.addTask { await self.closeWhenDrained(session: id, flight: flight) }
            // Whichever ends first ends the stream.
            await group.next()
            group.cancelAll()
        }
    }

    /// Tails the session's message log: marks update ``InFlight``; messages are written, except a response whose
    /// request was already ended here (with `-32010`).
    func writeMessages(session id: String, flight: InFlight, events: EventStream.Continuation) async {
        let name = ClusterWire.Stream.messageStream(session: id)
        let sessions = self.sessions
        let log = backends.eventLog
        // Picked up again after a failure only if the session and its log survived it: a store that restarted
        // without persistence lost both, and a late write would make a new log whose positions start again.
        let survived: (Position) async throws -> Bool = { after in
            guard try await sessions.load(id) != nil else { return false }
            return try await log.lastPosition(stream: name) >= after.value
        }
        await retrying("message log", session: id, endsWhenDone: true, survived: survived) { after in
            try await backends.eventLog.tail(stream: name, after: after.value) { entries in
                for try await entry in entries {
                    after.value = entry.position
                    guard !entry.data.isEmpty, let value = try? JSONParser().parse(entry.data) else { continue }
                    if let mark = ClusterWire.Payload.MessageStreamMark(value) {
                        flight.apply(mark)
                        continue
                    }
                    if case .object(let o) = value, o["method"] == nil, let raw = o["id"], let requestID = JSONRPCRequestID(json: raw) {
                        guard flight.answer(requestID) else { continue }
                    }
                    events.yield(.message(value))
                }
            }
        }
    }

    /// Tails the shared notification log, and writes what concerns this session (the updates of the resources it
    /// subscribed to, list changes).
    func writeNotifications(session id: String, after start: UInt64, events: EventStream.Continuation) async {
        let sessions = self.sessions
        let log = backends.eventLog
        // A log that the store lost starts again at 1: pick it up at its head, as a resume of a GET stream does.
        let resync: (Position) async throws -> Bool = { after in
            after.value = min(after.value, try await log.lastPosition(stream: ClusterWire.Stream.notifications))
            return true
        }
        await retrying("notification log", session: id, from: start, endsWhenDone: false, survived: resync) { after in
            try await SessionStreams.followNotifications(
                for: id, after: after.value, log: log, sessions: sessions, onlyOnceInitialized: true
            ) { position, notification in
                after.value = position
                if let notification { events.yield(.message(notification)) }
            }
            // The notification log never closes; if it is gone (the store lost it), wait for it to come back.
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// Runs `tail`, and runs it again after a failure (the store restarted, or is unreachable for a moment) from
    /// where it got to, until 30 seconds of failures with no progress; then gives up, which ends the stream. A tail
    /// that returns ends it too if `endsWhenDone`; otherwise it is run again.
    /// Before it runs `tail` again after a failure, `survived` says whether what it tails is still there (and may move
    /// the position); `false` ends the stream.
    func retrying(
        _ what: String, session id: String, from start: UInt64 = 0, endsWhenDone: Bool,
        survived: (Position) async throws -> Bool, _ tail: (Position) async throws -> Void
    ) async {
        let position = Position(start)
        var backoff = Duration.milliseconds(100)
        var failingSince: ContinuousClock.Instant?
        var failed = false
        while !Task.isCancelled {
            let before = position.value
            do {
                if failed {
                    guard try await survived(position) else {
                        logger.info("an HTTP+SSE stream's \(what) did not survive a store failure; ending it", metadata: ["mcp.session": "\(id)"])
                        return
                    }
                    failed = false
                }
                try await tail(position)
                if endsWhenDone { return }
                failingSince = nil
                backoff = .milliseconds(100)
            } catch {
                if Task.isCancelled || error is CancellationError { return }
                let now = ContinuousClock.now
                if position.value != before { failingSince = nil }
                let since = failingSince ?? now
                failingSince = since
                guard now - since < .seconds(30) else {
                    logger.warning("an HTTP+SSE stream lost its \(what); ending it", metadata: ["mcp.session": "\(id)", "mcp.error": "\(error)"])
                    return
                }
                failed = true
                logger.debug("an HTTP+SSE stream's \(what) failed; retrying", metadata: ["mcp.session": "\(id)", "mcp.error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// Where a tail has got to; touched only by the task that runs the tail.
    final class Position {
        var value: UInt64
        init(_ value: UInt64) { self.value = value }
    }

    /// Ends, with `-32010` (`replica_lost`), the requests in flight on a replica whose lease is gone.
    func watchRunners(flight: InFlight, events: EventStream.Continuation) async {
        let every = max(leases.period / 10, .milliseconds(50))
        while !Task.isCancelled {
            try? await Task.sleep(for: every)
            for (replica, incarnation) in flight.runners() {
                if replica == leases.replicaID, incarnation == leases.incarnation, !supervisor.isStopped { continue }
                guard let alive = try? await leases.isAlive(replica, incarnation: incarnation), !alive else { continue }
                for requestID in flight.lose(replica: replica, incarnation: incarnation) {
                    let error = JSONRPCMessage.errorResponse(id: requestID, error: .replicaStopped(.replicaLost, replica: replica))
                    events.yield(.message(error.json))
                    logger.info(
                        "ended an HTTP+SSE request whose replica stopped",
                        metadata: ["mcp.request.id": "\(requestID)", "mcp.peer": "\(replica)"]
                    )
                }
            }
        }
    }

    /// Keeps the session, its owner record and its log alive while the stream is open (a session with a quiet
    /// client would otherwise expire under it); returns, ending the stream, once the session is gone from the store.
    func keepAlive(session id: String) async {
        let store = backends.sessionStore
        let ttl = sessions.ttl
        while !Task.isCancelled {
            try? await Task.sleep(for: ttl / 3)
            if Task.isCancelled { return }
            do {
                guard try await store.touch(ClusterWire.Key.session(id), ttl: ttl) else {
                    logger.info("the session of an HTTP+SSE stream is gone from the store; ending the stream", metadata: ["mcp.session": "\(id)"])
                    return
                }
                _ = try await store.touch(ClusterWire.Key.messageStreamOwner(id), ttl: ttl)
                _ = try await backends.eventLog.append(stream: ClusterWire.Stream.messageStream(session: id), data: [], ttl: ttl)
            } catch {
                logger.debug("could not extend an HTTP+SSE session", metadata: ["mcp.session": "\(id)", "mcp.error": "\(error)"])
            }
        }
    }

    /// When the drain begins: marks the stream closing, waits until every request accepted before the mark has
    /// answered (or the drain deadline has passed), and returns, which ends the stream.
    func closeWhenDrained(session id: String, flight: InFlight) async {
        await supervisor.waitForDrain()
        guard !Task.isCancelled else { return }
        let deadline = ContinuousClock.now + drainTimeout + .seconds(2)
        do {
            // The flag first, then the mark: a POST that marked its request after the mark reads the flag.
            _ = try await backends.sessionStore.set(
                ClusterWire.Key.messageStreamOwner(id),
                value: ClusterWire.Payload.messageStreamOwner(replica: leases.replicaID, incarnation: leases.incarnation, closing: true),
                ttl: sessions.ttl
            )
            let closing = ClusterWire.Payload.MessageStreamMark.closing.data
            _ = try await backends.eventLog.append(stream: ClusterWire.Stream.messageStream(session: id), data: closing, ttl: sessions.ttl)
        } catch {
            logger.warning("could not mark an HTTP+SSE stream closing", metadata: ["mcp.session": "\(id)", "mcp.error": "\(error)"])
            flight.apply(.closing)
        }
        while !flight.isSettled, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        logger.debug("HTTP+SSE stream closing for the drain", metadata: ["mcp.session": "\(id)", "mcp.inflight": "\(flight.count)"])
    }

    /// The requests in flight of one stream, from the marks and responses of its log.
    final class InFlight: Sendable {
        struct State {
            var requests: [JSONRPCRequestID: (replica: String, incarnation: String)] = [:]
            /// Whether the closing mark has been read: later `accepted` marks are of refused requests.
            var closed = false
        }

        let state = Mutex(State())

        func apply(_ mark: ClusterWire.Payload.MessageStreamMark) {
            state.withLock { s in
                switch mark {
                case .accepted(let id, let replica, let incarnation):
                    if !s.closed { s.requests[id] = (replica, incarnation) }
                case .done(let id):
                    s.requests[id] = nil
                case .closing:
                    s.closed = true
                }
            }
        }

        /// A response for `id` arrived: whether to write it (`false` if its request was already ended here).
        func answer(_ id: JSONRPCRequestID) -> Bool {
            state.withLock { $0.requests.removeValue(forKey: id) != nil }
        }

        /// The replicas that run requests in flight.
        func runners() -> [(String, String)] {
            state.withLock { s in
                var seen: Set<String> = []
                return s.requests.values.compactMap { r in seen.insert(r.replica + "/" + r.incarnation).inserted ? (r.replica, r.incarnation) : nil }
            }
        }

        /// Forgets, and returns, the requests in flight on a replica that stopped.
        func lose(replica: String, incarnation: String) -> [JSONRPCRequestID] {
            state.withLock { s in
                let lost = s.requests.filter { $0.value.replica == replica && $0.value.incarnation == incarnation }.map(\.key)
                for id in lost { s.requests[id] = nil }
                return lost
            }
        }

        /// Whether the closing mark has been read and nothing marked before it is in flight.
        var isSettled: Bool { state.withLock { $0.closed && $0.requests.isEmpty } }

        var count: Int { state.withLock { $0.requests.count } }
    }
}
