//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
import NIOCore
import NIOSSL
import PostgresNIO

/// Where the PostgreSQL backends connect and how: read from a `postgres://` URL, as libpq reads one.
///
/// ```swift
/// let configuration = try PostgresBackendConfiguration(url: "postgres://mcp:secret@db:5432/mcp?sslmode=verify-full")
/// ```
///
/// URL parameters (all optional):
/// - `sslmode`: `disable`, `prefer` (the default, as libpq: TLS when the server offers it, unverified), `require`
///   (TLS, unverified, unless `sslrootcert` is given: then verified like `verify-ca`, as libpq does), `verify-ca` (TLS, the chain checked against `sslrootcert`) or `verify-full` (the chain and
///   the host name checked);
/// - `sslrootcert`: a PEM file of the certificate authorities to trust (default: the system's);
/// - `sslcert`, `sslkey`: a PEM client certificate and its key, for servers that ask for one;
/// - `sslservername`: the name to check and send as SNI, when it differs from the host;
/// - `pool_size`: the most pooled connections per replica (default 16; one idle for 5 s is closed); the bus's LISTEN
///   connection is one more;
/// - `connect_timeout`: seconds, as libpq (default 10);
/// - `operation_timeout`: seconds one backend operation may take, a free pooled connection included (default 5);
/// - `application_name`: shown in `pg_stat_activity` (default `mcp-server`).
public struct PostgresBackendConfiguration: Sendable {
    /// How the connection is encrypted and what is checked: libpq's `sslmode`.
    public struct SSLMode: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case disable
            case prefer
            case require
            case verifyCA = "verify-ca"
            case verifyFull = "verify-full"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No TLS.
        public static let disable = SSLMode(.disable)
        /// TLS when the server offers it; the certificate is not checked.
        public static let prefer = SSLMode(.prefer)
        /// TLS, or no connection; the certificate is not checked.
        public static let require = SSLMode(.require)
        /// TLS, with the certificate chain checked against the trusted authorities; the host name is not.
        public static let verifyCA = SSLMode(.verifyCA)
        /// TLS, with the chain and the host name checked.
        public static let verifyFull = SSLMode(.verifyFull)

        /// Reads a libpq `sslmode` value (`allow` is read as `prefer`).
        public init?(_ value: String) {
            if value == "allow" {
                self = .prefer
                return
            }
            guard let base = Base(rawValue: value) else { return nil }
            self.base = base
        }

        public var description: String { base.rawValue }
    }

    /// The server's host name or address (default `127.0.0.1`).
    public var host: String
    /// The server's port (default 5432).
    public var port: Int
    /// The role to connect as (default `postgres`).
    public var username: String
    /// The password, if the server asks for one.
    public var password: String?
    /// The database (default: the user name, as libpq).
    public var database: String?
    /// TLS: see ``SSLMode``.
    public var sslMode: SSLMode
    /// A PEM file of trusted certificate authorities; `nil` trusts the system's.
    public var rootCertificatePath: String?
    /// A PEM client certificate, sent when the server asks for one.
    public var clientCertificatePath: String?
    /// The client certificate's PEM private key.
    public var clientKeyPath: String?
    /// The name checked against the server's certificate and sent as SNI; `nil` uses ``host`` (unless it is an address).
    public var tlsServerName: String?
    /// The most pooled connections per replica (default 16).
    public var poolSize: Int
    /// How long connecting may take (default 10 s).
    public var connectTimeout: Duration
    /// How long one backend operation may take, waiting for a pooled connection included (default 5 s): while the
    /// server is down, operations fail after this instead of queueing.
    public var operationTimeout: Duration
    /// `application_name`, shown in `pg_stat_activity`.
    public var applicationName: String

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1",
        port: Int = 5432,
        username: String = "postgres",
        password: String? = nil,
        database: String? = nil,
        sslMode: SSLMode = .prefer,
        rootCertificatePath: String? = nil,
        clientCertificatePath: String? = nil,
        clientKeyPath: String? = nil,
        tlsServerName: String? = nil,
        poolSize: Int = 16,
        connectTimeout: Duration = .seconds(10),
        operationTimeout: Duration = .seconds(5),
        applicationName: String = "mcp-server"
    ) {
        precondition((1...65535).contains(port), "invalid port")
        precondition(poolSize > 0, "a pool needs at least one connection")
        precondition(connectTimeout > .zero && operationTimeout > .zero, "timeouts must be positive")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.rootCertificatePath = rootCertificatePath
        self.clientCertificatePath = clientCertificatePath
        self.clientKeyPath = clientKeyPath
        self.tlsServerName = tlsServerName
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.operationTimeout = operationTimeout
        self.applicationName = applicationName
    }

    /// Reads `postgres://[user[:password]@]host[:port][/database][?parameters]` (or `postgresql://`).
    /// - Throws: ``PostgresBackendError`` with code ``PostgresBackendError/Code/invalidURL``, naming what is wrong.
    public init(url: String) throws {
        func invalid(_ why: String) -> PostgresBackendError {
            PostgresBackendError(.invalidURL, message: "invalid PostgreSQL URL: \(why)")
        }
        let parsed: StoreURL
        do { parsed = try StoreURL(url, schemes: ["postgres", "postgresql"]) } catch { throw invalid(error.description) }
        let username = parsed.user.flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        let database = parsed.path.isEmpty ? nil : parsed.path
        let host = parsed.host ?? "127.0.0.1"
        guard !host.contains(",") else { throw invalid("several hosts are not supported") }
        let port = parsed.port ?? 5432
        let password = parsed.password
        let parameters = parsed.parameters
        self.init(host: host, port: port, username: username, password: password, database: database)
        for (name, value) in parameters {
            switch name {
            case "sslmode":
                guard let mode = SSLMode(value) else {
                    throw invalid("sslmode must be disable, prefer, require, verify-ca or verify-full, not '\(value)'")
                }
                sslMode = mode
            case "sslrootcert": rootCertificatePath = value
            case "sslcert": clientCertificatePath = value
            case "sslkey": clientKeyPath = value
            case "sslservername", "sslsni":
                // libpq's sslsni is a flag (1/0); a name is taken as the server name.
                if value != "1" && value != "0" { tlsServerName = value }
            case "pool_size", "pool_max_conns":
                guard let n = Int(value), n > 0, n <= 10_000 else { throw invalid("\(name) must be a positive integer") }
                poolSize = n
            case "connect_timeout":
                guard let n = Int(value), n > 0, n <= 3600 else { throw invalid("connect_timeout must be a positive number of seconds") }
                connectTimeout = .seconds(n)
            case "operation_timeout":
                guard let n = Int(value), n > 0, n <= 3600 else { throw invalid("operation_timeout must be a positive number of seconds") }
                operationTimeout = .seconds(n)
            case "application_name": applicationName = value
            case "user": self.username = value
            case "password": self.password = value
            case "dbname": self.database = value
            default:
                throw invalid("unknown parameter '\(name)' (supported: sslmode, sslrootcert, sslcert, sslkey, sslservername, pool_size, connect_timeout, operation_timeout, application_name)")
            }
        }
        if (clientCertificatePath == nil) != (clientKeyPath == nil) {
            throw invalid("sslcert and sslkey must be given together")
        }
        if sslMode == .disable && (rootCertificatePath != nil || clientCertificatePath != nil) {
            throw invalid("sslrootcert/sslcert need an sslmode other than disable")
        }
    }

    // MARK: postgres-nio configurations

    /// The TLS settings, with every file read now, so that a missing or unreadable file fails here.
    func tlsConfiguration() throws -> TLSConfiguration? {
        if sslMode == .disable { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        // As libpq: `require` with a root certificate file verifies the chain, like `verify-ca`.
        if sslMode == .prefer || (sslMode == .require && rootCertificatePath == nil) {
            tls.certificateVerification = .none
        } else {
            tls.certificateVerification = sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let path = rootCertificatePath {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
                } catch {
                    throw PostgresBackendError(.tlsConfiguration, message: "cannot read sslrootcert \(path): \(error)", underlyingError: error)
                }
            }
        }
        if let certificatePath = clientCertificatePath, let keyPath = clientKeyPath {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
            } catch {
                throw PostgresBackendError(
                    .tlsConfiguration,
                    message: "cannot read sslcert \(certificatePath) or sslkey \(keyPath): \(error)",
                    underlyingError: error
                )
            }
        }
        return tls
    }

    /// The pooled client's configuration.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch try tlsConfiguration() {
            case nil: .disable
            case let configuration? where sslMode == .prefer: .prefer(configuration)
            case let configuration?: .require(configuration)
            }
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls
        )
        configuration.options.maximumConnections = poolSize
        // postgres-nio (1.33) arms a keep-alive (30 s) and an idle (60 s) timer each time a connection goes back to
        // the pool, as a `Task.sleep` that is cancelled when it is leased again, and a cancelled sleep holds its memory
        // until its deadline: at thousands of queries a second that grew the replica by about 1 KiB per request (run
        // 10 measured 147 MiB after load). So: no keep-alive (dead connections are found by the queries themselves,
        // within their deadline, and the LISTEN connection has its own heartbeat), and a short idle timeout, which
        // bounds what the idle timers hold. (A minimum of open connections would avoid the idle timers, but
        // postgres-nio's pool then stops the process on a precondition when connections fail during an outage.)
        configuration.options.minimumConnections = 0
        configuration.options.connectionIdleTimeout = .seconds(5)
        configuration.options.keepAliveBehavior = nil
        configuration.options.connectTimeout = connectTimeout
        configuration.options.tlsServerName = tlsServerName
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }

    /// The configuration of a connection of its own (the bus's LISTEN connection, migrations).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch try tlsConfiguration() {
            case nil: .disable
            case let configuration? where sslMode == .prefer: .prefer(try NIOSSLContext(configuration: configuration))
            case let configuration?: .require(try NIOSSLContext(configuration: configuration))
            }
        var configuration = PostgresConnection.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls
        )
        configuration.options.connectTimeout = .nanoseconds(Int64(connectTimeout.wholeMilliseconds) * 1_000_000)
        configuration.options.tlsServerName = tlsServerName
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }

    /// The URL without its password, for logs.
    public var redactedDescription: String {
        "postgres://\(username)@\(host):\(port)/\(database ?? username)?sslmode=\(sslMode)"
    }
}
