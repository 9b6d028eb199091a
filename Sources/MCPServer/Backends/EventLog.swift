//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import ServiceLifecycle

/// One event of an ``EventLog`` stream.
public struct LoggedEvent: Sendable, Hashable {
    /// The position in its stream; positions start at 1 and increase by one.
    public var position: UInt64
    /// The event's payload.
    public var data: [UInt8]

    /// Creates an event.
    public init(position: UInt64, data: [UInt8]) {
        self.position = position
        self.data = data
    }
}

/// An append-only log of events per stream, readable after a position and tailable.
///
/// SSE events are appended before they are written to a socket, so a client that reconnects to any replica
/// can resume after the last event it saw.
public protocol EventLog: Service {
    /// Appends an event and returns its position. The stream's time to live restarts.
    func append(stream: String, data: [UInt8], ttl: Duration) async throws -> UInt64
    /// Reads up to `limit` events after `position`.
    func read(stream: String, after position: UInt64, limit: Int) async throws -> [LoggedEvent]
    /// Runs `body` with every event after `position`: those already stored, then new ones as they are appended.
    /// The sequence ends when the stream is closed with ``close(stream:ttl:)`` or deleted.
    func tail<Result: Sendable>(
        stream: String,
        after position: UInt64,
        _ body: (AsyncThrowingStream<LoggedEvent, any Error>) async throws -> Result
    ) async throws -> Result
    /// Marks a stream as complete: tails end after its last event; it expires after `ttl` (the retention window).
    func close(stream: String, ttl: Duration) async throws
    /// Whether the stream exists (has events and has not expired).
    func exists(stream: String) async throws -> Bool
    /// Deletes a stream.
    func delete(stream: String) async throws
    /// The position of the last event of a stream, `0` when it has none (or does not exist).
    func lastPosition(stream: String) async throws -> UInt64
    /// Drops a stream's oldest events so that about `count` remain (a backend may keep a few more); the positions of
    /// the rest do not change, and reads after a dropped position start at the oldest kept.
    func trim(stream: String, keepingLast count: Int) async throws
}

extension EventLog {
    public func run() async throws {
        try? await gracefulShutdown()
    }

    /// Reads through the stream; backends should answer in one round trip instead.
    public func lastPosition(stream: String) async throws -> UInt64 {
        var position: UInt64 = 0
        while true {
            let page = try await read(stream: stream, after: position, limit: 1024)
            guard let last = page.last else { return position }
            position = last.position
        }
    }

    /// Keeps everything: a backend that cannot trim grows until the stream expires.
    public func trim(stream: String, keepingLast count: Int) async throws {}
}
