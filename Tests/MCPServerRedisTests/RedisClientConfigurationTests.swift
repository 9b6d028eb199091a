//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Testing

@testable import MCPServerRedis

@Suite("Redis client configuration")
struct RedisClientConfigurationTests {
    @Test func readsURLs() throws {
        let plain = try RedisClientConfiguration(url: "redis://example.com")
        #expect(plain.host == "example.com" && plain.port == 6379 && plain.database == 0 && plain.password == nil && plain.username == nil)

        let full = try RedisClientConfiguration(url: "redis://alice:s%40cret@10.0.0.5:6380/3")
        #expect(full.host == "10.0.0.5" && full.port == 6380 && full.database == 3)
        #expect(full.username == "alice" && full.password == "s@cret")

        let passwordOnly = try RedisClientConfiguration(url: "redis://:pw@host:1/")
        #expect(passwordOnly.username == nil && passwordOnly.password == "pw" && passwordOnly.port == 1 && passwordOnly.database == 0)

        let ipv6 = try RedisClientConfiguration(url: "redis://[::1]:7000/2")
        #expect(ipv6.host == "::1" && ipv6.port == 7000 && ipv6.database == 2)
    }

    @Test func readsTLSURLs() throws {
        let tls = try RedisClientConfiguration(url: "rediss://cache.internal:6380/1?cacert=/etc/ca.pem&sni=redis.example&cert=/c.pem&key=/k.pem&pool_size=3")
        #expect(tls.host == "cache.internal" && tls.port == 6380 && tls.database == 1 && tls.pool.maximumConnections == 3)
        #expect(tls.tls?.certificateAuthorityPath == "/etc/ca.pem" && tls.tls?.serverName == "redis.example")
        #expect(tls.tls?.certificatePath == "/c.pem" && tls.tls?.keyPath == "/k.pem" && tls.tls?.verifyCertificate == true)
        let bare = try RedisClientConfiguration(url: "rediss://host")
        #expect(bare.tls != nil && bare.tls?.certificateAuthorityPath == nil)
        #expect(try RedisClientConfiguration(url: "redis://host").tls == nil)
        #expect(try RedisClientConfiguration(url: "rediss://host?insecure=1").tls?.verifyCertificate == false)
        // A CA file that is not there fails when the TLS context is made, with the path in the message.
        #expect {
            _ = try RedisClientConfiguration(url: "rediss://host?cacert=/nonexistent/ca.pem").tls?.makeContext()
        } throws: { error in
            (error as? RedisClientError)?.code == .tlsConfiguration && "\(error)".contains("/nonexistent/ca.pem")
        }
    }

    @Test(arguments: [
        "http://host", "redis://", "redis://host:0", "redis://host:99999", "redis://host:x", "redis://host/-1", "redis://host/db", "redis://[::1",
        "redis://u:%zz@host", "redis://host?cacert=/ca.pem", "rediss://host?cert=/c.pem", "rediss://host?bogus=1",
        "redis://host?pool_size=0", "rediss://host?insecure=maybe", "redis://host?novalue",
    ])
    func rejectsBadURLs(_ url: String) {
        #expect {
            _ = try RedisClientConfiguration(url: url)
        } throws: { error in
            (error as? RedisClientError)?.code == .invalidURL
        }
    }

    @Test func errorDescriptionsHideDetails() {
        let error = RedisClientError(.serverError, message: "ERR x", underlyingError: RESPParsingError(offset: 1, reason: "r"))
        #expect(error.description == "Redis serverError: ERR x")
        #expect(error.debugDescription.contains("invalid RESP at byte 1"))
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
