//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Synchronization
import Testing

@testable import MCPServer

@Suite("In-memory message bus")
struct MemoryMessageBusTests {
    @Test func callbackSubscriptionDeliversOnlyItsChannelsAndOnlyWhileSubscribed() async throws {
        let bus = MemoryMessageBus()
        let received = Mutex<[BusMessage]>([])
        try await bus.subscribe(to: ["a", "b"], deliver: { message in received.withLock { $0.append(message) } }, onEnd: {}) {
            #expect(bus.subscriberCount("a") == 1)
            #expect(bus.subscriberCount("b") == 1)
            try await bus.publish([1], to: "a")
            try await bus.publish([2], to: "other")
            try await bus.publish([3], to: "b")
        }
        #expect(bus.subscriberCount("a") == 0)
        #expect(bus.subscriberCount("b") == 0)
        try await bus.publish([4], to: "a")
        #expect(received.withLock { $0 } == [BusMessage(channel: "a", payload: [1]), BusMessage(channel: "b", payload: [3])])
    }

    @Test func streamSubscriptionDropsTheOldestBeyondItsBuffer() async throws {
        let bus = MemoryMessageBus(bufferSize: 2)
        let payloads = try await bus.subscribe(to: ["a"]) { messages in
            for i in 1...4 { try await bus.publish([UInt8(i)], to: "a") }
            var seen: [[UInt8]] = []
            for await message in messages {
                seen.append(message.payload)
                if seen.count == 2 { break }
            }
            return seen
        }
        #expect(payloads == [[3], [4]])
        #expect(bus.subscriberCount("a") == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func theDefaultCallbackFormReadsTheStreamForm() async throws {
        let bus = StreamOnlyBus()
        let received = Mutex<[BusMessage]>([])
        let (arrivals, arrived) = AsyncStream<Void>.makeStream()
        try await bus.subscribe(
            to: ["a"],
            deliver: { message in
                received.withLock { $0.append(message) }
                arrived.yield()
            },
            onEnd: {}
        ) {
            try await bus.publish([1], to: "a")
            try await bus.publish([2], to: "b")
            try await bus.publish([3], to: "a")
            var iterator = arrivals.makeAsyncIterator()
            while received.withLock({ $0.count }) < 2 { _ = await iterator.next() }
        }
        #expect(bus.base.subscriberCount("a") == 0)
        #expect(received.withLock { $0 } == [BusMessage(channel: "a", payload: [1]), BusMessage(channel: "a", payload: [3])])
    }

    @Test func subscriptionIsRemovedWhenTheBodyThrows() async throws {
        struct Failure: Error {}
        let bus = MemoryMessageBus()
        await #expect(throws: Failure.self) {
            try await bus.subscribe(to: ["a"], deliver: { _ in }, onEnd: {}) { throw Failure() }
        }
        #expect(bus.subscriberCount("a") == 0)
    }
}

/// A bus that offers only the stream form, so its callback form is the protocol's default.
struct StreamOnlyBus: MessageBus {
    let base = MemoryMessageBus()

    func publish(_ payload: [UInt8], to channel: String) async throws {
        try await base.publish(payload, to: channel)
    }

    func subscribe<Result: Sendable>(to channels: [String], _ body: (AsyncStream<BusMessage>) async throws -> Result) async throws -> Result {
        try await base.subscribe(to: channels, body)
    }
}
