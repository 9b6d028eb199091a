//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
import Synchronization
import Testing

@testable import MCPServerRedis

@Suite("Redis bus: a dropped connection ends subscriptions", .enabled(if: TestRedis.shouldRun), .timeLimit(.minutes(1)))
struct RedisBusGapTests {
    /// Messages published while the subscription connection reconnects are lost, so the bus ends the subscription
    /// (`onEnd`) and the subscriber re-syncs; the raw client's own subscription carries on (tested elsewhere).
    @Test func aKilledSubscriptionConnectionEndsTheSubscription() async throws {
        let channel = TestRedis.prefix()
        let name = "mcp-redis-tests-gap-\(UInt32.random(in: 0 ... .max))"
        var configuration = TestRedis.configuration()
        configuration.clientName = name
        try await TestRedis.withClient(configuration) { subscriber async throws in
            try await TestRedis.withClient { publisher async throws in
                let bus = RedisMessageBus(client: subscriber)
                let received = Mutex<[String]>([])
                let ended = Mutex(0)
                try await bus.subscribe(
                    to: [channel],
                    deliver: { message in received.withLock { $0.append(String(decoding: message.payload, as: UTF8.self)) } },
                    onEnd: { ended.withLock { $0 += 1 } }
                ) {
                    try await publisher.execute(RESPCommand("PUBLISH", .string(channel), "before"))
                    try await eventually("the first message") { received.withLock { $0 } == ["before"] }
                    #expect(ended.withLock { $0 } == 0)
                    let list = try await publisher.execute(RESPCommand("CLIENT", "LIST", "TYPE", "pubsub")).string ?? ""
                    let line = try #require(list.split(separator: "\n").first { $0.contains("name=\(name) ") })
                    let id = try #require(line.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3))
                    _ = try await publisher.execute(RESPCommand("CLIENT", "KILL", "TYPE", "pubsub", "ID", .string(String(id))))
                    try await eventually("the subscription to end") { ended.withLock { $0 } >= 1 }
                }
            }
        }
    }
}
