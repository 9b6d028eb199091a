//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import ServiceLifecycle

/// A message received from a ``MessageBus`` subscription.
public struct BusMessage: Sendable, Hashable {
    /// The channel it was published to.
    public var channel: String
    /// The payload.
    public var payload: [UInt8]

    /// Creates a message.
    public init(channel: String, payload: [UInt8]) {
        self.channel = channel
        self.payload = payload
    }
}

/// Publish and subscribe across replicas. Delivery is at most once, to subscribers present at publish time.
public protocol MessageBus: Service {
    /// Publishes `payload` on `channel`.
    func publish(_ payload: [UInt8], to channel: String) async throws
    /// Subscribes to `channels` for the duration of `body`. The subscription is active before `body` starts and
    /// is removed when it returns or throws.
    func subscribe<Result: Sendable>(
        to channels: [String],
        _ body: (AsyncStream<BusMessage>) async throws -> Result
    ) async throws -> Result
}

extension MessageBus {
    public func run() async throws {
        try? await gracefulShutdown()
    }
}
