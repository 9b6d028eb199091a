//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import MCPServer
import MCPServerRedis
import MCPServerTesting
import Testing

@testable import MCPServerPostgres

@Suite("PostgreSQL backend configuration")
struct PostgresConfigurationTests {
    @Test func readsURLs() throws {
        let plain = try PostgresBackendConfiguration(url: "postgres://db.internal/mcp")
        #expect(plain.host == "db.internal" && plain.port == 5432 && plain.username == "postgres" && plain.database == "mcp")
        #expect(plain.sslMode == .prefer && plain.poolSize == 16 && plain.password == nil)

        let full = try PostgresBackendConfiguration(
            url: "postgresql://app:s%40cret@10.0.0.5:6543/my%20db?sslmode=verify-full&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem&pool_size=4&connect_timeout=3&application_name=edge"
        )
        #expect(full.host == "10.0.0.5" && full.port == 6543 && full.username == "app" && full.password == "s@cret")
        #expect(full.database == "my db" && full.sslMode == .verifyFull && full.rootCertificatePath == "/ca.pem")
        #expect(full.clientCertificatePath == "/c.pem" && full.clientKeyPath == "/k.pem" && full.poolSize == 4)
        #expect(full.connectTimeout == .seconds(3) && full.applicationName == "edge")

        let ipv6 = try PostgresBackendConfiguration(url: "postgres://u@[::1]:7000/d?sslmode=disable")
        #expect(ipv6.host == "::1" && ipv6.port == 7000 && ipv6.sslMode == .disable)
        #expect(try PostgresBackendConfiguration(url: "postgres://u@h/d?sslmode=require").sslMode == .require)
        #expect(try PostgresBackendConfiguration(url: "postgres://u@h/d?sslmode=verify-ca").sslMode == .verifyCA)
        // The password never appears in the description used for logs and errors.
        #expect(!full.redactedDescription.contains("s@cret") && !full.redactedDescription.contains("s%40cret"))
    }

    @Test(arguments: [
        "redis://h", "postgres://h:0/d", "postgres://h:x/d", "postgres://u:%zz@h/d", "postgres://h/d?sslmode=maybe",
        "postgres://h/d?pool_size=0", "postgres://h/d?bogus=1", "postgres://h/d?sslcert=/c.pem", "postgres://h/d?sslmode=disable&sslrootcert=/ca.pem",
        "postgres://h1,h2/d", "postgres://[::1/d", "postgres://h/d?connect_timeout=-1", "postgres://h/d?novalue",
    ])
    func rejectsBadURLs(_ url: String) {
        #expect {
            _ = try PostgresBackendConfiguration(url: url)
        } throws: { error in
            (error as? PostgresBackendError)?.code == .invalidURL
        }
    }

    /// Store URLs from a seeded generator (fragments of real ones, odd bytes, percent signs): every one is read or
    /// refused with an `invalidURL` error; none crashes.
    @Test func fuzzedStoreURLsNeverCrash() {
        var random = SeededRandom(seed: 0x5EED_0F_0DB)
        let fragments = [
            "postgres://", "postgresql://", "redis://", "rediss://", "u", ":", "@", "/", "?", "&", "=", "%", "%4", "%zz",
            "%40", "[", "]", "::1", "host", "127.0.0.1", ":5432", ":0", ":99999", "sslmode", "verify-full", "pool_size",
            "cacert", "sni", "key", "cert", "\u{0}", "é", "🔑", " ", ",", "#", "\n",
        ]
        var refused = 0
        for _ in 0..<5000 {
            var url = ""
            for _ in 0..<Int.random(in: 1...12, using: &random) { url += fragments.randomElement(using: &random)! }
            do { _ = try PostgresBackendConfiguration(url: url) } catch {
                #expect((error as? PostgresBackendError)?.code == .invalidURL)
                refused += 1
            }
            do { _ = try RedisClientConfiguration(url: url) } catch {
                #expect((error as? RedisClientError)?.code == .invalidURL)
            }
        }
        #expect(refused > 0)
    }

    @Test func missingCertificateFileFailsAtOnce() throws {
        let configuration = try PostgresBackendConfiguration(url: "postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
        #expect {
            _ = try configuration.clientConfiguration()
        } throws: { error in
            (error as? PostgresBackendError)?.code == .tlsConfiguration && "\(error)".contains("/nonexistent/ca.pem")
        }
    }
}

/// `sslmode` against the test server, which has TLS on with a certificate for localhost and 127.0.0.1 signed by the
/// throwaway CA in `POSTGRES_CERTS`.
@Suite("PostgreSQL over TLS", .enabled(if: TestPostgres.shouldRun), .timeLimit(.minutes(1)))
struct PostgresTLSTests {
    let certs = TestPostgres.certificates ?? "/nonexistent"

    func configuration(_ query: String) throws -> PostgresBackendConfiguration {
        let base = TestPostgres.configuration
        return try PostgresBackendConfiguration(
            url: "postgres://\(base.username)@localhost:\(base.port)/\(base.database ?? base.username)?\(query)"
        )
    }

    @Test func verifyFullWithTheRightCA() async throws {
        try await PostgresSchema.migrate(configuration: try configuration("sslmode=verify-full&sslrootcert=\(certs)/ca.pem"), logger: TestPostgres.logger)
        // The backends work over it.
        try await TestPostgres.withReplica(try configuration("sslmode=verify-full&sslrootcert=\(certs)/ca.pem")) { backends, client in
            let key = "tls:\(UInt32.random(in: 0...UInt32.max))"
            _ = try await backends.sessionStore.set(key, value: "over tls", ttl: .seconds(10))
            #expect(try await backends.sessionStore.get(key)?.value == "over tls")
            var encrypted = false
            for try await ssl in try await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").decode(Bool.self) {
                encrypted = ssl
            }
            #expect(encrypted)
            try await backends.sessionStore.delete(key)
        }
    }

    /// `require` encrypts without checking; with `sslrootcert` it checks the chain, as libpq does.
    @Test func requireChecksOnlyWithARootCertificate() async throws {
        try await PostgresSchema.migrate(configuration: try configuration("sslmode=require"), logger: TestPostgres.logger)
        try await PostgresSchema.migrate(configuration: try configuration("sslmode=require&sslrootcert=\(certs)/ca.pem"), logger: TestPostgres.logger)
        await #expect(throws: PostgresBackendError.self) {
            try await PostgresSchema.migrate(configuration: try configuration("sslmode=require&sslrootcert=\(certs)/other-ca.pem"), logger: TestPostgres.logger)
        }
    }

    @Test func wrongCAFailsAtStartWithAClearError() async throws {
        await #expect {
            try await PostgresSchema.migrate(
                configuration: try configuration("sslmode=verify-full&sslrootcert=\(certs)/other-ca.pem"),
                logger: TestPostgres.logger,
                waitingUpTo: .seconds(10)
            )
        } throws: { error in
            guard let error = error as? PostgresBackendError, error.code == .connectionFailed else { return false }
            return error.message.uppercased().contains("CERTIFICATE_VERIFY_FAILED")
        }
    }

    @Test func unreachableServerIsRetriedThenReported() async throws {
        let start = ContinuousClock.now
        await #expect {
            try await PostgresSchema.migrate(
                configuration: try PostgresBackendConfiguration(url: "postgres://u@127.0.0.1:1/d?sslmode=disable&connect_timeout=1"),
                logger: TestPostgres.logger,
                waitingUpTo: .seconds(1)
            )
        } throws: { error in
            (error as? PostgresBackendError)?.code == .connectionFailed
        }
        #expect(ContinuousClock.now - start >= .seconds(1))
    }
}
