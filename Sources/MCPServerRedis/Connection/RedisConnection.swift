//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// One connection to a Redis server, speaking RESP3.
///
/// Commands may be sent from many tasks at once: they are pipelined and replies are matched in order. When the
/// connection drops, every command in flight fails with ``RedisClientError/Code/connectionClosed``; a command
/// without a reply within the command timeout fails with ``RedisClientError/Code/timeout`` and closes the
/// connection. Nothing waits forever.
///
/// Most code borrows a connection with ``RedisClient/withConnection(_:)`` instead of creating one.
public final class RedisConnection: Sendable {
    /// A number unique within the client, for logs.
    public let id: Int
    let channel: any Channel
    let commandTimeout: TimeAmount
    let logger: Logger

    private init(id: Int, channel: any Channel, commandTimeout: TimeAmount, logger: Logger) {
        self.id = id
        self.channel = channel
        self.commandTimeout = commandTimeout
        self.logger = logger
    }

    /// Connects, then sends `HELLO 3` (with `AUTH` and `SETNAME` when configured) and `SELECT` for a non-zero database.
    /// - Parameters:
    ///   - id: a number for logs.
    ///   - configuration: where to connect and the timeouts.
    ///   - eventLoop: the event loop the connection runs on.
    ///   - logger: where to log (at debug and trace).
    ///   - onPush: called on the event loop with every push that is not a (un)subscribe confirmation.
    /// - Throws: ``RedisClientError`` with code ``RedisClientError/Code/connectionFailed``.
    public static func connect(
        id: Int,
        configuration: RedisClientConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        onPush: @escaping @Sendable (RESPValue) -> Void = { _ in }
    ) async throws -> RedisConnection {
        var logger = logger
        logger[metadataKey: "redis.connection.id"] = "\(id)"
        let handlerLogger = logger
        let limits = configuration.parserLimits
        // The TLS files are read on every connect, so that a rotated certificate is picked up by new connections.
        let tlsContext = try configuration.tls?.makeContext()
        let serverName = configuration.tls.flatMap { $0.serverName ?? (configuration.host.isIPAddress ? nil : configuration.host) }
        let handshakes = HandshakeFutures()
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(TimeAmount(configuration.timeouts.connect))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tlsContext {
                            // One watcher per attempted channel (a host name may be tried on several addresses).
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                            )
                            let watcher = TLSHandshakeWatcher(channel.eventLoop.makePromise())
                            handshakes.set(watcher.handshake, for: channel)
                            try channel.pipeline.syncOperations.addHandler(watcher)
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
                        try channel.pipeline.syncOperations.addHandler(RESPChannelHandler(logger: handlerLogger, onPush: onPush))
                    }
                }
                .connect(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw RedisClientError(
                .connectionFailed,
                message: "cannot connect to Redis at \(configuration.host):\(configuration.port)",
                underlyingError: error
            )
        }
        if tlsContext != nil {
            // Wait for the TLS handshake on its own, so that a certificate the client refuses is reported as such.
            let handshake = handshakes.get(for: channel) ?? channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
            // A handshake that never ends ends with the channel: closing it on the deadline fails the watcher.
            let timeout = eventLoop.scheduleTask(in: TimeAmount(configuration.timeouts.connect)) {
                channel.close(promise: nil)
            }
            do {
                try await handshake.get()
                timeout.cancel()
            } catch {
                timeout.cancel()
                try? await channel.close()
                throw RedisClientError(
                    .connectionFailed,
                    message: "the TLS handshake with Redis at \(configuration.host):\(configuration.port) failed: \(error)",
                    underlyingError: error
                )
            }
        }
        let connection = RedisConnection(id: id, channel: channel, commandTimeout: TimeAmount(configuration.timeouts.command), logger: logger)
        do {
            var hello: [RESPArgument] = ["HELLO", "3"]
            if let password = configuration.password {
                hello += ["AUTH", .string(configuration.username ?? "default"), .string(password)]
            }
            if let name = configuration.clientName { hello += ["SETNAME", .string(name)] }
            let handshakeTimeout = TimeAmount(configuration.timeouts.connect)
            _ = try await connection.execute(RESPCommand(hello), timeout: handshakeTimeout)
            if configuration.database != 0 {
                _ = try await connection.execute(RESPCommand("SELECT", .int(configuration.database)), timeout: handshakeTimeout)
            }
        } catch {
            try? await channel.close()
            throw RedisClientError(
                .connectionFailed,
                message: "Redis at \(configuration.host):\(configuration.port) refused the handshake (HELLO 3 needs Redis 6 or later)",
                underlyingError: error
            )
        }
        logger.debug("Redis connection open")
        return connection
    }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends one command and returns its reply.
    /// - Throws: ``RedisClientError``: ``RedisClientError/Code/serverError`` for an error reply, or a connection,
    ///   timeout or cancellation error.
    public func execute(_ command: RESPCommand) async throws -> RESPValue {
        try await execute(command, timeout: commandTimeout)
    }

    /// Sends several commands in one write and returns their replies (or errors) in order.
    ///
    /// The commands are not a transaction: other clients' commands may run between them.
    public func execute(pipeline commands: [RESPCommand]) async -> [Result<RESPValue, RedisClientError>] {
        guard !commands.isEmpty else { return [] }
        var bytes = ByteBuffer()
        var entries: [RESPRequest.Entry] = []
        for command in commands {
            command.encode(into: &bytes)
            entries.append(RESPRequest.Entry(promise: channel.eventLoop.makePromise(), expectation: .reply, name: command.name))
        }
        send(RESPRequest(bytes: bytes, entries: entries, timeout: commandTimeout))
        var results: [Result<RESPValue, RedisClientError>] = []
        for entry in entries {
            do {
                results.append(.success(try await wait(entry.promise)))
            } catch {
                results.append(.failure(Self.map(error)))
            }
        }
        return results
    }

    /// Closes the connection; commands in flight fail with ``RedisClientError/Code/connectionClosed``.
    public func close() async {
        try? await channel.close()
    }

    func execute(_ command: RESPCommand, timeout: TimeAmount) async throws -> RESPValue {
        try await execute(command, expectation: .reply, timeout: timeout)
    }

    func execute(_ command: RESPCommand, expectation: RESPRequest.Expectation, timeout: TimeAmount? = nil) async throws -> RESPValue {
        var bytes = ByteBuffer()
        command.encode(into: &bytes)
        let entry = RESPRequest.Entry(promise: channel.eventLoop.makePromise(), expectation: expectation, name: command.name)
        send(RESPRequest(bytes: bytes, entries: [entry], timeout: timeout ?? commandTimeout))
        do {
            return try await wait(entry.promise)
        } catch {
            throw Self.map(error)
        }
    }

    /// Writes a request; if the write cannot reach the handler (the channel is already closed), fails its promises.
    private func send(_ request: RESPRequest) {
        let entries = request.entries
        channel.writeAndFlush(request).whenFailure { error in
            let closed = RedisClientError(.connectionClosed, message: "the connection to Redis is closed", underlyingError: error)
            for entry in entries { entry.promise.fail(closed) }
        }
    }

    private func wait(_ promise: EventLoopPromise<RESPValue>) async throws -> RESPValue {
        try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            // The reply still arrives in order and is dropped: the connection stays usable.
            promise.fail(RedisClientError(.cancelled, message: "the task waiting for the reply was cancelled"))
        }
    }

    static func map(_ error: any Error) -> RedisClientError {
        if let error = error as? RedisClientError { return error }
        return RedisClientError(.connectionClosed, message: "the connection to Redis failed", underlyingError: error)
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 address rather than a name (SNI takes names only).
    fileprivate var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}

/// The handshake of each channel a connect attempted (a host name may be tried on several addresses), by channel.
private final class HandshakeFutures: Sendable {
    private let futures = Mutex<[ObjectIdentifier: EventLoopFuture<Void>]>([:])

    func set(_ future: EventLoopFuture<Void>, for channel: any Channel) {
        futures.withLock { $0[ObjectIdentifier(channel)] = future }
    }

    func get(for channel: any Channel) -> EventLoopFuture<Void>? {
        futures.withLock { $0[ObjectIdentifier(channel)] }
    }
}

/// Completes a promise when the TLS handshake does, or fails it with the handshake's error, or when the channel goes
/// away first (closed before it was even active: the promise is never left pending). It stays in the pipeline, passing
/// everything on.
private final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Void>

    /// Completes with the handshake.
    var handshake: EventLoopFuture<Void> { promise.futureResult }

    init(_ promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { promise.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(RedisClientError(.connectionClosed, message: "the server closed the connection during the TLS handshake"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A no-op once completed; otherwise the channel closed before the handshake could finish.
        promise.fail(RedisClientError(.connectionClosed, message: "the connection closed before the TLS handshake"))
    }
}
