//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer

/// The event log on Redis Streams, one stream key per log stream.
///
/// **Positions.** An event at position *n* is the stream entry with id `n-0`, so positions are 1, 2, 3, … per
/// stream, exactly as ``EventLog`` requires, with no separate counter key: ``append(stream:data:ttl:)`` is one
/// Lua script that reads the last entry id, adds `n+1-0`, restarts the expiry and publishes a notification,
/// atomically and in one round trip. Reads are `XRANGE` from `p-1` (which takes in a close marker right after
/// `p`), so a resume costs one command, and the id space needs no mapping table. (Auto ids `*` would need a
/// position→id map; a counter key would need a second key in the same slot and still a map.)
///
/// **Close.** ``close(stream:ttl:)`` adds a marker entry `n-1` after the last event `n-0` and sets the
/// retention expiry. Tails end when they reach the marker. The marker never collides with a position, and a
/// later append still gets `n+1`.
///
/// **Tails.** A tail subscribes (on the client's shared subscription connection) to the stream's notification
/// channel, then reads the backlog with `XRANGE` in pages and reads again whenever a notification arrives, and
/// also every `pollInterval` in case notifications were lost while the subscription connection reconnected.
/// No pooled connection is held while a tail waits, so thousands of open SSE streams cost one connection, not
/// thousands of blocked `XREAD BLOCK` connections. Reads are pulled by the consumer, so at most one page is
/// buffered per tail. A tail also ends when the stream is deleted or expires.
///
/// All of a stream's data lives in its one key, so a `{hash tag}` in the stream name keeps it in one slot.
public struct RedisEventLog: EventLog {
    let client: RedisClient
    let pollInterval: Duration
    let pageSize: Int

    /// Creates a log on `client`; the client is not owned: run it as its own service.
    /// - Parameters:
    ///   - client: the Redis client.
    ///   - pollInterval: how often a waiting tail reads even without a notification (default 2 s).
    ///   - pageSize: events read per `XRANGE` by a tail (default 128).
    public init(client: RedisClient, pollInterval: Duration = .seconds(2), pageSize: Int = 128) {
        precondition(pollInterval > .zero && pageSize > 0)
        self.client = client
        self.pollInterval = pollInterval
        self.pageSize = pageSize
    }

    /// The pub/sub channel that announces appends to `stream`.
    static func notificationChannel(_ stream: String) -> String { stream + ":notify" }

    public func append(stream: String, data: [UInt8], ttl: Duration) async throws -> UInt64 {
        let reply = try await client.run(
            Self.appendScript,
            keys: [stream],
            arguments: [.bytes(data), .int(ttl.redisMilliseconds), .string(Self.notificationChannel(stream))]
        )
        guard let position = reply.int64, position > 0 else {
            throw RedisClientError(.unexpectedReply, message: "unexpected reply to the event log's append")
        }
        return UInt64(position)
    }

    public func read(stream: String, after position: UInt64, limit: Int) async throws -> [LoggedEvent] {
        guard limit > 0 else { return [] }
        // Close markers are skipped; there is at most one per close, so one extra entry usually covers it.
        let reply = try await client.execute(Self.range(stream, after: position, count: limit + 2))
        return Array(try Self.entries(reply).events.prefix(limit))
    }

    public func tail<Result: Sendable>(
        stream: String,
        after position: UInt64,
        _ body: (AsyncThrowingStream<LoggedEvent, any Error>) async throws -> Result
    ) async throws -> Result {
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let pollInterval = self.pollInterval
        return try await client.subscribe(
            to: [Self.notificationChannel(stream)],
            bufferSize: 1,
            transform: { _ in () }
        ) { notifications in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in notifications { wake.yield() }
                }
                defer { group.cancelAll() }
                return try await EventLogTailCursor.withEvents(
                    after: position,
                    pollInterval: pollInterval,
                    wakeups: wakeups,
                    wake: wake,
                    readPage: { position in
                        let (page, exists) = try await self.page(stream, after: position)
                        return (page.events, page.closed || !exists)
                    },
                    body
                )
            }
        }
    }

    public func lastPosition(stream: String) async throws -> UInt64 {
        let reply = try await client.execute(RESPCommand("XREVRANGE", .string(stream), "+", "-", "COUNT", "1"))
        guard let entry = reply.elements?.first, let id = entry.elements?.first?.string, let position = UInt64(id.split(separator: "-")[0])
        else { return 0 }
        return position
    }

    public func trim(stream: String, keepingLast count: Int) async throws {
        // Approximate trimming (`~`) lets Redis drop whole radix-tree nodes: cheap, and a few more entries may stay.
        _ = try await client.execute(RESPCommand("XTRIM", .string(stream), "MAXLEN", "~", .int(Int64(max(0, count)))))
    }

    public func close(stream: String, ttl: Duration) async throws {
        try await client.run(
            Self.closeScript,
            keys: [stream],
            arguments: [.int(ttl.redisMilliseconds), .string(Self.notificationChannel(stream))]
        )
    }

    public func exists(stream: String) async throws -> Bool {
        try await client.execute(RESPCommand("EXISTS", .string(stream))).int64 == 1
    }

    public func delete(stream: String) async throws {
        let results = try await client.execute(pipeline: [
            RESPCommand("DEL", .string(stream)),
            RESPCommand("PUBLISH", .string(Self.notificationChannel(stream)), "deleted"),
        ])
        for result in results { _ = try result.get() }
    }

    // MARK: Reading

    /// One page of a stream: events in order, and whether the close marker was reached.
    struct Page {
        var events: [LoggedEvent] = []
        var closed = false
    }

    /// Events after `position`, plus whether the stream is closed there or gone.
    func page(_ stream: String, after position: UInt64) async throws -> (page: Page, exists: Bool) {
        let results = try await client.execute(pipeline: [
            Self.range(stream, after: position, count: pageSize),
            RESPCommand("EXISTS", .string(stream)),
        ])
        let page = try Self.entries(try results[0].get(), stopAtMarker: true)
        let exists = try results[1].get().int64 == 1
        return (page, exists)
    }

    /// `XRANGE` from `position-1`: the close marker right after `position`, if any, then every later entry.
    static func range(_ stream: String, after position: UInt64, count: Int) -> RESPCommand {
        RESPCommand("XRANGE", .string(stream), .string("\(position)-1"), "+", "COUNT", .int(count))
    }

    /// Reads `XRANGE` entries: data entries `n-0` with field `d`, close markers `n-1`.
    static func entries(_ reply: RESPValue, stopAtMarker: Bool = false) throws -> Page {
        guard let entries = reply.elements else {
            throw RedisClientError(.unexpectedReply, message: "unexpected reply to XRANGE")
        }
        var page = Page()
        for entry in entries {
            guard let parts = entry.elements, parts.count == 2, let id = parts[0].string, let fields = parts[1].elements else {
                throw RedisClientError(.unexpectedReply, message: "unexpected stream entry")
            }
            let idParts = id.split(separator: "-")
            guard idParts.count == 2, let position = UInt64(idParts[0]) else {
                throw RedisClientError(.unexpectedReply, message: "unexpected stream entry id")
            }
            if idParts[1] == "0", fields.count == 2, fields[0].string == "d", let data = fields[1].bytes {
                page.events.append(LoggedEvent(position: position, data: data))
            } else if stopAtMarker {
                page.closed = true
                break
            }
        }
        return page
    }

    // MARK: Scripts

    /// KEYS[1]; ARGV: data, TTL in ms, notification channel. Returns the new position.
    static let appendScript = RedisScript(
        """
        local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
        local n = 0
        if #last > 0 then n = tonumber(string.match(last[1][1], '^(%d+)-')) end
        local id = string.format('%.0f', n + 1) .. '-0'
        redis.call('XADD', KEYS[1], id, 'd', ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        redis.call('PUBLISH', ARGV[3], id)
        return n + 1
        """
    )

    /// KEYS[1]; ARGV: retention TTL in ms, notification channel. Adds the close marker unless present.
    static let closeScript = RedisScript(
        """
        local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
        if #last == 0 then return 0 end
        local ms, seq = string.match(last[1][1], '^(%d+)-(%d+)$')
        if seq == '0' then redis.call('XADD', KEYS[1], ms .. '-1', 'c', '1') end
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        redis.call('PUBLISH', ARGV[2], 'closed')
        return 1
        """
    )
}
