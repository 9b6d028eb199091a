//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer

/// The message bus on Redis pub/sub: `PUBLISH` on a pooled connection; subscriptions share the client's
/// subscription connection, which reconnects and subscribes again after a drop.
///
/// Delivery is at most once, to subscribers present at publish time, as ``MessageBus`` promises. Messages published
/// while the subscription connection is reconnecting are lost, so a dropped connection ends every subscription of the
/// callback form (`onEnd`), and with it the stream form's sequence: subscribers re-sync and subscribe again.
public struct RedisMessageBus: MessageBus {
    let client: RedisClient
    let bufferSize: Int

    /// Creates a bus on `client`; the client is not owned: run it as its own service.
    /// - Parameters:
    ///   - client: the Redis client.
    ///   - bufferSize: the buffer of each stream-form subscription; beyond it the oldest undelivered messages are
    ///     dropped (default 4096). The callback form buffers nothing.
    public init(client: RedisClient, bufferSize: Int = 4096) {
        precondition(bufferSize > 0)
        self.client = client
        self.bufferSize = bufferSize
    }

    public func publish(_ payload: [UInt8], to channel: String) async throws {
        try await client.execute(RESPCommand("PUBLISH", .string(channel), .bytes(payload)))
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
        try await client.subscriptions.withSubscription(
            to: channels,
            deliver: { deliver(BusMessage(channel: $0.channel, payload: Array($0.payload.readableBytesView))) },
            finish: onEnd,
            // A dropped connection loses messages: the bus ends the subscription so that the subscriber re-syncs.
            interrupted: onEnd,
            body
        )
    }
}
