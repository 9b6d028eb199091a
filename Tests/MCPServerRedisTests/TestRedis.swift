//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import Logging
import MCPServerRedis
import NIOCore
import NIOPosix

/// Where the integration tests find Redis: `REDIS_HOSTNAME` (default 127.0.0.1) and `REDIS_PORT` (default 6379).
///
/// When no server answers, the suites skip and say so on stdout, unless `MCP_REQUIRE_REDIS=1`, which makes them
/// run (and fail) instead: CI sets it.
enum TestRedis {
    static let hostname = ProcessInfo.processInfo.environment["REDIS_HOSTNAME"] ?? "127.0.0.1"
    static let port = ProcessInfo.processInfo.environment["REDIS_PORT"].flatMap(Int.init) ?? 6379
    static let isRequired = ProcessInfo.processInfo.environment["MCP_REQUIRE_REDIS"] == "1"

    /// Whether the suites run: Redis answers, or it is required (so its absence fails them).
    static let shouldRun: Bool = {
        if isReachable { return true }
        if isRequired {
            print("❌ Redis integration tests: MCP_REQUIRE_REDIS=1 but nothing answers at \(hostname):\(port); they will fail")
            return true
        }
        print(
            "⚠️ SKIPPING Redis integration tests: no Redis at \(hostname):\(port). "
                + "Start one with `eval \"$(scripts/start-redis)\"` (sets REDIS_PORT), or set MCP_REQUIRE_REDIS=1 to fail instead."
        )
        return false
    }()

    static let isReachable: Bool = {
        do {
            let channel = try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(1))
                .connect(host: hostname, port: port)
                .wait()
            try? channel.close().wait()
            return true
        } catch {
            return false
        }
    }()

    static func configuration(
        commandTimeout: Duration = .seconds(5),
        reconnect: RedisClientConfiguration.Reconnect = .init(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200))
    ) -> RedisClientConfiguration {
        RedisClientConfiguration(
            host: hostname,
            port: port,
            clientName: "mcp-redis-tests",
            pool: .init(maximumConnections: 4),
            timeouts: .init(connect: .seconds(2), command: commandTimeout, lease: .seconds(5)),
            reconnect: reconnect
        )
    }

    /// A key prefix with a fresh hash tag, so tests never share keys.
    static func prefix(_ name: String = #function) -> String {
        "mcp-test:{\(UUID().uuidString.prefix(8))}:\(name.prefix { $0 != "(" })"
    }

    /// Runs `body` with a client whose `run()` runs alongside it, and stops the client afterwards.
    static func withClient<Result: Sendable>(
        _ configuration: RedisClientConfiguration = configuration(),
        _ body: @Sendable (RedisClient) async throws -> Result
    ) async throws -> Result {
        let client = RedisClient(configuration: configuration, logger: Logger(label: "redis-test"))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}

/// Waits until `condition` holds, polling; fails after `timeout`.
func eventually(
    timeout: Duration = .seconds(5),
    _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TimeoutError(what: what)
}

struct TimeoutError: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}
