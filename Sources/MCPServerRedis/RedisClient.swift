//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A Redis client: a bounded pool of RESP3 connections for commands and one dedicated connection for
/// subscriptions.
///
/// The client is a `Service`: add it to the application's `ServiceGroup` ahead of the backends that use it, so it
/// starts first and stops last. ``run()`` is its structured root: the pool's connection attempts and the
/// subscription connection are its child tasks, and graceful shutdown closes every connection.
///
/// ```swift
/// let client = RedisClient(configuration: try RedisClientConfiguration(url: "redis://127.0.0.1:6379"), logger: logger)
/// let reply = try await client.execute(RESPCommand("INCR", "counter"))
/// ```
///
/// Its API follows valkey-swift (`withConnection`, scoped `subscribe(to:)`) so it can be replaced by that package.
public final class RedisClient: Service, Sendable {
    /// The configuration the client was created with.
    public let configuration: RedisClientConfiguration
    let logger: Logger
    private let pool: RedisConnectionPool
    let subscriptions: RedisSubscriptions
    private let isRunning = Atomic<Bool>(false)

    /// Creates a client; it connects when ``run()`` runs and a command needs a connection.
    /// - Parameters:
    ///   - configuration: where to connect, pool size and timeouts.
    ///   - eventLoopGroup: where connections run (default `nil`: NIO's shared `MultiThreadedEventLoopGroup.singleton`).
    ///   - logger: where to log, at debug and trace (default: a logger that discards everything).
    public init(
        configuration: RedisClientConfiguration,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "redis", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        let eventLoopGroup = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.configuration = configuration
        self.logger = logger
        self.pool = RedisConnectionPool(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        self.subscriptions = RedisSubscriptions(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Runs the pool and the subscription connection until graceful shutdown or cancellation, then closes them.
    ///
    /// Call it once.
    public func run() async throws {
        let (exchanged, _) = isRunning.compareExchange(expected: false, desired: true, ordering: .relaxed)
        precondition(exchanged, "RedisClient.run() must be called only once")
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.pool.run() }
                group.addTask { await self.subscriptions.run() }
            }
        }
        // In case run() was cancelled before its children started.
        pool.shutdown()
        subscriptions.shutdown()
        logger.debug("Redis client stopped")
    }

    /// Runs `body` with a connection leased from the pool and returns it to the pool afterwards.
    ///
    /// Commands sent on the connection are pipelined: several may be in flight at once.
    /// - Throws: ``RedisClientError`` with code ``RedisClientError/Code/timeout`` when no connection is free within
    ///   the lease timeout, or ``RedisClientError/Code/connectionFailed`` when Redis cannot be reached.
    public func withConnection<Result>(_ body: (RedisConnection) async throws -> Result) async throws -> Result {
        try await pool.withConnection(body)
    }

    /// Sends one command on a pooled connection and returns its reply.
    /// - Throws: ``RedisClientError``; an error reply has code ``RedisClientError/Code/serverError``.
    @discardableResult
    public func execute(_ command: RESPCommand) async throws -> RESPValue {
        try await withConnection { try await $0.execute(command) }
    }

    /// Sends commands in one write on one pooled connection and returns their replies in order.
    public func execute(pipeline commands: [RESPCommand]) async throws -> [Result<RESPValue, RedisClientError>] {
        try await withConnection { await $0.execute(pipeline: commands) }
    }
}
