//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
import Synchronization
import Testing

@testable import MCPServerRedis

@Suite("Redis backends against a real server", .enabled(if: TestRedis.shouldRun), .timeLimit(.minutes(2)))
struct RedisBackendIntegrationTests {
    // MARK: Session store

    @Test func sessionStoreCreateGetSetDelete() async throws {
        let key = TestRedis.prefix() + ":session"
        try await TestRedis.withClient { client async throws in
            let store = RedisSessionStore(client: client)
            #expect(try await store.get(key) == nil)
            let v1 = try #require(try await store.create(key, value: ["n": 1, "s": "é"], ttl: .seconds(10)))
            #expect(try await store.create(key, value: ["n": 2], ttl: .seconds(10)) == nil)
            #expect(try await store.get(key) == VersionedValue(value: ["n": 1, "s": "é"], version: v1))
            let v2 = try await store.set(key, value: ["n": 3], ttl: .seconds(10))
            #expect(v2 > v1)
            #expect(try await store.get(key)?.value == ["n": 3])
            try await store.delete(key)
            #expect(try await store.get(key) == nil)
            // A key created again gets a version above the deleted one's.
            let v3 = try #require(try await store.create(key, value: ["n": 4], ttl: .seconds(10)))
            #expect(v3 > v2)
            try await store.delete(key)
        }
    }

    @Test func compareAndSetConflict() async throws {
        let key = TestRedis.prefix() + ":session"
        try await TestRedis.withClient { clientA async throws in
            try await TestRedis.withClient { clientB async throws in
                let a = RedisSessionStore(client: clientA)
                let b = RedisSessionStore(client: clientB)
                let v1 = try #require(try await a.create(key, value: ["owner": "none"], ttl: .seconds(10)))
                // Both replicas read version v1; A wins, B's write with the stale version is refused.
                let v2 = try #require(try await a.compareAndSet(key, value: ["owner": "a"], expectedVersion: v1, ttl: .seconds(10)))
                #expect(v2 > v1)
                #expect(try await b.compareAndSet(key, value: ["owner": "b"], expectedVersion: v1, ttl: .seconds(10)) == nil)
                #expect(try await b.get(key) == VersionedValue(value: ["owner": "a"], version: v2))
                #expect(try await b.compareAndSet(key + ":absent", value: [:], expectedVersion: v1, ttl: .seconds(10)) == nil)
                try await a.delete(key)
            }
        }
    }

    @Test func compareAndSetCountsExactlyUnderContention() async throws {
        let key = TestRedis.prefix() + ":counter"
        try await TestRedis.withClient { clientA async throws in
            try await TestRedis.withClient { clientB async throws in
                _ = try await RedisSessionStore(client: clientA).create(key, value: ["n": 0], ttl: .seconds(30))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<20 {
                        let store = RedisSessionStore(client: i % 2 == 0 ? clientA : clientB)
                        group.addTask {
                            while true {
                                let current = try #require(try await store.get(key))
                                let n = current.value["n"]?.intValue ?? -1
                                if try await store.compareAndSet(
                                    key, value: ["n": .int(Int64(n + 1))], expectedVersion: current.version, ttl: .seconds(30)) != nil
                                {
                                    return
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(try await RedisSessionStore(client: clientA).get(key)?.value == ["n": 20])
                try await clientA.execute(RESPCommand("DEL", .string(key)))
            }
        }
    }

    @Test func sessionStoreTTLExpiryAndTouch() async throws {
        let key = TestRedis.prefix() + ":session"
        try await TestRedis.withClient { client async throws in
            let store = RedisSessionStore(client: client)
            _ = try await store.create(key, value: "short", ttl: .milliseconds(300))
            let pttl = try await client.execute(RESPCommand("PTTL", .string(key))).int64 ?? -1
            #expect(pttl > 0 && pttl <= 300)
            // Sliding expiry: touch extends it.
            #expect(try await store.touch(key, ttl: .seconds(10)))
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await store.get(key)?.value == "short")
            #expect(try await store.touch(key, ttl: .milliseconds(200)))
            // getAndTouch reads and extends in one GETEX.
            #expect(try await store.getAndTouch(key, ttl: .seconds(10))?.value == "short")
            let extended = try await client.execute(RESPCommand("PTTL", .string(key))).int64 ?? -1
            #expect(extended > 5000)
            #expect(try await store.touch(key, ttl: .milliseconds(200)))
            try await eventually("expiry") { try await store.get(key) == nil }
            #expect(try await store.getAndTouch(key, ttl: .seconds(10)) == nil)
            #expect(try await store.touch(key, ttl: .seconds(1)) == false)
            // An expired key can be created again.
            #expect(try await store.create(key, value: "again", ttl: .milliseconds(200)) != nil)
        }
    }

    // MARK: Event log

    @Test func eventLogAppendReadPositions() async throws {
        let stream = TestRedis.prefix() + ":events"
        try await TestRedis.withClient { client async throws in
            let log = RedisEventLog(client: client)
            #expect(try await log.exists(stream: stream) == false)
            for i in 1...5 {
                #expect(try await log.append(stream: stream, data: Array("e\(i)".utf8), ttl: .seconds(10)) == UInt64(i))
            }
            #expect(try await log.exists(stream: stream))
            #expect(try await log.read(stream: stream, after: 0, limit: 10).map(\.position) == [1, 2, 3, 4, 5])
            #expect(
                try await log.read(stream: stream, after: 2, limit: 2) == [
                    LoggedEvent(position: 3, data: Array("e3".utf8)), LoggedEvent(position: 4, data: Array("e4".utf8)),
                ])
            #expect(try await log.read(stream: stream, after: 5, limit: 10).isEmpty)
            #expect(try await log.read(stream: stream, after: 0, limit: 0).isEmpty)
            // Close adds a marker that reads skip; appends after it keep counting.
            try await log.close(stream: stream, ttl: .seconds(10))
            try await log.close(stream: stream, ttl: .seconds(10))
            #expect(try await log.read(stream: stream, after: 4, limit: 10).map(\.position) == [5])
            #expect(try await log.append(stream: stream, data: [], ttl: .seconds(10)) == 6)
            #expect(try await log.read(stream: stream, after: 0, limit: 10).map(\.position) == [1, 2, 3, 4, 5, 6])
            // Every key of the stream expires.
            let pttl = try await client.execute(RESPCommand("PTTL", .string(stream))).int64 ?? -1
            #expect(pttl > 0)
            try await log.delete(stream: stream)
            #expect(try await log.exists(stream: stream) == false)
            #expect(try await log.append(stream: stream, data: [], ttl: .seconds(10)) == 1)
            try await log.delete(stream: stream)
        }
    }

    @Test func eventLogTailAcrossTwoClientsThenCloseEndsIt() async throws {
        let stream = TestRedis.prefix() + ":events"
        try await TestRedis.withClient { writerClient async throws in
            try await TestRedis.withClient { readerClient async throws in
                let writer = RedisEventLog(client: writerClient)
                // A long poll interval: live delivery must come from the notification, not polling.
                let reader = RedisEventLog(client: readerClient, pollInterval: .seconds(30), pageSize: 2)
                for i in 1...3 { _ = try await writer.append(stream: stream, data: [UInt8(i)], ttl: .seconds(30)) }
                let seen = try await reader.tail(stream: stream, after: 1) { events in
                    var seen: [UInt64] = []
                    for try await event in events {
                        seen.append(event.position)
                        #expect(event.data == [UInt8(event.position)])
                        if event.position == 3 {
                            // Backlog done: now live events from the other client.
                            _ = try await writer.append(stream: stream, data: [4], ttl: .seconds(30))
                            _ = try await writer.append(stream: stream, data: [5], ttl: .seconds(30))
                        }
                        if event.position == 5 { try await writer.close(stream: stream, ttl: .seconds(30)) }
                    }
                    return seen
                }
                #expect(seen == [2, 3, 4, 5])
                // A tail of a closed stream replays and ends.
                let replay = try await reader.tail(stream: stream, after: 0) { events in
                    var positions: [UInt64] = []
                    for try await event in events { positions.append(event.position) }
                    return positions
                }
                #expect(replay == [1, 2, 3, 4, 5])
                try await writer.delete(stream: stream)
            }
        }
    }

    @Test func eventLogTailEndsWhenTheStreamIsDeletedOrMissing() async throws {
        let stream = TestRedis.prefix() + ":events"
        try await TestRedis.withClient { client async throws in
            let log = RedisEventLog(client: client, pollInterval: .seconds(30))
            let none = try await log.tail(stream: stream, after: 0) { events in
                var n = 0
                for try await _ in events { n += 1 }
                return n
            }
            #expect(none == 0)
            _ = try await log.append(stream: stream, data: [1], ttl: .seconds(30))
            let count = try await log.tail(stream: stream, after: 0) { events in
                var n = 0
                for try await _ in events {
                    n += 1
                    try await log.delete(stream: stream)
                }
                return n
            }
            #expect(count == 1)
        }
    }

    // MARK: Message bus

    /// Runs `body` with the backends of two replicas, each on its own client of the same Redis.
    func withTwoReplicas(_ body: @escaping @Sendable (_ a: Backends, _ b: Backends) async throws -> Void) async throws {
        try await TestRedis.withClient { clientA async throws in
            try await TestRedis.withClient { clientB async throws in
                try await body(
                    Backends.redis(client: clientA, keyRing: StaticKeyRing(keys: [.random()])),
                    Backends.redis(client: clientB, keyRing: StaticKeyRing(keys: [.random()]))
                )
            }
        }
    }

    @Test func messageBusAcrossTwoClients() async throws {
        let channel = TestRedis.prefix()
        try await withTwoReplicas { backendsA, backendsB in
            let received = try await backendsB.messageBus.subscribe(to: [channel]) { messages in
                try await backendsA.messageBus.publish([1, 2, 3], to: channel)
                try await backendsA.messageBus.publish([], to: channel)
                var all: [BusMessage] = []
                for await message in messages {
                    all.append(message)
                    if all.count == 2 { break }
                }
                return all
            }
            #expect(received == [BusMessage(channel: channel, payload: [1, 2, 3]), BusMessage(channel: channel, payload: [])])
        }
    }

    @Test func messageBusCallbacksAcrossTwoClients() async throws {
        let channel = TestRedis.prefix()
        try await withTwoReplicas { backendsA, backendsB in
            let received = Mutex<[BusMessage]>([])
            let (arrivals, arrived) = AsyncStream<Void>.makeStream()
            try await backendsB.messageBus.subscribe(
                to: [channel],
                deliver: { message in
                    received.withLock { $0.append(message) }
                    arrived.yield()
                },
                onEnd: {}
            ) {
                // The subscription is confirmed before the body starts: nothing published now is missed.
                try await backendsA.messageBus.publish([1, 2, 3], to: channel)
                try await backendsA.messageBus.publish([9], to: channel + ":other")
                try await backendsA.messageBus.publish([], to: channel)
                var iterator = arrivals.makeAsyncIterator()
                while received.withLock({ $0.count }) < 2 { _ = await iterator.next() }
            }
            // Removed with the body: a later message reaches no callback.
            try await backendsA.messageBus.publish([4], to: channel)
            try await Task.sleep(for: .milliseconds(100))
            #expect(received.withLock { $0 } == [BusMessage(channel: channel, payload: [1, 2, 3]), BusMessage(channel: channel, payload: [])])
        }
    }
}
