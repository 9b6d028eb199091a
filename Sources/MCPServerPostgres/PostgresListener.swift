//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging
import MCPServer
import NIOCore
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// A replica's one LISTEN connection, shared by every bus subscriber and event-log tail of the process. Its
/// `application_name` is the configuration's with ` listen` appended, so `pg_stat_activity` tells it apart.
///
/// It listens on one NOTIFY channel (``PostgresSchema/notifyChannel``) and fans out in process:
/// - `b <id> <channel>`: a bus message was committed. If a local subscriber wants `channel`, the row is fetched
///   (notifications that arrive together are fetched in one query) and handed to the channel's subscribers, in the
///   order the notifications came, which is commit order.
/// - `l <stream>`: an event-log stream changed; its tails read again.
///
/// Subscribing is local only: no round trip, and no connection per subscriber.
///
/// **Reconnection.** When the connection drops, ``run()`` reconnects with backoff, listens again, and then catches
/// up from `mcp_bus`: every message committed since a little before the last moment the connection was known to be
/// alive (a heartbeat every ``heartbeatInterval``), minus the ones already delivered, goes to the current
/// subscribers of its channel. So nothing committed is missed. If the gap cannot be closed, because the outage
/// outlasted the table's retention or the catch-up query failed, every bus subscription is ended (`onEnd`), as the
/// ``MessageBus`` contract asks, and its subscriber re-syncs. Tails are woken after every reconnection.
public final class PostgresListener: Service, Sendable {
    struct BusSubscriber {
        var deliver: @Sendable (BusMessage) -> Void
        var onEnd: @Sendable () -> Void
        /// The server's clock (µs) a little before the subscription began, if known: messages created earlier are
        /// not for it (a catch-up reads back a few seconds, and a notification can arrive after a subscription that
        /// began after its commit).
        var since: Int64?
    }

    /// A message as fetched: its id, the message, and when it was created (server clock, µs since the epoch).
    typealias Fetched = (id: Int64, message: BusMessage, createdAt: Int64)

    /// The columns of a ``Fetched`` message, for ``fetched(_:)``.
    static let fetchedColumns = "id, channel, payload, (extract(epoch FROM created_at) * 1000000)::bigint"

    /// Reads rows of ``fetchedColumns``.
    @Sendable static func fetched(_ rows: PostgresRowSequence) async throws -> [Fetched] {
        var messages: [Fetched] = []
        for try await (id, channel, payload, createdAt) in rows.decode((Int64, String, ByteBuffer, Int64).self) {
            messages.append((id, BusMessage(channel: channel, payload: Array(payload.readableBytesView)), createdAt))
        }
        return messages
    }

    /// How far before its registration a subscriber's `since` is put, for the error of the clock estimate.
    static let registrationMargin: Int64 = 500_000

    struct State {
        var nextID = 0
        var subscribers: [String: [Int: BusSubscriber]] = [:]
        var subscriberChannels: [Int: [String]] = [:]
        var tails: [String: [Int: @Sendable () -> Void]] = [:]
        /// Ids waiting to be fetched, in notification order, with their channel when the notification named it.
        var pending: [(id: Int64, channel: String?)] = []
        /// Recently delivered ids, with when, for de-duplicating a catch-up.
        var delivered: [Int64: ContinuousClock.Instant] = [:]
        /// The server's clock (µs since the epoch) and ours at the last sign of life of the connection.
        var lastAlive: (server: Int64, local: ContinuousClock.Instant)?
        var isShutdown = false
    }

    let configuration: PostgresBackendConfiguration
    let client: PostgresClient
    let logger: Logger
    /// How often the LISTEN connection is checked (default 2 s); also bounds how far back a catch-up reads.
    public let heartbeatInterval: Duration
    /// How long bus messages are kept for catching up (default 60 s); the sweeper deletes older ones.
    public let busRetention: Duration
    private let state = Mutex(State())
    private let fetchWakeups: AsyncStream<Void>
    private let fetchWake: AsyncStream<Void>.Continuation
    private let running = Atomic<Bool>(false)
    private let started = ContinuousClock.now

    /// Creates a listener; run it as a service, after `client`.
    /// - Parameters:
    ///   - configuration: where to connect (the LISTEN connection is a connection of its own, outside the pool).
    ///   - client: the pooled client, for fetching messages.
    ///   - heartbeatInterval: how often the connection is checked.
    ///   - busRetention: how long messages are kept for a catch-up; must exceed a few heartbeats.
    public init(
        configuration: PostgresBackendConfiguration,
        client: PostgresClient,
        logger: Logger,
        heartbeatInterval: Duration = .seconds(2),
        busRetention: Duration = .seconds(60)
    ) {
        precondition(heartbeatInterval > .zero && busRetention > heartbeatInterval * 5, "invalid listener intervals")
        self.configuration = configuration
        self.client = client
        var logger = logger
        logger[metadataKey: "mcp.postgres.listener"] = "true"
        self.logger = logger
        self.heartbeatInterval = heartbeatInterval
        self.busRetention = busRetention
        (fetchWakeups, fetchWake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Registration

    /// Registers a bus subscriber for the duration of `body`.
    func withBusSubscription<Result>(
        to channels: [String],
        deliver: @escaping @Sendable (BusMessage) -> Void,
        onEnd: @escaping @Sendable () -> Void,
        _ body: () async throws -> Result
    ) async throws -> Result {
        let unique = Array(Set(channels))
        let id = try state.withLock { s -> Int in
            guard !s.isShutdown else { throw PostgresBackendError(.connectionFailed, message: "the PostgreSQL listener has shut down") }
            let id = s.nextID
            s.nextID += 1
            // The server's clock now, estimated from the last heartbeat's reading and the local time since.
            let since = s.lastAlive.map { $0.server + (ContinuousClock.now - $0.local).wholeMilliseconds * 1000 - Self.registrationMargin }
            let subscriber = BusSubscriber(deliver: deliver, onEnd: onEnd, since: since)
            for channel in unique { s.subscribers[channel, default: [:]][id] = subscriber }
            s.subscriberChannels[id] = unique
            return id
        }
        defer { state.withLock { Self.remove(id, from: &$0) } }
        return try await body()
    }

    private static func remove(_ id: Int, from s: inout State) {
        for channel in s.subscriberChannels.removeValue(forKey: id) ?? [] {
            s.subscribers[channel]?[id] = nil
            if s.subscribers[channel]?.isEmpty == true { s.subscribers[channel] = nil }
        }
    }

    /// Calls `wake` whenever `stream` may have changed, for the duration of `body`.
    func withTailWakeups<Result>(stream: String, wake: @escaping @Sendable () -> Void, _ body: () async throws -> Result) async throws -> Result {
        let id = state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.tails[stream, default: [:]][id] = wake
            return id
        }
        defer {
            state.withLock { s in
                s.tails[stream]?[id] = nil
                if s.tails[stream]?.isEmpty == true { s.tails[stream] = nil }
            }
        }
        return try await body()
    }

    /// How many bus subscribers and event-log tails the listener serves now (each subscriber counts once, whatever
    /// its channels): for tests and metrics.
    public var counts: (busSubscribers: Int, tails: Int) {
        state.withLock { s in (s.subscriberChannels.count, s.tails.values.reduce(0) { $0 + $1.count }) }
    }

    // MARK: Running

    public func run() async throws {
        precondition(!running.exchange(true, ordering: .relaxed), "PostgresListener.run() called twice")
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.fetchLoop() }
                await self.connectionLoop()
                group.cancelAll()
            }
        }
        // Shut down: nothing more will be delivered.
        let ended = state.withLock { s -> [BusSubscriber] in
            s.isShutdown = true
            let all = s.subscribers.values.flatMap { $0.values }
            s.subscribers = [:]
            s.subscriberChannels = [:]
            return all
        }
        for subscriber in ended { subscriber.onEnd() }
        wakeAllTails()
    }

    private func connectionLoop() async {
        var backoff = Duration.milliseconds(100)
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            do {
                var listenConfiguration = configuration
                listenConfiguration.applicationName += " listen"
                let connection = try await PostgresConnection.connect(
                    configuration: try listenConfiguration.connectionConfiguration(),
                    id: connectionID,
                    logger: logger
                )
                let outcome: Result<Void, any Error>
                let listening = ContinuousClock.now
                do {
                    try await listen(on: connection)
                    outcome = .success(())
                } catch {
                    outcome = .failure(error)
                }
                try? await connection.close()
                // Back off again only if the connection served a while: a server that accepts connections but
                // fails LISTEN or the catch-up (a standby, an overloaded primary) is not hammered.
                if ContinuousClock.now - listening > heartbeatInterval * 2 { backoff = .milliseconds(100) }
                if case .failure(let error) = outcome, !Task.isCancelled {
                    logger.warning("the LISTEN connection dropped; reconnecting", metadata: ["error": "\(PostgresBackendError.explain(error))"])
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning(
                    "cannot open the LISTEN connection; retrying",
                    metadata: ["error": "\(PostgresBackendError.explain(error))", "backoff": "\(backoff)"]
                )
            }
            wakeAllTails()
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// Listens on `connection` until it fails or the task is cancelled.
    private func listen(on connection: PostgresConnection) async throws {
        try await connection.listen(on: PostgresSchema.notifyChannel) { notifications in
            let now = try await serverClock(connection)
            try await catchUp(connection: connection, now: now)
            wakeAllTails()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while true {
                        try await Task.sleep(for: self.heartbeatInterval)
                        let now = try await self.serverClock(connection)
                        self.alive(now)
                    }
                }
                group.addTask {
                    for try await notification in notifications {
                        self.received(notification.payload)
                    }
                    throw PostgresBackendError(.connectionFailed, message: "the LISTEN connection closed")
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }

    /// The server's clock, which also proves the connection alive: no answer within two heartbeats drops it.
    private func serverClock(_ connection: PostgresConnection) async throws -> Int64 {
        let logger = self.logger
        return try await withDeadline(heartbeatInterval * 2) {
            var now: Int64 = 0
            let rows = try await connection.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint", logger: logger)
            for try await value in rows.decode(Int64.self) { now = value }
            return now
        }
    }

    private func alive(_ serverNow: Int64) {
        let local = ContinuousClock.now
        state.withLock { s in
            s.lastAlive = (serverNow, local)
            // Keep what a catch-up reading back from the last sign of life, less a margin, could find again.
            let horizon = local - heartbeatInterval * 3 - .seconds(10)
            if s.delivered.count > 1024 { s.delivered = s.delivered.filter { $0.value >= horizon } }
        }
    }

    /// After (re)connecting: fetches what was committed while the connection was down, or ends every subscription
    /// if that cannot be known.
    private func catchUp(connection: PostgresConnection, now: Int64) async throws {
        let (lastAlive, channels) = state.withLock { s in (s.lastAlive, Array(s.subscribers.keys)) }
        defer { alive(now) }
        let margin = (heartbeatInterval * 2 + .seconds(5)).wholeMilliseconds * 1000
        // The first connection reads back to when the listener started: a subscriber may have registered before.
        let since = lastAlive.map { $0.server - margin } ?? (now - (ContinuousClock.now - started).wholeMilliseconds * 1000 - margin)
        guard !channels.isEmpty else { return }
        guard now - since < (busRetention - .seconds(5)).wholeMilliseconds * 1000 else {
            logger.warning("the LISTEN connection was down longer than the bus retention; ending subscriptions to re-sync")
            endAllSubscriptions()
            return
        }
        do {
            let logger = self.logger
            let messages = try await withDeadline(.seconds(10)) {
                let rows = try await connection.query(
                    """
                    SELECT \(unescaped: Self.fetchedColumns) FROM mcp_bus
                    WHERE created_at >= to_timestamp(\(Double(since) / 1_000_000)) AND channel = ANY(\(channels))
                    ORDER BY created_at, id
                    """,
                    logger: logger
                )
                return try await Self.fetched(rows)
            }
            logger.debug("caught up after reconnecting", metadata: ["mcp.postgres.messages": "\(messages.count)"])
            deliver(messages)
        } catch {
            logger.warning("catching up failed; ending subscriptions to re-sync", metadata: ["error": "\(PostgresBackendError.explain(error))"])
            endAllSubscriptions()
            throw error
        }
    }

    private func endAllSubscriptions() {
        let ended = state.withLock { s -> [BusSubscriber] in
            let all = s.subscribers.values.flatMap { $0.values }
            s.subscribers = [:]
            s.subscriberChannels = [:]
            return all
        }
        for subscriber in ended { subscriber.onEnd() }
    }

    // MARK: Notifications

    private func received(_ payload: String) {
        let utf8 = payload.utf8
        guard utf8.count >= 2 else { return }
        if payload.hasPrefix("l ") {
            let stream = String(payload.dropFirst(2))
            let wakes = state.withLock { s in s.tails[stream].map { Array($0.values) } ?? [] }
            for wake in wakes { wake() }
        } else if payload.hasPrefix("b ") {
            let rest = payload.dropFirst(2)
            let parts = rest.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard let id = Int64(parts[0]) else { return }
            let channel = parts.count == 2 ? String(parts[1]) : nil
            let wanted = state.withLock { s -> Bool in
                if let channel, s.subscribers[channel] == nil { return false }
                s.pending.append((id, channel))
                return true
            }
            if wanted { fetchWake.yield() }
        }
    }

    /// Fetches pending messages, a batch per query, and delivers them in notification order. Messages that cannot be
    /// read (the store is unreachable for longer than half the retention, or their rows are already gone) end the
    /// subscriptions they were for, so that their subscribers re-sync instead of carrying on with a gap.
    private func fetchLoop() async {
        for await _ in fetchWakeups {
            let pending = state.withLock { s in
                defer { s.pending = [] }
                return s.pending
            }
            guard !pending.isEmpty else { continue }
            let ids = pending.map(\.id)
            let giveUp = ContinuousClock.now + busRetention / 2
            var attempt = 0
            while true {
                do {
                    let fetched = try await client.run(
                        "SELECT \(unescaped: Self.fetchedColumns) FROM mcp_bus WHERE id = ANY(\(ids))",
                        timeout: .seconds(5),
                        Self.fetched
                    )
                    let byID = Dictionary(fetched.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                    deliver(ids.compactMap { byID[$0] })
                    let missing = pending.filter { byID[$0.id] == nil }
                    if !missing.isEmpty {
                        logger.warning("bus messages were gone before they could be read; ending their subscriptions to re-sync")
                        endSubscriptions(of: missing.map(\.channel))
                    }
                    break
                } catch {
                    attempt += 1
                    if Task.isCancelled { return }
                    if ContinuousClock.now >= giveUp {
                        logger.warning(
                            "cannot fetch bus messages; ending their subscriptions to re-sync",
                            metadata: ["error": "\(PostgresBackendError.explain(error))"]
                        )
                        endSubscriptions(of: pending.map(\.channel))
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(100 * min(attempt, 10)))
                }
            }
        }
    }

    /// Ends the subscriptions of `channels`; a `nil` channel (not named by its notification) ends every one.
    private func endSubscriptions(of channels: [String?]) {
        guard !channels.contains(where: { $0 == nil }) else {
            endAllSubscriptions()
            return
        }
        let ended = state.withLock { s -> [BusSubscriber] in
            var ids: Set<Int> = []
            var ended: [BusSubscriber] = []
            for case let channel? in channels {
                for (id, subscriber) in s.subscribers[channel] ?? [:] where ids.insert(id).inserted { ended.append(subscriber) }
            }
            for id in ids { Self.remove(id, from: &s) }
            return ended
        }
        for subscriber in ended { subscriber.onEnd() }
    }

    /// Hands each message, once, to the subscribers of its channel that were present when it was created.
    private func deliver(_ messages: [Fetched]) {
        guard !messages.isEmpty else { return }
        let now = ContinuousClock.now
        let targets = state.withLock { s -> [(BusMessage, [BusSubscriber])] in
            var targets: [(BusMessage, [BusSubscriber])] = []
            for (id, message, createdAt) in messages where s.delivered.updateValue(now, forKey: id) == nil {
                guard let subscribers = s.subscribers[message.channel] else { continue }
                let present = subscribers.values.filter { $0.since.map { createdAt >= $0 } ?? true }
                if !present.isEmpty { targets.append((message, present)) }
            }
            return targets
        }
        for (message, subscribers) in targets {
            for subscriber in subscribers { subscriber.deliver(message) }
        }
    }

    private func wakeAllTails() {
        let wakes = state.withLock { s in s.tails.values.flatMap { $0.values } }
        for wake in wakes { wake() }
    }
}
