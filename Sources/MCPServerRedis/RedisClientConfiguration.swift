//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
public import NIOSSL

/// Where a ``RedisClient`` connects and how it behaves.
///
/// ```swift
/// let configuration = try RedisClientConfiguration(url: "redis://default:secret@127.0.0.1:6379/0")
/// ```
public struct RedisClientConfiguration: Sendable {
    /// Connection pool bounds.
    public struct Pool: Sendable, Hashable {
        /// The most connections open at once for commands (default 8). Subscriptions use one more, of their own.
        public var maximumConnections: Int

        /// Creates pool settings.
        public init(maximumConnections: Int = 8) {
            precondition(maximumConnections > 0, "a pool needs at least one connection")
            self.maximumConnections = maximumConnections
        }
    }

    /// How long operations may take before they fail.
    public struct Timeouts: Sendable, Hashable {
        /// TCP connect plus the HELLO/SELECT handshake (default 5 s).
        public var connect: Duration
        /// From sending a command to its reply (default 10 s). A command that times out closes its connection,
        /// failing every other command in flight on it.
        public var command: Duration
        /// Waiting for a pooled connection when all are busy (default 10 s).
        public var lease: Duration

        /// Creates timeouts.
        public init(connect: Duration = .seconds(5), command: Duration = .seconds(10), lease: Duration = .seconds(10)) {
            precondition(connect > .zero && command > .zero && lease > .zero, "timeouts must be positive")
            self.connect = connect
            self.command = command
            self.lease = lease
        }
    }

    /// How the subscription connection reconnects: exponential backoff with jitter between the two bounds.
    public struct Reconnect: Sendable, Hashable {
        /// The first delay (default 100 ms).
        public var initialBackoff: Duration
        /// The longest delay (default 5 s).
        public var maximumBackoff: Duration

        /// Creates reconnect settings.
        public init(initialBackoff: Duration = .milliseconds(100), maximumBackoff: Duration = .seconds(5)) {
            precondition(initialBackoff > .zero && maximumBackoff >= initialBackoff, "invalid backoff bounds")
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    /// TLS to the server (`rediss://`): whom to trust, the name to check, and an optional client certificate.
    public struct TLS: Sendable {
        /// A PEM file of the certificate authorities to trust; `nil` trusts the system's.
        public var certificateAuthorityPath: String?
        /// The name checked against the server's certificate and sent as SNI; `nil` uses the host (unless it is
        /// an address, which is then checked against the certificate's IP addresses).
        public var serverName: String?
        /// A PEM client certificate, for servers that require one (`tls-auth-clients yes`).
        public var certificatePath: String?
        /// The client certificate's PEM private key.
        public var keyPath: String?
        /// Whether the server's certificate is checked at all (default `true`). Turning it off gives encryption
        /// without authentication; use it for tests only.
        public var verifyCertificate: Bool

        /// Creates TLS settings.
        public init(
            certificateAuthorityPath: String? = nil,
            serverName: String? = nil,
            certificatePath: String? = nil,
            keyPath: String? = nil,
            verifyCertificate: Bool = true
        ) {
            precondition((certificatePath == nil) == (keyPath == nil), "a client certificate needs its key")
            self.certificateAuthorityPath = certificateAuthorityPath
            self.serverName = serverName
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.verifyCertificate = verifyCertificate
        }

        /// The swift-nio-ssl context, with every file read now, so that a missing or unreadable file fails here.
        /// - Throws: ``RedisClientError`` with code ``RedisClientError/Code/tlsConfiguration``.
        public func makeContext() throws -> NIOSSLContext {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = verifyCertificate ? .fullVerification : .none
            if let path = certificateAuthorityPath {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
                } catch {
                    throw RedisClientError(.tlsConfiguration, message: "cannot read the CA file \(path): \(error)", underlyingError: error)
                }
            }
            if let certificatePath, let keyPath {
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
                } catch {
                    throw RedisClientError(
                        .tlsConfiguration,
                        message: "cannot read the client certificate \(certificatePath) or key \(keyPath): \(error)",
                        underlyingError: error
                    )
                }
            }
            do {
                return try NIOSSLContext(configuration: tls)
            } catch {
                throw RedisClientError(.tlsConfiguration, message: "invalid TLS settings: \(error)", underlyingError: error)
            }
        }
    }

    /// The server's host name or address (default `127.0.0.1`).
    public var host: String
    /// The server's port (default 6379).
    public var port: Int
    /// The ACL user name, if any (Redis 6+); `nil` with a password means the `default` user.
    public var username: String?
    /// The password, if the server requires one.
    public var password: String?
    /// The logical database to `SELECT` (default 0).
    public var database: Int
    /// A name sent with `HELLO ... SETNAME`, shown by `CLIENT LIST` (default none).
    public var clientName: String?
    /// Connection pool bounds.
    public var pool: Pool
    /// Operation time limits.
    public var timeouts: Timeouts
    /// Subscription reconnect backoff.
    public var reconnect: Reconnect
    /// Parser limits for replies.
    public var parserLimits: RESPParser.Limits
    /// Per-subscriber message buffer; beyond it the oldest undelivered messages are dropped (default 4096).
    public var subscriptionBufferSize: Int
    /// TLS, or `nil` for plain TCP (default).
    public var tls: TLS?

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        clientName: String? = nil,
        pool: Pool = Pool(),
        timeouts: Timeouts = Timeouts(),
        reconnect: Reconnect = Reconnect(),
        parserLimits: RESPParser.Limits = RESPParser.Limits(),
        subscriptionBufferSize: Int = 4096,
        tls: TLS? = nil
    ) {
        precondition((0...65535).contains(port), "invalid port")
        precondition(database >= 0, "invalid database")
        precondition(subscriptionBufferSize > 0, "invalid subscription buffer size")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.clientName = clientName
        self.pool = pool
        self.timeouts = timeouts
        self.reconnect = reconnect
        self.parserLimits = parserLimits
        self.subscriptionBufferSize = subscriptionBufferSize
        self.tls = tls
    }

    /// Reads `redis://[[user]:password@]host[:port][/database][?parameters]`, or `rediss://` for TLS; other settings
    /// keep their defaults.
    ///
    /// The user name and password are percent-decoded; an IPv6 host is written in brackets (`redis://[::1]:6379`).
    /// Parameters, as redis-cli names them: `cacert` (a PEM file of trusted authorities; default the system's),
    /// `sni` (the name to check and send; default the host), `cert` and `key` (a PEM client certificate and its key),
    /// `insecure=1` (no certificate check, tests only): TLS only. `pool_size` (the most pooled connections, default
    /// 8): both schemes.
    /// - Throws: ``RedisClientError`` with code ``RedisClientError/Code/invalidURL``.
    public init(url: String) throws {
        func invalid(_ why: String) -> RedisClientError {
            RedisClientError(.invalidURL, message: "invalid Redis URL: \(why)")
        }
        let parsed: StoreURL
        do { parsed = try StoreURL(url, schemes: ["redis", "rediss"]) } catch { throw invalid(error.description) }
        let secure = parsed.scheme == "rediss"
        var username: String?
        var password = parsed.password
        if password == nil, let lone = parsed.user {
            // A lone value is the password, as redis-cli reads it.
            password = lone
        } else if let user = parsed.user, !user.isEmpty {
            username = user
        }
        var database = 0
        if !parsed.path.isEmpty {
            guard let db = Int(parsed.path), db >= 0 else { throw invalid("the database must be a non-negative integer") }
            database = db
        }
        guard let host = parsed.host else { throw invalid("missing host") }
        let port = parsed.port ?? 6379
        let parameters = parsed.parameters
        self.init(host: host, port: port, username: username, password: password, database: database)
        var tls = TLS()
        var tlsParameters: [String] = []
        for (name, value) in parameters {
            switch name {
            case "cacert": tls.certificateAuthorityPath = value
            case "sni": tls.serverName = value
            case "cert": tls.certificatePath = value
            case "key": tls.keyPath = value
            case "insecure":
                guard value == "1" || value == "0" || value == "true" || value == "false" else { throw invalid("insecure must be 1 or 0") }
                tls.verifyCertificate = !(value == "1" || value == "true")
            case "pool_size":
                guard let n = Int(value), n > 0, n <= 10_000 else { throw invalid("pool_size must be a positive integer") }
                pool = Pool(maximumConnections: n)
                continue
            default:
                throw invalid("unknown parameter '\(name)' (supported: cacert, sni, cert, key, insecure, pool_size)")
            }
            tlsParameters.append(name)
        }
        if !secure, let name = tlsParameters.first {
            throw invalid("'\(name)' needs rediss:// (TLS)")
        }
        if (tls.certificatePath == nil) != (tls.keyPath == nil) {
            throw invalid("cert and key must be given together")
        }
        if secure { self.tls = tls }
    }
}
