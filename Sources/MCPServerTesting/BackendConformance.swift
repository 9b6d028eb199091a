//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer
import Synchronization

/// A store under test: how to give a replica its backends on it.
///
/// Every replica of a deployment shares one store; ``withReplica(_:)`` gives the backends one replica would have
/// (for Redis and PostgreSQL, a client of their own on the shared server; for the in-memory backends, the same
/// objects each time, since they are the store).
public protocol BackendConformanceHarness: Sendable {
    /// Runs `body` with one replica's backends, their ``Backends/services`` running, and stops them after.
    func withReplica<Result: Sendable>(_ body: @Sendable (Backends) async throws -> Result) async throws -> Result

    /// Drops every message-bus connection to the store, as a network blip or a proxy restart would, and returns
    /// `true`; or returns `false` if this store cannot (the in-memory backends have no connection).
    func interruptBus() async throws -> Bool
}

extension BackendConformanceHarness {
    public func interruptBus() async throws -> Bool { false }

    /// Runs `body` with the backends of two replicas on the same store.
    public func withTwoReplicas<Result: Sendable>(_ body: @Sendable (Backends, Backends) async throws -> Result) async throws -> Result {
        try await withReplica { a in try await withReplica { b in try await body(a, b) } }
    }
}

/// A check failed: what was expected and what happened.
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// The check's name.
    public var check: String
    /// What went wrong.
    public var message: String
    public var description: String { "\(check): \(message)" }
}

/// The conformance suite every backend passes: the ``SessionStore``, ``EventLog`` and ``MessageBus`` promises the
/// runtime relies on, checked against a real store through two replicas' clients.
///
/// Run it from any test framework; each check throws ``ConformanceFailure`` when a promise is broken. With Swift
/// Testing, one test per check:
///
/// ```swift
/// @Test(arguments: BackendConformance.checks)
/// func conformance(_ check: BackendConformance.Check) async throws {
///     try await check.run(MyStoreHarness())
/// }
/// ```
///
/// Keys, streams and channels carry a random prefix, so checks may run in parallel on one store.
public enum BackendConformance {
    /// One check of the suite.
    public struct Check: Sendable, CustomStringConvertible {
        /// The check's name, such as `sessionStore.compareAndSetRace`.
        public let name: String
        let body: @Sendable (any BackendConformanceHarness, String) async throws -> Void

        /// Runs the check against `harness`.
        /// - Throws: ``ConformanceFailure`` if the backend breaks a promise, or the backend's own error.
        public func run(_ harness: any BackendConformanceHarness) async throws {
            try await body(harness, "conformance:{\(randomTag())}:\(name)")
        }

        public var description: String { name }
    }

    /// Every check.
    public static let checks: [Check] = sessionStoreChecks + eventLogChecks + messageBusChecks

    // MARK: Helpers

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String, check: String = #function) throws {
        if !condition { throw ConformanceFailure(check: check, message: message()) }
    }

    static func randomTag() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 36)
    }

    /// Waits until `condition` holds, or fails after `timeout`.
    static func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ConformanceFailure(check: what, message: "timed out after \(timeout)")
    }
}

// MARK: - Session store

extension BackendConformance {
    static let sessionStoreChecks: [Check] = [
        Check(name: "sessionStore.createGetSetDelete") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let key = prefix + ":k"
                let first = try await a.sessionStore.create(key, value: ["n": 1], ttl: .seconds(30))
                try expect(first != nil, "create of an absent key returned nil")
                try expect(try await b.sessionStore.create(key, value: ["n": 2], ttl: .seconds(30)) == nil, "a second create succeeded")
                let read = try await b.sessionStore.get(key)
                try expect(read?.value == ["n": 1] && read?.version == first, "get on the other replica returned \(String(describing: read))")
                let second = try await b.sessionStore.set(key, value: ["n": 3], ttl: .seconds(30))
                try expect(second > first!, "set did not increase the version: \(first!) then \(second)")
                try expect(try await a.sessionStore.get(key)?.value == ["n": 3], "set was not seen by the other replica")
                try await a.sessionStore.delete(key)
                try expect(try await b.sessionStore.get(key) == nil, "a deleted key can still be read")
                try await a.sessionStore.delete(key)  // deleting an absent key is fine
                let again = try await b.sessionStore.create(key, value: "again", ttl: .seconds(30))
                try expect(again != nil && again! > second, "a key created again must get a version above every earlier one")
                try await a.sessionStore.delete(key)
            }
        },
        Check(name: "sessionStore.ttlAndTouch") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let key = prefix + ":ttl"
                let version = try await a.sessionStore.create(key, value: 1, ttl: .milliseconds(600))
                try expect(version != nil, "create failed")
                try expect(try await b.sessionStore.touch(key, ttl: .seconds(3)), "touch of a live key returned false")
                try await Task.sleep(for: .milliseconds(900))
                try expect(try await b.sessionStore.get(key)?.value == 1, "touch did not extend the time to live")
                let touched = try await a.sessionStore.getAndTouch(key, ttl: .milliseconds(300))
                try expect(touched?.value == 1 && touched?.version == version, "getAndTouch returned \(String(describing: touched))")
                try await Task.sleep(for: .milliseconds(700))
                try expect(try await b.sessionStore.get(key) == nil, "a key is readable after its time to live")
                try expect(try await b.sessionStore.getAndTouch(key, ttl: .seconds(10)) == nil, "getAndTouch revived an expired key")
                try expect(try await a.sessionStore.touch(key, ttl: .seconds(10)) == false, "touch of an expired key returned true")
                try expect(
                    try await a.sessionStore.compareAndSet(key, value: 2, expectedVersion: version!, ttl: .seconds(10)) == nil,
                    "compare-and-set succeeded on an expired key"
                )
                let recreated = try await b.sessionStore.create(key, value: 3, ttl: .seconds(10))
                try expect(recreated != nil && recreated! > version!, "an expired key could not be created again with a higher version")
                try await a.sessionStore.delete(key)
            }
        },
        Check(name: "sessionStore.compareAndSetRace") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let key = prefix + ":counter"
                _ = try await a.sessionStore.set(key, value: 0, ttl: .seconds(60))
                // 8 writers on two replicas, 6 increments each, every increment a read then a compare-and-set.
                let all = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                    for writer in 0..<8 {
                        let store = writer % 2 == 0 ? a.sessionStore : b.sessionStore
                        group.addTask {
                            var versions: [UInt64] = []
                            while versions.count < 6 {
                                guard let current = try await store.get(key), case .int(let n) = current.value else {
                                    throw ConformanceFailure(check: "sessionStore.compareAndSetRace", message: "the counter vanished")
                                }
                                if let new = try await store.compareAndSet(key, value: .int(n + 1), expectedVersion: current.version, ttl: .seconds(60)) {
                                    versions.append(new)
                                }
                            }
                            return versions
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                let final = try await b.sessionStore.get(key)
                try expect(final?.value == 48, "48 successful compare-and-sets left the counter at \(String(describing: final?.value))")
                try expect(Set(all).count == all.count, "two compare-and-sets returned the same version")
                try await a.sessionStore.delete(key)
            }
        },
        Check(name: "sessionStore.claimOnce") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                for round in 0..<5 {
                    let key = prefix + ":claim:\(round)"
                    let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                        for i in 0..<12 {
                            let store = i % 2 == 0 ? a.sessionStore : b.sessionStore
                            group.addTask { try await store.create(key, value: .int(Int64(i)), ttl: .seconds(30)) != nil }
                        }
                        return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                    }
                    try expect(winners == 1, "\(winners) of 12 concurrent creates of one key succeeded")
                    try await a.sessionStore.delete(key)
                }
            }
        },
        Check(name: "sessionStore.oddKeysAndLargeValues") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let witness = prefix + ":witness"
                _ = try await a.sessionStore.set(witness, value: "untouched", ttl: .seconds(30))
                let large = JSONValue.string(String(repeating: "x", count: 1 << 20))
                let nested: JSONValue = ["a": ["b": [1, 2.5, "ü 🧪 \"quoted\" \\ \n"], "c": nil], "d": true]
                let odd = [
                    " spaces and\ttabs ", "ключ/🔑", "{braces}:{more}", "quote\"back\\slash", "percent%20",
                    String(repeating: "k", count: 4096),
                ]
                for (i, suffix) in odd.enumerated() {
                    let key = prefix + ":" + suffix
                    let value: JSONValue = i == 0 ? large : nested
                    _ = try await a.sessionStore.set(key, value: value, ttl: .seconds(30))
                    let read = try await b.sessionStore.get(key)
                    try expect(read?.value == value, "the value under an odd key (\(suffix.prefix(20))) did not round-trip")
                    try await b.sessionStore.delete(key)
                }
                // A key a store may refuse (a NUL byte): refused or stored, it must not disturb anything else.
                let nul = prefix + ":nul\u{0}key"
                if (try? await a.sessionStore.set(nul, value: 1, ttl: .seconds(5))) != nil {
                    try expect(try await b.sessionStore.get(nul)?.value == 1, "a stored NUL key did not round-trip")
                    try await a.sessionStore.delete(nul)
                }
                try expect(try await b.sessionStore.get(witness)?.value == "untouched", "odd input changed another key")
                try await a.sessionStore.delete(witness)
            }
        },
    ]
}

// MARK: - Event log

extension BackendConformance {
    static let eventLogChecks: [Check] = [
        Check(name: "eventLog.positionsCloseDelete") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let stream = prefix + ":events"
                try expect(try await a.eventLog.exists(stream: stream) == false, "a new stream exists")
                try expect(try await a.eventLog.lastPosition(stream: stream) == 0, "a new stream has a last position")
                for i in 1...5 {
                    let log = i % 2 == 0 ? a.eventLog : b.eventLog
                    let position = try await log.append(stream: stream, data: Array("e\(i)".utf8), ttl: .seconds(30))
                    try expect(position == UInt64(i), "append \(i) got position \(position)")
                }
                try expect(try await b.eventLog.exists(stream: stream), "the stream does not exist after appends")
                try expect(try await a.eventLog.lastPosition(stream: stream) == 5, "lastPosition is not 5")
                let all = try await b.eventLog.read(stream: stream, after: 0, limit: 10)
                try expect(all.map(\.position) == [1, 2, 3, 4, 5], "read after 0 gave \(all.map(\.position))")
                try expect(all[2].data == Array("e3".utf8), "event 3's data changed")
                let page = try await a.eventLog.read(stream: stream, after: 2, limit: 2)
                try expect(page.map(\.position) == [3, 4], "read after 2, limit 2 gave \(page.map(\.position))")
                try expect(try await a.eventLog.read(stream: stream, after: 5, limit: 10).isEmpty, "read after the last event is not empty")
                try expect(try await a.eventLog.read(stream: stream, after: 0, limit: 0).isEmpty, "read with limit 0 is not empty")
                try await a.eventLog.close(stream: stream, ttl: .seconds(30))
                try await b.eventLog.close(stream: stream, ttl: .seconds(30))
                try expect(try await b.eventLog.read(stream: stream, after: 4, limit: 10).map(\.position) == [5], "close changed the events")
                try expect(try await a.eventLog.append(stream: stream, data: [], ttl: .seconds(30)) == 6, "an append after close is not 6")
                try await b.eventLog.delete(stream: stream)
                try expect(try await a.eventLog.exists(stream: stream) == false, "a deleted stream exists")
                try expect(try await a.eventLog.read(stream: stream, after: 0, limit: 10).isEmpty, "a deleted stream has events")
                try expect(try await a.eventLog.append(stream: stream, data: [], ttl: .seconds(30)) == 1, "a stream deleted and appended to does not start at 1")
                try await a.eventLog.delete(stream: stream)
            }
        },
        Check(name: "eventLog.concurrentAppendsNeverSkipped") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let stream = prefix + ":race"
                let total = 120
                let writersDone = Flag()
                let (appended, seen) = try await withThrowingTaskGroup(of: (writer: [UInt64]?, reader: [UInt64]?).self) { group in
                    for writer in 0..<6 {
                        let log = writer % 2 == 0 ? a.eventLog : b.eventLog
                        group.addTask {
                            var positions: [UInt64] = []
                            for i in 0..<(total / 6) {
                                positions.append(try await log.append(stream: stream, data: [UInt8(writer), UInt8(i)], ttl: .seconds(60)))
                            }
                            return (positions, nil)
                        }
                    }
                    // A reader that only ever reads after the last position it saw, as a resuming client does.
                    group.addTask {
                        var last: UInt64 = 0
                        var seen: [UInt64] = []
                        while true {
                            let finished = writersDone.isSet
                            let page = try await b.eventLog.read(stream: stream, after: last, limit: 50)
                            for event in page {
                                guard event.position == last + 1 else {
                                    throw ConformanceFailure(
                                        check: "eventLog.concurrentAppendsNeverSkipped",
                                        message: "after position \(last) a reader got \(event.position): a position was skipped"
                                    )
                                }
                                last = event.position
                                seen.append(event.position)
                            }
                            if finished && page.isEmpty { return (nil, seen) }
                        }
                    }
                    var appended: [UInt64] = []
                    var seen: [UInt64] = []
                    var writers = 0
                    while let result = try await group.next() {
                        if let positions = result.writer {
                            appended += positions
                            writers += 1
                            if writers == 6 { writersDone.set() }
                        }
                        if let positions = result.reader { seen = positions }
                    }
                    return (appended, seen)
                }
                let positions = appended.sorted()
                try expect(positions == (1...UInt64(total)).map { $0 }, "concurrent appends did not get positions 1...\(total) once each")
                try expect(seen == (1...UInt64(total)).map { $0 }, "the reader saw \(seen.count) of \(total) events")
                try await a.eventLog.delete(stream: stream)
            }
        },
        Check(name: "eventLog.tailBacklogLiveAndClose") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let stream = prefix + ":tail"
                for i in 1...3 { _ = try await a.eventLog.append(stream: stream, data: [UInt8(i)], ttl: .seconds(30)) }
                let seen = try await b.eventLog.tail(stream: stream, after: 1) { events in
                    var seen: [UInt64] = []
                    for try await event in events {
                        seen.append(event.position)
                        guard event.data == [UInt8(event.position)] else {
                            throw ConformanceFailure(check: "eventLog.tailBacklogLiveAndClose", message: "event \(event.position)'s data changed")
                        }
                        if event.position == 3 {
                            _ = try await a.eventLog.append(stream: stream, data: [4], ttl: .seconds(30))
                            _ = try await a.eventLog.append(stream: stream, data: [5], ttl: .seconds(30))
                        }
                        if event.position == 5 { try await a.eventLog.close(stream: stream, ttl: .seconds(30)) }
                    }
                    return seen
                }
                try expect(seen == [2, 3, 4, 5], "a tail after 1 saw \(seen)")
                let replay = try await a.eventLog.tail(stream: stream, after: 0) { events in
                    var positions: [UInt64] = []
                    for try await event in events { positions.append(event.position) }
                    return positions
                }
                try expect(replay == [1, 2, 3, 4, 5], "a tail of a closed stream replayed \(replay)")
                try await a.eventLog.delete(stream: stream)
            }
        },
        Check(name: "eventLog.tailEndsOnDeleteOrMissing") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let stream = prefix + ":gone"
                let none = try await a.eventLog.tail(stream: stream, after: 0) { events in
                    var n = 0
                    for try await _ in events { n += 1 }
                    return n
                }
                try expect(none == 0, "a tail of a missing stream delivered events")
                _ = try await a.eventLog.append(stream: stream, data: [1], ttl: .seconds(30))
                let count = try await b.eventLog.tail(stream: stream, after: 0) { events in
                    var n = 0
                    for try await _ in events {
                        n += 1
                        try await a.eventLog.delete(stream: stream)
                    }
                    return n
                }
                try expect(count == 1, "a tail of a deleted stream did not end after its one event")
            }
        },
        Check(name: "eventLog.retentionAndTrim") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let stream = prefix + ":retention"
                for _ in 1...10 { _ = try await a.eventLog.append(stream: stream, data: [0], ttl: .seconds(30)) }
                try await b.eventLog.trim(stream: stream, keepingLast: 3)
                let kept = try await a.eventLog.read(stream: stream, after: 0, limit: 100).map(\.position)
                try expect(kept.last == 10 && kept.count >= 3, "after trimming to 3, the log holds \(kept)")
                try expect(kept == (kept.first!...10).map { $0 }, "trimming left a hole: \(kept)")
                try expect(try await a.eventLog.lastPosition(stream: stream) == 10, "trimming changed the last position")
                try expect(try await b.eventLog.append(stream: stream, data: [1], ttl: .seconds(30)) == 11, "an append after trim is not 11")
                try await a.eventLog.close(stream: stream, ttl: .milliseconds(400))
                try expect(try await b.eventLog.exists(stream: stream), "a closed stream is gone before its retention")
                try await Task.sleep(for: .milliseconds(900))
                try expect(try await b.eventLog.exists(stream: stream) == false, "a closed stream outlived its retention")
                try expect(try await b.eventLog.read(stream: stream, after: 0, limit: 10).isEmpty, "an expired stream still has events")
                try expect(try await a.eventLog.append(stream: stream, data: [], ttl: .milliseconds(400)) == 1, "an expired stream does not start again at 1")
                try await Task.sleep(for: .milliseconds(900))
                try expect(try await a.eventLog.lastPosition(stream: stream) == 0, "an expired stream has a last position")
            }
        },
        Check(name: "eventLog.largeAndEmptyEventsOddNames") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
                for suffix in [":large", ":ключ 🔑 {x}", ":" + String(repeating: "s", count: 4096)] {
                    let stream = prefix + suffix
                    _ = try await a.eventLog.append(stream: stream, data: large, ttl: .seconds(30))
                    _ = try await a.eventLog.append(stream: stream, data: [], ttl: .seconds(30))
                    let events = try await b.eventLog.read(stream: stream, after: 0, limit: 10)
                    try expect(events.count == 2 && events[0].data == large && events[1].data.isEmpty, "a 1 MiB or empty event did not round-trip")
                    try await a.eventLog.delete(stream: stream)
                }
            }
        },
    ]
}

// MARK: - Message bus

extension BackendConformance {
    /// A flag shared between tasks.
    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func set() { value.store(true, ordering: .releasing) }
    }

    /// Collects what a callback subscription receives, and whether it was ended.
    final class Inbox: Sendable {
        let messages = Mutex<[BusMessage]>([])
        let ended = Atomic<Bool>(false)
        func deliver(_ message: BusMessage) { messages.withLock { $0.append(message) } }
        func end() { ended.store(true, ordering: .relaxed) }
        var count: Int { messages.withLock { $0.count } }
        var all: [BusMessage] { messages.withLock { $0 } }
    }

    static func subscribe<Result: Sendable>(
        _ bus: any MessageBus,
        _ channels: [String],
        _ inbox: Inbox,
        _ body: () async throws -> Result
    ) async throws -> Result {
        try await bus.subscribe(to: channels, deliver: { inbox.deliver($0) }, onEnd: { inbox.end() }, body)
    }

    static let messageBusChecks: [Check] = [
        Check(name: "messageBus.fanOutInOrder") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let channel = prefix + ":fan"
                let (x, y, z) = (Inbox(), Inbox(), Inbox())
                try await subscribe(b.messageBus, [channel], x) {
                    try await subscribe(b.messageBus, [channel, channel + ":also"], y) {
                        try await subscribe(a.messageBus, [channel], z) {
                            for i in 0..<20 { try await a.messageBus.publish([UInt8(i)], to: channel) }
                            try await eventually("fan-out") { x.count == 20 && y.count == 20 && z.count == 20 }
                        }
                    }
                }
                let expected = (0..<20).map { BusMessage(channel: channel, payload: [UInt8($0)]) }
                try expect(x.all == expected && y.all == expected && z.all == expected, "subscribers got messages out of order or changed")
            }
        },
        Check(name: "messageBus.scopedUnsubscribeAndIsolation") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let channel = prefix + ":scoped"
                let (early, stays) = (Inbox(), Inbox())
                try await subscribe(b.messageBus, [channel], stays) {
                    try await subscribe(b.messageBus, [channel], early) {
                        try await a.messageBus.publish([1], to: channel)
                        try await a.messageBus.publish([9], to: channel + ":other")
                        try await eventually("first message") { early.count == 1 && stays.count == 1 }
                    }
                    try await a.messageBus.publish([2], to: channel)
                    try await eventually("second message") { stays.count == 2 }
                }
                try await a.messageBus.publish([3], to: channel)
                try await Task.sleep(for: .milliseconds(300))
                try expect(early.all == [BusMessage(channel: channel, payload: [1])], "an ended subscription got \(early.all.count) messages")
                try expect(stays.all.map(\.payload) == [[1], [2]], "the remaining subscriber got \(stays.all.map(\.payload))")
                // The stream form.
                let received = try await b.messageBus.subscribe(to: [channel]) { messages in
                    try await a.messageBus.publish([4], to: channel)
                    var iterator = messages.makeAsyncIterator()
                    return await iterator.next()
                }
                try expect(received == BusMessage(channel: channel, payload: [4]), "the stream form got \(String(describing: received))")
            }
        },
        Check(name: "messageBus.largePayloadsOddChannels") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                let medium = [UInt8](repeating: 0xAB, count: 9000)  // above PostgreSQL's NOTIFY limit
                let channels = [prefix + ":big", prefix + ":канал 📣 {x}", prefix + ":" + String(repeating: "c", count: 8200)]
                for channel in channels {
                    let inbox = Inbox()
                    try await subscribe(b.messageBus, [channel], inbox) {
                        try await a.messageBus.publish(large, to: channel)
                        try await a.messageBus.publish(medium, to: channel)
                        try await a.messageBus.publish([], to: channel)
                        try await eventually("large messages") { inbox.count == 3 }
                    }
                    try expect(
                        inbox.all.map(\.payload) == [large, medium, []] && inbox.all.allSatisfy { $0.channel == channel },
                        "large or empty payloads on channel \(channel.prefix(40)) did not round-trip"
                    )
                }
            }
        },
        Check(name: "messageBus.interruptedConnectionLosesNothingSilently") { harness, prefix in
            try await harness.withTwoReplicas { a, b in
                let channel = prefix + ":blip"
                let inbox = Inbox()
                let supported = try await subscribe(b.messageBus, [channel], inbox) { () async throws -> Bool in
                    try await a.messageBus.publish([0], to: channel)
                    try await eventually("before the interruption") { inbox.count == 1 }
                    guard try await harness.interruptBus() else { return false }
                    for i in 1...5 { try await a.messageBus.publish([UInt8(i)], to: channel) }
                    // Every message arrives, or the subscription is ended so that its subscriber re-syncs.
                    try await eventually("the messages, or the end of the subscription", timeout: .seconds(20)) {
                        inbox.count == 6 || inbox.ended.load(ordering: .relaxed)
                    }
                    return true
                }
                guard supported else { return }
                if !inbox.ended.load(ordering: .relaxed) {
                    try expect(inbox.all.map(\.payload) == (0...5).map { [UInt8($0)] }, "after the interruption: \(inbox.all.map(\.payload))")
                }
                // A new subscription works after the interruption.
                let after = Inbox()
                try await subscribe(b.messageBus, [channel], after) {
                    try await eventually("a new subscription after the interruption", timeout: .seconds(20)) {
                        try await a.messageBus.publish([7], to: channel)
                        try await Task.sleep(for: .milliseconds(200))
                        return after.count > 0
                    }
                }
            }
        },
    ]
}
