//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

@testable import MCPServerRedis

@Suite("Redis client against a real server", .enabled(if: TestRedis.shouldRun), .timeLimit(.minutes(2)))
struct RedisClientIntegrationTests {
    /// With `MCP_REQUIRE_REDIS=1`, a missing server is a failure with a clear message, not a skip.
    @Test func redisIsReachable() {
        #expect(TestRedis.isReachable, "no Redis at \(TestRedis.hostname):\(TestRedis.port), and MCP_REQUIRE_REDIS=1 forbids skipping")
    }

    @Test func commandRoundTrip() async throws {
        let key = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            #expect(try await client.execute(RESPCommand("SET", .string(key), .bytes([0, 1, 2, 255]), "PX", 10_000)) == .simpleString("OK"))
            #expect(try await client.execute(RESPCommand("GET", .string(key))).bytes == [0, 1, 2, 255])
            #expect(try await client.execute(RESPCommand("GET", .string(key + ":missing"))).isNull)
            // HELLO 3 switched the connection to RESP3: HGETALL answers with a map.
            try await client.execute(RESPCommand("HSET", .string(key + ":h"), "f", "v"))
            try await client.execute(RESPCommand("PEXPIRE", .string(key + ":h"), 10_000))
            guard case .map(let pairs) = try await client.execute(RESPCommand("HGETALL", .string(key + ":h"))) else {
                Issue.record("expected a RESP3 map")
                return
            }
            #expect(pairs.first?.key.string == "f" && pairs.first?.value.string == "v")
        }
    }

    @Test func serverErrorsAreClearAndLeaveTheConnectionUsable() async throws {
        try await TestRedis.withClient { client async throws in
            try await client.withConnection { connection async throws in
                await #expect {
                    _ = try await connection.execute(RESPCommand("NOSUCHCOMMAND"))
                } throws: { error in
                    (error as? RedisClientError)?.code == .serverError && (error as? RedisClientError)?.serverMessage?.hasPrefix("ERR") == true
                }
                #expect(try await connection.execute(RESPCommand("PING")) == .simpleString("PONG"))
            }
        }
    }

    @Test func pipelining() async throws {
        let key = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            // One write, many commands, replies in order.
            let results = try await client.execute(
                pipeline: (0..<200).map { _ in RESPCommand("INCR", .string(key)) } + [RESPCommand("PEXPIRE", .string(key), 10_000)])
            #expect(try results.prefix(200).map { try $0.get().int64 } == (1...200).map { Int64($0) })
            // Many tasks share one connection, several commands in flight at once.
            try await client.withConnection { connection async throws in
                try await withThrowingTaskGroup(of: (Int, Int64?).self) { group in
                    for i in 0..<100 {
                        group.addTask { (i, try await connection.execute(RESPCommand("ECHO", .string("\(i)"))).int64) }
                    }
                    for try await (i, echoed) in group { #expect(echoed == Int64(i)) }
                }
            }
            #expect(try await client.execute(RESPCommand("GET", .string(key))).int64 == 200)
        }
    }

    @Test func poolIsBoundedAndServesManyTasks() async throws {
        let key = TestRedis.prefix()
        // A client name of its own: other suites' clients connect and disconnect on the same server meanwhile.
        var configuration = TestRedis.configuration()
        let name = "mcp-redis-pool-test-" + String(UInt32.random(in: 0 ... .max), radix: 36)
        configuration.clientName = name
        try await TestRedis.withClient(configuration) { client async throws in
            let clientCountBefore = try await Self.clientCount(client, named: name)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await client.withConnection { connection async throws in
                            _ = try await connection.execute(RESPCommand("INCR", .string(key)))
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.execute(RESPCommand("GET", .string(key))).int64 == 50)
            try await client.execute(RESPCommand("DEL", .string(key)))
            #expect(try await Self.clientCount(client, named: name) - clientCountBefore <= 4)
        }
    }

    static func clientCount(_ client: RedisClient, named name: String = "mcp-redis-tests") async throws -> Int {
        let list = try await client.execute(RESPCommand("CLIENT", "LIST")).string ?? ""
        return list.split(separator: "\n").filter { $0.split(separator: " ").contains(Substring("name=" + name)) }.count
    }

    @Test func pubSubAcrossTwoClients() async throws {
        let channel = TestRedis.prefix()
        try await TestRedis.withClient { subscriber async throws in
            try await TestRedis.withClient { publisher async throws in
                let received = try await subscriber.subscribe(to: [channel, channel + ":other"]) { messages in
                    // Confirmed before the body runs: a publish now is delivered.
                    #expect(try await publisher.execute(RESPCommand("PUBLISH", .string(channel), "one")).int64 == 1)
                    try await publisher.execute(RESPCommand("PUBLISH", .string(channel + ":other"), "two"))
                    var texts: [String] = []
                    for await message in messages {
                        texts.append("\(message.channel == channel ? "a" : "b"):\(String(buffer: message.payload))")
                        if texts.count == 2 { break }
                    }
                    return texts
                }
                #expect(received == ["a:one", "b:two"])
                // Unsubscribed after the scope: nobody hears the channel any more.
                try await eventually("unsubscribe") {
                    try await publisher.execute(RESPCommand("PUBSUB", "NUMSUB", .string(channel))).elements?.last?.int64 == 0
                }
            }
        }
    }

    @Test func reconnectsAndResubscribesAfterTheSubscriptionConnectionIsKilled() async throws {
        let channel = TestRedis.prefix()
        let name = "mcp-redis-tests-reconnect-\(UInt32.random(in: 0 ... .max))"
        var configuration = TestRedis.configuration()
        configuration.clientName = name
        try await TestRedis.withClient(configuration) { subscriber async throws in
            try await TestRedis.withClient { publisher async throws in
                try await subscriber.subscribe(to: [channel]) { messages in
                    var iterator = messages.makeAsyncIterator()
                    try await publisher.execute(RESPCommand("PUBLISH", .string(channel), "before"))
                    #expect(await iterator.next().map { String(buffer: $0.payload) } == "before")

                    // Kill only this test's subscription connection (other tests run in parallel).
                    let list = try await publisher.execute(RESPCommand("CLIENT", "LIST", "TYPE", "pubsub")).string ?? ""
                    let line = try #require(list.split(separator: "\n").first { $0.contains("name=\(name) ") })
                    let id = try #require(line.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3))
                    let killed = try await publisher.execute(RESPCommand("CLIENT", "KILL", "TYPE", "pubsub", "ID", .string(String(id)))).int64
                    #expect(killed == 1)
                    // The client reconnects with backoff and subscribes again.
                    try await eventually("resubscribe") {
                        try await publisher.execute(RESPCommand("PUBSUB", "NUMSUB", .string(channel))).elements?.last?.int64 == 1
                    }
                    try await publisher.execute(RESPCommand("PUBLISH", .string(channel), "after"))
                    #expect(await iterator.next().map { String(buffer: $0.payload) } == "after")
                }
            }
        }
    }

    @Test func commandsInFlightFailFastWhenTheConnectionIsKilled() async throws {
        let key = TestRedis.prefix()
        try await TestRedis.withClient { client async throws in
            try await client.withConnection { blocked async throws in
                let id = try await blocked.execute(RESPCommand("CLIENT", "ID")).int64 ?? -1
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Blocks on the server for 4 s unless the connection dies first.
                        await #expect {
                            _ = try await blocked.execute(RESPCommand("BLPOP", .string(key), "4"))
                        } throws: { error in
                            (error as? RedisClientError)?.code == .connectionClosed
                        }
                    }
                    try await Task.sleep(for: .milliseconds(100))
                    try await client.execute(RESPCommand("CLIENT", "KILL", "ID", .int(id)))
                    try await group.waitForAll()
                }
                #expect(ContinuousClock.now - start < .seconds(3))
            }
            // The pool replaces the dead connection.
            #expect(try await client.execute(RESPCommand("PING")) == .simpleString("PONG"))
        }
    }

    @Test func commandTimeoutFailsClearly() async throws {
        let key = TestRedis.prefix()
        try await TestRedis.withClient(TestRedis.configuration(commandTimeout: .milliseconds(300))) { client async throws in
            let start = ContinuousClock.now
            await #expect {
                _ = try await client.execute(RESPCommand("BLPOP", .string(key), "5"))
            } throws: { error in
                (error as? RedisClientError)?.code == .timeout
            }
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(try await client.execute(RESPCommand("PING")) == .simpleString("PONG"))
        }
    }

    @Test func unreachableServerFailsClearlyWithoutHanging() async throws {
        var configuration = TestRedis.configuration(commandTimeout: .seconds(1))
        configuration.port = 1  // nothing listens there
        try await TestRedis.withClient(configuration) { client async throws in
            let start = ContinuousClock.now
            await #expect {
                try await client.execute(RESPCommand("PING"))
            } throws: { error in
                (error as? RedisClientError)?.code == .connectionFailed
            }
            await #expect {
                try await client.subscribe(to: ["x"]) { _ in }
            } throws: { error in
                (error as? RedisClientError)?.code == .timeout
            }
            #expect(ContinuousClock.now - start < .seconds(8))
        }
    }

    /// A server of its own, stopped mid-test with SHUTDOWN NOSAVE: commands then fail with clear errors, quickly.
    @Test func commandsFailClearlyWhenRedisIsStopped() async throws {
        guard let server = try DisposableRedisServer.start() else {
            print("⚠️ SKIPPING commandsFailClearlyWhenRedisIsStopped: redis-server is not installed")
            return
        }
        defer { server.stop() }
        var configuration = TestRedis.configuration()
        configuration.port = server.port
        try await TestRedis.withClient(configuration) { client async throws in
            #expect(try await client.execute(RESPCommand("PING")) == .simpleString("PONG"))
            try await client.subscribe(to: ["stopping"]) { messages in
                // The server closes every connection as it stops.
                _ = try? await client.execute(RESPCommand("SHUTDOWN", "NOSAVE"))
                let start = ContinuousClock.now
                for _ in 0..<3 {
                    await #expect {
                        try await client.execute(RESPCommand("PING"))
                    } throws: { error in
                        [.connectionFailed, .connectionClosed].contains((error as? RedisClientError)?.code)
                    }
                }
                #expect(ContinuousClock.now - start < .seconds(5))
                // The subscription stays in scope and keeps trying to reconnect; ending the scope is immediate.
                _ = messages
            }
        }
    }

    @Test func gracefulShutdownStopsTheClient() async throws {
        let client = RedisClient(configuration: TestRedis.configuration())
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                #expect(try await client.execute(RESPCommand("PING")) == .simpleString("PONG"))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        await #expect {
            try await client.execute(RESPCommand("PING"))
        } throws: { error in
            (error as? RedisClientError)?.code == .poolShutdown
        }
    }
}

/// A redis-server process of its own on a free port, for tests that stop the server.
final class DisposableRedisServer: Sendable {
    let port: Int
    let process: Process

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    static func start() throws -> DisposableRedisServer? {
        let candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        for _ in 0..<10 {
            let port = Int.random(in: 20000..<60000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", NSTemporaryDirectory()]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<50 {
                if !process.isRunning { break }
                if let channel = try? ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).wait() {
                    try? channel.close().wait()
                    return DisposableRedisServer(port: port, process: process)
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            if process.isRunning { process.terminate() }
        }
        return nil
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
