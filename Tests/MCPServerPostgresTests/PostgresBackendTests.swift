//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import MCPServer
import MCPServerTesting
import NIOCore
import PostgresNIO
import Synchronization
import Testing

@testable import MCPServerPostgres

/// Each replica gets a pool, a listener and a sweeper of its own on the test server; the listeners are named for
/// this harness so that ``interruptBus()`` drops only theirs.
struct PostgresHarness: BackendConformanceHarness {
    let name = "mcp-conformance-\(UInt32.random(in: 0...UInt32.max))"

    func withReplica<Result: Sendable>(_ body: @Sendable (Backends) async throws -> Result) async throws -> Result {
        var configuration = TestPostgres.configuration
        configuration.applicationName = name
        return try await TestPostgres.withReplica(configuration) { backends, _ in try await body(backends) }
    }

    /// Terminates this harness's LISTEN connections, as a failover or a proxy restart would.
    func interruptBus() async throws -> Bool {
        try await TestPostgres.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '\(name) listen'"
        )
        return true
    }
}

@Suite("Backend conformance: PostgreSQL", .enabled(if: TestPostgres.shouldRun), .timeLimit(.minutes(2)))
struct BackendConformancePostgresTests {
    @Test(arguments: BackendConformance.checks)
    func conformance(_ check: BackendConformance.Check) async throws {
        try await check.run(PostgresHarness())
    }
}

@Suite("PostgreSQL backends against a real server", .enabled(if: TestPostgres.shouldRun), .timeLimit(.minutes(2)))
struct PostgresBackendTests {
    /// Stronger than the conformance suite asks: a dropped LISTEN connection loses nothing and ends nothing, because
    /// the listener catches up from the table.
    @Test func listenConnectionDroppedCatchesUpWithoutEndingSubscriptions() async throws {
        let harness = PostgresHarness()
        let channel = "catch-up:\(UInt32.random(in: 0...UInt32.max))"
        try await harness.withTwoReplicas { a, b in
            let received = Mutex<[[UInt8]]>([])
            let ended = Atomic<Bool>(false)
            try await b.messageBus.subscribe(
                to: [channel],
                deliver: { message in received.withLock { $0.append(message.payload) } },
                onEnd: { ended.store(true, ordering: .relaxed) }
            ) {
                try await a.messageBus.publish([0], to: channel)
                try await waitFor { received.withLock { $0.count } == 1 }
                _ = try await harness.interruptBus()
                // Published while b's LISTEN connection is down or reconnecting.
                for i in 1...20 { try await a.messageBus.publish([UInt8(i)], to: channel) }
                try await waitFor(timeout: .seconds(15)) { received.withLock { $0.count } >= 21 }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(ended.load(ordering: .relaxed) == false)
            #expect(received.withLock { $0 } == (0...20).map { [UInt8($0)] })
        }
    }

    /// The listener forgets a subscriber and a tail when they end: nothing is left behind per subscription.
    @Test func listenerForgetsEndedSubscriptionsAndTails() async throws {
        try await TestPostgres.withReplica { backends, _ in
            let listener = try #require(backends.services.compactMap { $0 as? PostgresListener }.first)
            let stream = "counts:\(UInt32.random(in: 0...UInt32.max))"
            _ = try await backends.eventLog.append(stream: stream, data: [1], ttl: .seconds(60))
            try await backends.messageBus.subscribe(to: ["counts-a", "counts-b"], deliver: { _ in }, onEnd: {}) {
                #expect(listener.counts.busSubscribers == 1)
                let tailed = try await backends.eventLog.tail(stream: stream, after: 0) { events in
                    #expect(listener.counts.tails == 1)
                    for try await event in events { return event.position }
                    return 0
                }
                #expect(tailed == 1)
            }
            #expect(listener.counts.busSubscribers == 0)
            #expect(listener.counts.tails == 0)
        }
    }

    /// A store that is down fails each operation after the operation timeout: nothing waits for the pool forever.
    @Test func operationsFailWithinTheirTimeoutWhenTheServerIsDown() async throws {
        var configuration = try PostgresBackendConfiguration(url: "postgres://u@127.0.0.1:1/d?sslmode=disable")
        configuration.operationTimeout = .milliseconds(500)
        let backends = try Backends.postgres(configuration: configuration, keyRing: StaticKeyRing(keys: [.random()]), logger: TestPostgres.logger)
        await withThrowingTaskGroup(of: Void.self) { group in
            for service in backends.services { group.addTask { try await service.run() } }
            defer { group.cancelAll() }
            let start = ContinuousClock.now
            await #expect {
                _ = try await backends.sessionStore.getAndTouch("k", ttl: .seconds(10))
            } throws: { error in
                (error as? PostgresBackendError)?.code == .timeout
            }
            await #expect(throws: PostgresBackendError.self) { try await backends.messageBus.publish([1], to: "c") }
            await #expect(throws: PostgresBackendError.self) { _ = try await backends.eventLog.append(stream: "s", data: [], ttl: .seconds(1)) }
            #expect(ContinuousClock.now - start < .seconds(5))
        }
    }

    /// Delivery is to subscribers present at publish time: a subscriber that joins while the LISTEN connection is
    /// down does not get, in the catch-up, a message published a while before it subscribed.
    @Test func catchUpSkipsMessagesFromBeforeTheSubscription() async throws {
        let harness = PostgresHarness()
        let channel = "before:\(UInt32.random(in: 0...UInt32.max))"
        try await harness.withTwoReplicas { a, b in
            // Let b's listener connect once (so it knows the server's clock), then keep it down for a while.
            try await Task.sleep(for: .milliseconds(500))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let end = ContinuousClock.now + .milliseconds(1800)
                    while ContinuousClock.now < end {
                        _ = try await harness.interruptBus()
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                try await Task.sleep(for: .milliseconds(100))
                try await a.messageBus.publish([1], to: channel)
                try await Task.sleep(for: .milliseconds(1000))
                let received = Mutex<[[UInt8]]>([])
                try await b.messageBus.subscribe(
                    to: [channel],
                    deliver: { message in received.withLock { $0.append(message.payload) } },
                    onEnd: {}
                ) {
                    try await a.messageBus.publish([2], to: channel)
                    try await group.waitForAll()
                    try await waitFor(timeout: .seconds(15)) { received.withLock { $0.count } >= 1 }
                    try await Task.sleep(for: .milliseconds(500))
                }
                #expect(received.withLock { $0 } == [[2]])
            }
        }
    }

    /// A delete that waits for an append holding the stream's counter row deletes the event that append commits:
    /// nothing is left behind without its stream.
    @Test func deleteRacingAnAppendLeavesNoEvents() async throws {
        let stream = "race:\(UInt32.random(in: 0...UInt32.max))"
        try await TestPostgres.withReplica { backends, client in
            _ = try await backends.eventLog.append(stream: stream, data: [1], ttl: .seconds(30))
            try await withThrowingTaskGroup(of: Void.self) { group in
                try await client.withTransaction(logger: TestPostgres.logger) { connection in
                    // An append in an open transaction: the counter row is locked, event 2 not yet committed.
                    _ = try await connection.query("SELECT mcp_log_append(\(stream), \(ByteBuffer(bytes: [2])), 30000)", logger: TestPostgres.logger)
                    group.addTask { try await backends.eventLog.delete(stream: stream) }
                    try await Task.sleep(for: .milliseconds(300))
                }
                try await group.waitForAll()
            }
            var left = -1
            for try await n in try await client.query("SELECT count(*)::bigint FROM mcp_log_events WHERE stream = \(stream)").decode(Int64.self) {
                left = Int(n)
            }
            #expect(left == 0)
            #expect(try await backends.eventLog.exists(stream: stream) == false)
        }
    }

    /// Events whose stream row is gone are swept.
    @Test func orphanedEventsAreSwept() async throws {
        let stream = "orphan:\(UInt32.random(in: 0...UInt32.max))"
        try await TestPostgres.withReplica { _, client in
            _ = try await client.query("INSERT INTO mcp_log_events (stream, position, data) VALUES (\(stream), 1, '\\x00')")
            let sweeper = PostgresSweeper(client: client, logger: TestPostgres.logger)
            #expect(await sweeper.sweepOrphans() >= 1)
            var left = -1
            for try await n in try await client.query("SELECT count(*)::bigint FROM mcp_log_events WHERE stream = \(stream)").decode(Int64.self) {
                left = Int(n)
            }
            #expect(left == 0)
        }
    }

    /// Replicas starting at once all migrate: exactly one applies each migration, none fails.
    @Test func concurrentMigrationsOnAFreshDatabase() async throws {
        let database = "mcp_migrate_\(UInt32.random(in: 0...UInt32.max))"
        try await TestPostgres.admin("CREATE DATABASE \(database)")
        var configuration = TestPostgres.configuration
        configuration.database = database
        let fresh = configuration
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask { try await PostgresSchema.migrate(configuration: fresh, logger: TestPostgres.logger) }
            }
            try await group.waitForAll()
        }
        let versions = try await TestPostgres.withClient(fresh) { client in
            var versions: [Int] = []
            for try await v in try await client.query("SELECT version FROM mcp_schema_migrations ORDER BY version").decode(Int.self) {
                versions.append(v)
            }
            return versions
        }
        #expect(versions == Array(1...PostgresSchema.currentVersion))
        try await TestPostgres.admin("DROP DATABASE \(database) WITH (FORCE)")
    }

    /// A schema newer than the build refuses to start, rather than writing to tables it does not understand.
    @Test func newerSchemaIsRefused() async throws {
        let database = "mcp_newer_\(UInt32.random(in: 0...UInt32.max))"
        try await TestPostgres.admin("CREATE DATABASE \(database)")
        var configuration = TestPostgres.configuration
        configuration.database = database
        try await PostgresSchema.migrate(configuration: configuration, logger: TestPostgres.logger)
        let fresh = configuration
        try await TestPostgres.withClient(fresh) { client in
            _ = try await client.query("INSERT INTO mcp_schema_migrations (version) VALUES (\(PostgresSchema.currentVersion + 1))")
        }
        await #expect {
            try await PostgresSchema.migrate(configuration: fresh, logger: TestPostgres.logger)
        } throws: { error in
            (error as? PostgresBackendError)?.code == .migrationFailed && "\(error)".contains("newer than this build")
        }
        try await TestPostgres.admin("DROP DATABASE \(database) WITH (FORCE)")
    }

    /// The sweeper deletes expired rows; reads never see them even before it runs.
    @Test func sweeperDeletesExpiredRows() async throws {
        let key = "sweep:\(UInt32.random(in: 0...UInt32.max))"
        try await TestPostgres.withReplica { backends, client in
            _ = try await backends.sessionStore.set(key, value: 1, ttl: .milliseconds(50))
            _ = try await backends.eventLog.append(stream: key, data: [1], ttl: .milliseconds(50))
            try await Task.sleep(for: .milliseconds(150))
            #expect(try await backends.sessionStore.get(key) == nil)
            let sweeper = PostgresSweeper(client: client, logger: TestPostgres.logger)
            try await waitFor { await sweeper.sweepOnce() >= 0 }
            var left = 0
            for try await n in try await client.query(
                "SELECT (SELECT count(*) FROM mcp_kv WHERE key = \(key)) + (SELECT count(*) FROM mcp_log_events WHERE stream = \(key))"
            ).decode(Int.self) {
                left = n
            }
            #expect(left == 0)
        }
    }
}

/// Waits until `condition` holds, polling; fails after `timeout`.
func waitFor(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out after \(timeout)")
    throw CancellationError()
}
