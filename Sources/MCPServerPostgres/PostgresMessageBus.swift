//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer
import NIOCore
public import PostgresNIO

/// The message bus on PostgreSQL: the `mcp_bus` table is the truth, and `NOTIFY` carries only what a replica needs
/// to fetch a message (its id and channel), so messages may be of any size while NOTIFY payloads stay far under
/// PostgreSQL's 8,000-byte limit.
///
/// ``publish(_:to:)`` is one round trip: `mcp_bus_publish` inserts the row and notifies in the same transaction, so a
/// notification is never seen before its row is readable. Subscriptions are registered with the replica's
/// ``PostgresListener`` (one LISTEN connection per process), which fetches and fans out.
///
/// Delivery is at most once per subscriber. A dropped LISTEN connection loses nothing: the listener catches up from
/// the table when it is back, and ends the subscriptions (`onEnd`) only if that gap cannot be closed.
public struct PostgresMessageBus: MessageBus {
    let client: PostgresClient
    let listener: PostgresListener
    let bufferSize: Int
    let timeout: Duration
    let watchdog: PostgresWatchdog?

    /// Creates a bus; neither `client` nor `listener` is owned: run them as services.
    /// - Parameters:
    ///   - bufferSize: the buffer of each stream-form subscription (default 4096 messages).
    ///   - timeout: how long a publish may take (default 5 s).
    ///   - watchdog: what enforces the timeout (run it as a service); without one, each publish sets a timer.
    public init(
        client: PostgresClient,
        listener: PostgresListener,
        bufferSize: Int = 4096,
        timeout: Duration = .seconds(5),
        watchdog: PostgresWatchdog? = nil
    ) {
        precondition(bufferSize > 0 && timeout > .zero)
        self.client = client
        self.listener = listener
        self.bufferSize = bufferSize
        self.timeout = timeout
        self.watchdog = watchdog
    }

    public func publish(_ payload: [UInt8], to channel: String) async throws {
        try await client.run("SELECT mcp_bus_publish(\(channel), \(ByteBuffer(bytes: payload)))", timeout: timeout, watchdog: watchdog)
    }

    public func subscribe<Result: Sendable>(
        to channels: [String],
        _ body: (AsyncStream<BusMessage>) async throws -> Result
    ) async throws -> Result {
        try await bufferedSubscribe(to: channels, bufferSize: bufferSize, body)
    }

    public func subscribe<Result: Sendable>(
        to channels: [String],
        deliver: @escaping @Sendable (BusMessage) -> Void,
        onEnd: @escaping @Sendable () -> Void,
        _ body: () async throws -> Result
    ) async throws -> Result {
        try await listener.withBusSubscription(to: channels, deliver: deliver, onEnd: onEnd, body)
    }
}
