//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

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
        subscriptionBufferSize: Int = 4096
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
    }

    /// Reads `redis://[[user]:password@]host[:port][/database]`; other settings keep their defaults.
    ///
    /// The user name and password are percent-decoded; an IPv6 host is written in brackets
    /// (`redis://[::1]:6379`). `rediss://` (TLS) is not supported.
    /// - Throws: ``RedisClientError`` with code ``RedisClientError/Code/invalidURL``.
    public init(url: String) throws {
        func invalid(_ why: String) -> RedisClientError {
            RedisClientError(.invalidURL, message: "invalid Redis URL: \(why)")
        }
        guard url.hasPrefix("redis://") else { throw invalid("the scheme must be redis://") }
        var rest = Substring(url.dropFirst("redis://".count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = String(userInfo[..<colon])
                guard let u = user.removingPercentEncodingStrict,
                    let p = String(userInfo[userInfo.index(after: colon)...]).removingPercentEncodingStrict
                else {
                    throw invalid("bad percent-encoding in the credentials")
                }
                username = u.isEmpty ? nil : u
                password = p
            } else {
                // A lone value is the password, as redis-cli reads it.
                guard let p = String(userInfo).removingPercentEncodingStrict else { throw invalid("bad percent-encoding in the credentials") }
                password = p
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw invalid("the database must be a non-negative integer") }
                database = db
            }
        }
        var host: String
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unclosed IPv6 bracket") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw invalid("bad port") }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { throw invalid("bad port") }
            port = p
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { throw invalid("missing host") }
        self.init(host: host, port: port, username: username, password: password, database: database)
    }
}

extension String {
    /// Percent-decoding without Foundation; `nil` when a `%` is not followed by two hex digits or the bytes are not UTF-8.
    fileprivate var removingPercentEncodingStrict: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
