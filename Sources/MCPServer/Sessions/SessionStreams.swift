//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// A session's SSE streams, served by any replica from the event log: a request's stream (replayed and followed
/// until its final response), and the standalone GET stream (one per session, held by a lock in the store; a view of
/// the shared notification log filtered for the session, so a resume replays what was raised while no stream was
/// connected).
///
/// Event ids name their stream and position (``StreamKey``), so `Last-Event-ID` resumes any stream on any replica
/// with no look-up. A stream ends when its log closes, the session is deleted, another connection takes it over, the
/// server drains, or the poll interval passes; a client resumes it with `Last-Event-ID`.
package struct SessionStreams: Sendable {
    let backends: Backends
    let sessions: Sessions
    let supervisor: Supervisor
    let leases: Leases
    let notifier: Notifier
    let logger: Logger
    /// How long a GET-stream lock lives without renewal; renewed at a third of this while its stream is open.
    let lockTTL: Duration
    /// How long a request stream's events stay resumable after its final response.
    let retention: Duration

    // MARK: Opening

    /// Resumes the stream a `Last-Event-ID` names, or opens the session's standalone stream when there is none.
    func open(session: String, lastEventID: String?, pacing: StreamPacing) async throws -> TransportReply {
        guard let lastEventID else {
            return try await standalone(session: session, stream: StreamKey.newGetStream(), after: 0, isResume: false, pacing: pacing)
        }
        guard let (stream, position) = StreamKey.parse(eventID: lastEventID) else {
            return .refusal(.badRequest(.invalidRequest("malformed Last-Event-ID")))
        }
        guard StreamKey.isRequestStream(stream) else {
            return try await standalone(session: session, stream: stream, after: position, isResume: true, pacing: pacing)
        }
        guard try await backends.eventLog.exists(stream: ClusterWire.Stream.events(session: session, stream: stream)) else {
            return .refusal(Refusal(status: 404, error: .invalidRequest("no such stream in this session")))
        }
        return .stream(requestStream(session: session, stream: stream, after: position, priming: false, pacing: pacing))
    }

    /// A request's stream: replays and then follows its log until the log closes after the final response.
    ///
    /// While it follows, it watches the replica that runs the request: if that replica's lease is gone and the
    /// stream has no final response, it writes the final `-32010` error itself (exactly once, whichever replica gets
    /// there first), so a client never waits on the stream of a dead replica.
    func requestStream(session: String, stream key: String, after: UInt64, priming: Bool, pacing: StreamPacing) -> EventStream {
        let log = backends.eventLog
        let name = ClusterWire.Stream.events(session: session, stream: key)
        let streams = self
        // The priming event goes first whatever happens next, so the client always has an id to resume from.
        let first = priming ? OutboundEvent.priming(id: StreamKey.eventID(stream: key, position: 0), retry: pacing.retry) : nil
        return followed(session: session, stream: key, pacing: pacing, first: first) { events in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await streams.watchOwner(session: session, stream: key) }
                // The tail ends the stream, when the log closes after the final response.
                do {
                    try await log.tail(stream: name, after: after) { tail in
                        // Empty events only create a stream in the log; they are never sent.
                        for try await event in tail where !event.data.isEmpty {
                            let id = StreamKey.eventID(stream: key, position: event.position)
                            if event.data == ClusterWire.Payload.connectionBreak {
                                // The handler closed the connection (SEP-1699): the client resumes after this id.
                                events.yield(.priming(id: id, retry: pacing.retry))
                                events.finish()
                                return
                            }
                            events.yield(.logged(id: id, data: event.data))
                        }
                    }
                } catch where !(error is CancellationError) {
                    streams.logger.debug("request stream tail ended", metadata: ["mcp.error": "\(error)"])
                } catch {}
                group.cancelAll()
            }
        }
    }

    /// Who runs the request behind a request stream, read once from its owner record: it never changes.
    typealias StreamOwner = (replica: String, incarnation: String?, requestID: JSONRPCRequestID)

    /// Checks, every tenth of a lease period, that the replica running the request behind a stream is alive; when
    /// it is not, ends the stream for it (``endIfOwnerLost(session:stream:owner:appended:)``); then stops checking.
    /// The owner record is read once; while the owner is this running replica, a check costs no round trip.
    func watchOwner(session: String, stream key: String) async {
        let every = max(leases.period / 10, .milliseconds(50))
        var owner: StreamOwner?
        var appended = false
        while !Task.isCancelled {
            do {
                if try await endIfOwnerLost(session: session, stream: key, owner: &owner, appended: &appended) { return }
            } catch {
                logger.debug("could not check the owner of a request stream", metadata: ["mcp.error": "\(error)"])
            }
            try? await Task.sleep(for: every)
        }
    }

    /// Ends a request stream whose owner replica has lost its lease before the final response: appends the final
    /// `-32010` error (reason `replica_lost`) and closes the log, if this replica holds the stream's final claim
    /// (it wins it, it won it on an earlier try, or it takes it over from a claimant that died half-way).
    /// - Parameters:
    ///   - owner: the stream's owner, read from the store on the first call and kept.
    ///   - appended: whether an earlier try appended the error already.
    /// - Returns: `true` once the stream is ended here, or its final belongs to a live claimant.
    func endIfOwnerLost(session: String, stream key: String, owner known: inout StreamOwner?, appended: inout Bool) async throws -> Bool {
        let store = backends.sessionStore
        if known == nil, let record = try await store.get(ClusterWire.Key.requestStreamOwner(session: session, stream: key)) {
            known = ClusterWire.Payload.streamOwner(record.value)
        }
        guard let (owner, incarnation, requestID) = known else { return false }
        if owner == leases.replicaID, incarnation == leases.incarnation, !supervisor.isStopped { return false }
        guard try await !leases.isAlive(owner, incarnation: incarnation) else { return false }
        let claim = ClusterWire.Key.finalClaim(session: session, stream: key)
        let me = ClusterWire.Payload.claimant(replica: leases.replicaID, incarnation: leases.incarnation)
        if try await store.create(claim, value: me, ttl: retention + sessions.ttl) == nil {
            guard let holder = try await store.get(claim) else { return false }
            if holder.value != me {
                // The owner finished in time, or another replica is ending the stream: its job while it lives.
                guard let (replica, run) = ClusterWire.Payload.claimant(holder.value), try await !leases.isAlive(replica, incarnation: run),
                    try await store.compareAndSet(claim, value: me, expectedVersion: holder.version, ttl: retention + sessions.ttl) != nil
                else { return true }
            }
        }
        let name = ClusterWire.Stream.events(session: session, stream: key)
        if !appended {
            let error = JSONRPCMessage.errorResponse(id: requestID, error: .replicaStopped(.replicaLost, replica: owner)).json
            _ = try await backends.eventLog.append(stream: name, data: JSONWriter.encode(error), ttl: sessions.ttl)
            appended = true
        }
        try await backends.eventLog.close(stream: name, ttl: retention)
        logger.info(
            "ended the stream of a request whose replica stopped",
            metadata: ["mcp.session": "\(session)", "mcp.request.id": "\(requestID)", "mcp.peer": "\(owner)"]
        )
        return true
    }

    /// The standalone GET stream: at most one per session. A client resuming the same stream takes it over from a
    /// connection that has not noticed it is gone yet; any other second stream gets `409`.
    func standalone(session: String, stream key: String, after: UInt64, isResume: Bool, pacing: StreamPacing) async throws -> TransportReply {
        let store = backends.sessionStore
        let bus = backends.messageBus
        let lock = ClusterWire.Key.getStreamLock(session)
        let owner = ClusterWire.Payload.getStreamOwner(
            stream: key, connection: StreamKey.newGetStream(), replica: leases.replicaID, incarnation: leases.incarnation
        )
        if try await store.create(lock, value: owner, ttl: lockTTL) == nil {
            // At most one GET stream per session. A client resuming the same stream takes it over from a connection
            // that has not noticed it is gone yet, and any client takes over the lock of a dead replica.
            guard let holder = try await store.get(lock) else {
                return try await standalone(session: session, stream: key, after: after, isResume: isResume, pacing: pacing)
            }
            let resumesIt = isResume && ClusterWire.Payload.getStreamOwner(holder.value, isFor: key)
            var holderDead = false
            if !resumesIt, let (replica, incarnation) = ClusterWire.Payload.getStreamOwnerReplica(holder.value) {
                holderDead = try await !leases.isAlive(replica, incarnation: incarnation)
            }
            guard resumesIt || holderDead, try await store.compareAndSet(lock, value: owner, expectedVersion: holder.version, ttl: lockTTL) != nil
            else {
                return .refusal(Refusal(status: 409, error: .invalidRequest("this session already has an open GET stream")))
            }
            if resumesIt {
                do {
                    try await bus.publish(ClusterWire.Payload.takeover(stream: key), to: ClusterWire.Channel.session(session))
                } catch {
                    try? await store.delete(lock)
                    throw error
                }
            }
        }
        let log = backends.eventLog
        let sessions = self.sessions
        let lockTTL = self.lockTTL
        // A new stream starts at the log's head: its priming id says where a resume picks up.
        let start: UInt64
        do {
            // A resume after a position the log no longer has (the store lost it) starts again at the head.
            let head = try await notifier.head()
            start = isResume ? min(after, head) : head
        } catch {
            // The lock must not outlive the stream that never opened.
            if let holder = try? await store.get(lock), holder.value == owner { try? await store.delete(lock) }
            throw error
        }
        let stream = followed(
            session: session, stream: key, pacing: pacing,
            renew: { _ = try? await store.touch(lock, ttl: lockTTL) },
            release: {
                guard let holder = try? await store.get(lock), holder.value == owner else { return }
                try? await store.delete(lock)
            }
        ) { events in
            // Primed only once `followed` listens for the session's end and for a takeover, so that neither can pass
            // unheard after the client has seen the stream open. (A stream that fails before it primes is an empty
            // response; the client opens another, and misses nothing: it is a view of the log.)
            events.yield(.priming(id: StreamKey.eventID(stream: key, position: start), retry: pacing.retry))
            // A per-session view of the notification log: what was missed is replayed (what the log still keeps),
            // then new entries follow, in the log's order on every replica.
            try await Self.followNotifications(for: session, after: start, log: log, sessions: sessions) { position, notification in
                guard let notification else { return }
                events.yield(.logged(id: StreamKey.eventID(stream: key, position: position), data: JSONWriter.encode(notification)))
            }
        }
        return .stream(stream)
    }

    /// Tails the shared notification log after `position` and hands `each` every entry's position, with the
    /// notification it means for `session` (`nil` when it is not for this session): the view of the log that a
    /// session's standalone stream and an HTTP+SSE stream write.
    static func followNotifications(
        for session: String,
        after position: UInt64,
        log: any EventLog,
        sessions: Sessions,
        onlyOnceInitialized: Bool = false,
        _ each: (_ position: UInt64, _ notification: JSONValue?) -> Void
    ) async throws {
        var initialized = !onlyOnceInitialized
        try await log.tail(stream: ClusterWire.Stream.notifications, after: position) { entries in
            for try await entry in entries {
                var notification: JSONValue?
                if let message = ClusterWire.Payload.loggedNotification(entry.data) {
                    // A stream opened before its session is initialized (HTTP+SSE: the GET comes first) hears nothing
                    // until `notifications/initialized` has arrived, on whichever replica.
                    if !initialized { initialized = try await sessions.load(session)?.initialized ?? false }
                    if initialized {
                        notification = try await Self.notification(for: message, session: session, sessions: sessions)
                    }
                }
                each(entry.position, notification)
            }
        }
    }

    /// The notification a bus message means for one session's standalone stream, or `nil` if it is not for this
    /// session (an update of a resource it did not subscribe to).
    static func notification(for message: BusMessage, session: String, sessions: Sessions) async throws -> JSONValue? {
        var uris: Set<String> = []
        if message.channel == ClusterWire.Channel.resourceUpdated {
            // Subscriptions change on any replica: read them from the store when an update arrives.
            guard let state = try await sessions.load(session) else { return nil }
            uris = Set(state.subscriptions)
        }
        return MCPServer.notification(for: message, uris: uris, subscriptionID: nil)
    }

    // MARK: Following

    /// A stream fed by `produce` until it returns, the session is deleted, the stream is taken over, the server
    /// drains, or the poll interval passes, whichever comes first. `renew` runs every third of the lock's lifetime
    /// while the stream is open; `release` runs once when it ends.
    func followed(
        session: String,
        stream key: String,
        pacing: StreamPacing,
        first: OutboundEvent? = nil,
        renew: (@Sendable () async -> Void)? = nil,
        release: (@Sendable () async -> Void)? = nil,
        _ produce: @escaping @Sendable (EventStream.Continuation) async throws -> Void
    ) -> EventStream {
        let bus = backends.messageBus
        let supervisor = self.supervisor
        let takeover = ClusterWire.Payload.takeover(stream: key)
        let renewEvery = lockTTL / 3
        let logger = self.logger
        return EventStream.produced(first: first, finally: release) { events in
            do {
                // Subscribed before anything is sent: a deletion or a takeover that follows the first event is heard.
                try await bus.subscribe(
                    to: [ClusterWire.Channel.session(session)],
                    deliver: { message in
                        // The session was deleted, or this stream was taken over by a resume of it elsewhere.
                        if message.payload == ClusterWire.Payload.sessionDeleted || message.payload == takeover { events.finish() }
                    },
                    onEnd: { events.finish() }
                ) {
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do { try await produce(events) } catch where !(error is CancellationError) {
                                logger.debug("session stream ended", metadata: ["mcp.error": "\(error)"])
                            } catch {}
                        }
                        group.addTask { await supervisor.waitForDrain() }
                        if let pollAfter = pacing.pollAfter {
                            group.addTask { try? await Task.sleep(for: pollAfter) }
                        }
                        if let renew {
                            group.addTask {
                                while !Task.isCancelled {
                                    try? await Task.sleep(for: renewEvery)
                                    if !Task.isCancelled { await renew() }
                                }
                            }
                        }
                        // Whichever ends first ends the stream.
                        await group.next()
                        group.cancelAll()
                    }
                }
            } catch {
                logger.debug("session stream could not subscribe to its session's channel", metadata: ["mcp.error": "\(error)"])
            }
        }
    }
}

/// SSE stream keys and event ids of session streams: an event id is `<streamKey>.<position>`, so it names its stream
/// and its place in it, and a resume needs no look-up.
package enum StreamKey {
    /// A new key for a request's stream (prefix `r`).
    static func newRequestStream() -> String { "r" + random() }
    /// A new key for a standalone GET stream (prefix `g`).
    static func newGetStream() -> String { "g" + random() }

    static func random() -> String {
        var rng = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<9).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// Whether `stream` is a request's stream (rather than a standalone GET stream).
    static func isRequestStream(_ stream: String) -> Bool { stream.hasPrefix("r") }

    /// The event id of position `position` of `stream`.
    package static func eventID(stream: String, position: UInt64) -> String { "\(stream).\(position)" }

    /// Splits an event id into its stream key and position; `nil` if malformed.
    package static func parse(eventID: String) -> (stream: String, position: UInt64)? {
        guard eventID.utf8.count <= 64, let dot = eventID.lastIndex(of: ".") else { return nil }
        let stream = String(eventID[..<dot])
        guard let position = UInt64(eventID[eventID.index(after: dot)...]), stream.count == 13,
            stream.first == "r" || stream.first == "g",
            stream.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F })
        else { return nil }
        return (stream, position)
    }
}
