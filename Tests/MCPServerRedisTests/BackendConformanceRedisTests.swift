//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
import MCPServerRedis
import MCPServerTesting
import Testing

/// Each replica gets a client of its own on the test Redis, named for this harness so that ``interruptBus()`` drops
/// only its own subscription connections, not those of tests running alongside.
struct RedisHarness: BackendConformanceHarness {
    let name = "mcp-conformance-\(UInt32.random(in: 0...UInt32.max))"

    func withReplica<Result: Sendable>(_ body: @Sendable (Backends) async throws -> Result) async throws -> Result {
        var configuration = TestRedis.configuration()
        configuration.clientName = name
        return try await TestRedis.withClient(configuration) { client in
            try await body(Backends.redis(client: client, keyRing: StaticKeyRing(keys: [.random()])))
        }
    }

    /// Kills this harness's subscription connections (`CLIENT KILL ID`), as a proxy restart would.
    func interruptBus() async throws -> Bool {
        try await TestRedis.withClient { client in
            let list = try await client.execute(RESPCommand("CLIENT", "LIST", "TYPE", "pubsub"))
            let text = list.string ?? ""
            for line in text.split(separator: "\n") where line.contains(" name=\(name) ") {
                guard let id = line.split(separator: " ").first(where: { $0.hasPrefix("id=") })?.dropFirst(3) else { continue }
                _ = try await client.execute(RESPCommand("CLIENT", "KILL", "ID", .string(String(id))))
            }
        }
        return true
    }
}

@Suite("Backend conformance: Redis", .enabled(if: TestRedis.shouldRun), .timeLimit(.minutes(2)))
struct BackendConformanceRedisTests {
    @Test(arguments: BackendConformance.checks)
    func conformance(_ check: BackendConformance.Check) async throws {
        try await check.run(RedisHarness())
    }
}
