//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer

/// The session store on Redis: each key holds one string, `<version>:<JSON>`, with a `PX` expiry.
///
/// Every write is one Lua script (`EVALSHA`, so one round trip): `create` is "set if absent", `compareAndSet`
/// compares the stored version and writes in the same atomic step. A new version is the server's `TIME` in
/// microseconds, or the old version plus one if that is larger, so versions increase on every write and a key
/// deleted and created again does not reuse an old version (unless the server clock steps backwards).
public struct RedisSessionStore: SessionStore {
    let client: RedisClient

    /// Creates a store on `client`; the client is not owned: run it as its own service.
    public init(client: RedisClient) {
        self.client = client
    }

    public func get(_ key: String) async throws -> VersionedValue? {
        let reply = try await client.execute(RESPCommand("GET", .string(key)))
        if reply.isNull { return nil }
        guard let bytes = reply.bytes else { throw Self.unexpected(reply, "GET") }
        return try Self.decode(bytes)
    }

    /// One `GETEX ... PX` (Redis 6.2+): reads the value and restarts its expiry in one round trip.
    public func getAndTouch(_ key: String, ttl: Duration) async throws -> VersionedValue? {
        let reply = try await client.execute(RESPCommand("GETEX", .string(key), "PX", .int(ttl.redisMilliseconds)))
        if reply.isNull { return nil }
        guard let bytes = reply.bytes else { throw Self.unexpected(reply, "GETEX") }
        return try Self.decode(bytes)
    }

    public func create(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64? {
        let reply = try await client.run(Self.createScript, keys: [key], arguments: [.bytes(JSONWriter.encode(value)), .int(ttl.redisMilliseconds)])
        return try Self.version(reply, "create")
    }

    public func set(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64 {
        let reply = try await client.run(Self.setScript, keys: [key], arguments: [.bytes(JSONWriter.encode(value)), .int(ttl.redisMilliseconds)])
        guard let version = try Self.version(reply, "set") else { throw Self.unexpected(reply, "set") }
        return version
    }

    public func compareAndSet(_ key: String, value: JSONValue, expectedVersion: UInt64, ttl: Duration) async throws -> UInt64? {
        let reply = try await client.run(
            Self.compareAndSetScript,
            keys: [key],
            arguments: [.int(expectedVersion), .bytes(JSONWriter.encode(value)), .int(ttl.redisMilliseconds)]
        )
        return try Self.version(reply, "compareAndSet")
    }

    public func touch(_ key: String, ttl: Duration) async throws -> Bool {
        let reply = try await client.execute(RESPCommand("PEXPIRE", .string(key), .int(ttl.redisMilliseconds)))
        return reply.int64 == 1
    }

    public func delete(_ key: String) async throws {
        try await client.execute(RESPCommand("DEL", .string(key)))
    }

    // MARK: Encoding

    static func decode(_ bytes: [UInt8]) throws -> VersionedValue {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            let version = UInt64(String(decoding: bytes[..<colon], as: UTF8.self))
        else {
            throw RedisClientError(.unexpectedReply, message: "a session store value without a version")
        }
        let value = try JSONParser().parse(bytes[(colon + 1)...])
        return VersionedValue(value: value, version: version)
    }

    private static func version(_ reply: RESPValue, _ operation: String) throws -> UInt64? {
        if reply.isNull { return nil }
        guard let version = reply.int64, version > 0 else { throw unexpected(reply, operation) }
        return UInt64(version)
    }

    private static func unexpected(_ reply: RESPValue, _ operation: String) -> RedisClientError {
        RedisClientError(.unexpectedReply, message: "unexpected reply to the session store's \(operation)")
    }

    // MARK: Scripts

    /// `nextversion(old)`: the new version, the server time in microseconds, or one more than `old` if that is not
    /// smaller. `store(v, json, ttl)`: writes KEYS[1] as `<v>:<json>` with a TTL in ms and returns `v`.
    private static let prelude = """
        local function nextversion(old)
          local t = redis.call('TIME')
          local v = tonumber(t[1]) * 1000000 + tonumber(t[2])
          if old and old >= v then v = old + 1 end
          return v
        end
        local function store(v, json, ttl)
          redis.call('SET', KEYS[1], string.format('%.0f', v) .. ':' .. json, 'PX', ttl)
          return v
        end
        """

    /// KEYS[1]; ARGV: JSON, TTL in ms. Returns the version, or nil if the key exists.
    static let createScript = RedisScript(
        prelude + """

            if redis.call('EXISTS', KEYS[1]) == 1 then return false end
            return store(nextversion(nil), ARGV[1], ARGV[2])
            """
    )

    /// KEYS[1]; ARGV: JSON, TTL in ms. Returns the version.
    static let setScript = RedisScript(
        prelude + """

            local cur = redis.call('GET', KEYS[1])
            local old = nil
            if cur then old = tonumber(string.match(cur, '^(%d+):')) end
            return store(nextversion(old), ARGV[1], ARGV[2])
            """
    )

    /// KEYS[1]; ARGV: expected version, JSON, TTL in ms. Returns the version, or nil on a conflict or a missing key.
    static let compareAndSetScript = RedisScript(
        prelude + """

            local cur = redis.call('GET', KEYS[1])
            if not cur then return false end
            local sep = string.find(cur, ':', 1, true)
            if not sep or string.sub(cur, 1, sep - 1) ~= ARGV[1] then return false end
            return store(nextversion(tonumber(string.sub(cur, 1, sep - 1))), ARGV[2], ARGV[3])
            """
    )
}

extension Duration {
    /// Whole milliseconds for `PX`/`PEXPIRE`, at least 1 (Redis rejects 0).
    var redisMilliseconds: Int64 {
        max(1, wholeMilliseconds)
    }
}
