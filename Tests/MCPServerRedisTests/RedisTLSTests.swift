//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import Logging
import MCPServer
import NIOPosix
import Testing

@testable import MCPServerRedis

/// `rediss://` against the test redis-server's TLS port (`REDIS_TLS_PORT`, certificates in `REDIS_CERTS`, both from
/// `scripts/start-redis --tls`). Skipped without them unless `MCP_REQUIRE_REDIS=1`.
enum TestRedisTLS {
    static let environment = ProcessInfo.processInfo.environment
    static let port = environment["REDIS_TLS_PORT"].flatMap(Int.init)
    static let certificates = environment["REDIS_CERTS"]
    static let shouldRun: Bool = {
        if port != nil && certificates != nil { return true }
        if TestRedis.isRequired {
            print("❌ Redis TLS tests: MCP_REQUIRE_REDIS=1 but REDIS_TLS_PORT/REDIS_CERTS are not set; they will fail")
            return true
        }
        print("⚠️ SKIPPING Redis TLS tests: start Redis with `scripts/start-redis --tls` and export REDIS_TLS_PORT, REDIS_CERTS")
        return false
    }()

    static func url(_ query: String) -> String {
        "rediss://127.0.0.1:\(port ?? 1)?\(query)"
    }
}

@Suite("Redis over TLS (rediss://)", .enabled(if: TestRedisTLS.shouldRun), .timeLimit(.minutes(1)))
struct RedisTLSTests {
    let certs = TestRedisTLS.certificates ?? "/nonexistent"

    func connect(_ url: String) async throws -> RedisConnection {
        try await RedisConnection.connect(
            id: 1,
            configuration: try RedisClientConfiguration(url: url),
            eventLoop: MultiThreadedEventLoopGroup.singleton.any(),
            logger: Logger(label: "redis-tls-test")
        )
    }

    @Test func verifiedConnectionWithTheRightCA() async throws {
        // The address is checked against the certificate's IP SAN (127.0.0.1).
        let connection = try await connect(TestRedisTLS.url("cacert=\(certs)/ca.pem"))
        #expect(try await connection.execute(RESPCommand("PING")).string == "PONG")
        await connection.close()
        // And by name, with sni.
        let named = try await connect(TestRedisTLS.url("cacert=\(certs)/ca.pem&sni=localhost"))
        #expect(try await named.execute(RESPCommand("PING")).string == "PONG")
        await named.close()
    }

    @Test func clientCertificate() async throws {
        let connection = try await connect(TestRedisTLS.url("cacert=\(certs)/ca.pem&cert=\(certs)/client.pem&key=\(certs)/client.key"))
        #expect(try await connection.execute(RESPCommand("PING")).string == "PONG")
        await connection.close()
    }

    @Test func wrongCAFailsClearly() async throws {
        await #expect {
            _ = try await connect(TestRedisTLS.url("cacert=\(certs)/other-ca.pem"))
        } throws: { error in
            guard let error = error as? RedisClientError, error.code == .connectionFailed else { return false }
            return error.message.contains("TLS handshake") && error.message.lowercased().contains("certificate_verify_failed")
        }
    }

    /// A refused TLS connection is an error like any other (its handshake promise is completed, not leaked: a leaked
    /// promise stops a debug build).
    @Test func refusedConnectionFails() async throws {
        await #expect {
            _ = try await connect("rediss://127.0.0.1:1?cacert=\(certs)/ca.pem")
        } throws: { error in
            (error as? RedisClientError)?.code == .connectionFailed
        }
    }

    /// Without verification (`insecure=1`, for tests only) the wrong CA is accepted: it is the check that refuses it.
    @Test func insecureSkipsTheCheck() async throws {
        let connection = try await connect(TestRedisTLS.url("cacert=\(certs)/other-ca.pem&insecure=1"))
        #expect(try await connection.execute(RESPCommand("PING")).string == "PONG")
        await connection.close()
    }

    /// The backends work end to end over TLS: a value written by one client is read by another, and the bus delivers.
    @Test func backendsOverTLS() async throws {
        var configuration = try RedisClientConfiguration(url: TestRedisTLS.url("cacert=\(certs)/ca.pem"))
        configuration.pool = .init(maximumConnections: 2)
        try await TestRedis.withClient(configuration) { client in
            let backends = Backends.redis(client: client, keyRing: StaticKeyRing(keys: [.random()]))
            let key = TestRedis.prefix() + ":tls"
            _ = try await backends.sessionStore.set(key, value: "over tls", ttl: .seconds(10))
            #expect(try await backends.sessionStore.get(key)?.value == "over tls")
            let received = try await backends.messageBus.subscribe(to: [key]) { messages in
                try await backends.messageBus.publish([1, 2], to: key)
                var iterator = messages.makeAsyncIterator()
                return await iterator.next()
            }
            #expect(received?.payload == [1, 2])
            try await backends.sessionStore.delete(key)
        }
    }
}
