//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import Logging
import MCPServer
@testable import MCPServerPostgres
import NIOCore
import NIOPosix
import PostgresNIO

/// Where the integration tests find PostgreSQL: `POSTGRES_URL` (scripts/start-postgres prints it), and its test
/// certificates in `POSTGRES_CERTS` (ca.pem, other-ca.pem).
///
/// When no server answers, the suites skip and say so on stdout, unless `MCP_REQUIRE_POSTGRES=1`, which makes them
/// run (and fail) instead: CI sets it.
enum TestPostgres {
    static let environment = ProcessInfo.processInfo.environment
    static let url = environment["POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
    static let certificates = environment["POSTGRES_CERTS"]
    static let isRequired = environment["MCP_REQUIRE_POSTGRES"] == "1"

    static var configuration: PostgresBackendConfiguration {
        // The URL is ours; a bad one is a broken test set-up.
        var configuration = try! PostgresBackendConfiguration(url: url)
        configuration.poolSize = 3
        configuration.connectTimeout = .seconds(3)
        return configuration
    }

    /// Whether the suites run: PostgreSQL answers, or it is required (so its absence fails them).
    static let shouldRun: Bool = {
        if isReachable { return true }
        if isRequired {
            print("❌ PostgreSQL integration tests: MCP_REQUIRE_POSTGRES=1 but nothing answers at \(configuration.host):\(configuration.port)")
            return true
        }
        print(
            "⚠️ SKIPPING PostgreSQL integration tests: nothing answers at \(configuration.host):\(configuration.port). "
                + "Start one with `eval \"$(scripts/start-postgres)\"` and export POSTGRES_URL, or set MCP_REQUIRE_POSTGRES=1 to fail instead."
        )
        return false
    }()

    static let isReachable: Bool = {
        do {
            let channel = try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(1))
                .connect(host: configuration.host, port: configuration.port)
                .wait()
            try? channel.close().wait()
            return true
        } catch {
            return false
        }
    }()

    static let logger = Logger(label: "postgres-test")

    /// Runs `body` with one replica's backends: a pooled client, a listener and a sweeper of its own, all running.
    static func withReplica<Result: Sendable>(
        _ configuration: PostgresBackendConfiguration = configuration,
        _ body: @Sendable (Backends, PostgresClient) async throws -> Result
    ) async throws -> Result {
        try await PostgresSchema.migrate(configuration: configuration, logger: logger)
        let backends = try Backends.postgres(configuration: configuration, keyRing: StaticKeyRing(keys: [.random()]), logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for service in backends.services { group.addTask { try await service.run() } }
            defer { group.cancelAll() }
            let client = backends.services.first as! PostgresClient
            return try await body(backends, client)
        }
    }

    /// Runs one statement on a connection of its own (administration: terminating backends, creating databases).
    static func admin(_ sql: String) async throws {
        try await withClient { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    static func withClient<Result: Sendable>(
        _ configuration: PostgresBackendConfiguration = configuration,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
