//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging
public import MCPServer
public import PostgresNIO

extension Backends {
    /// Backends that share state through PostgreSQL: sessions, the event log, the message bus, their sweeper, and
    /// the watchdog that enforces every operation's deadline.
    ///
    /// Bring the schema up to date first, then run ``Backends/services`` (the pooled client first, then the
    /// listener) with the application's service group:
    ///
    /// ```swift
    /// let configuration = try PostgresBackendConfiguration(url: url)
    /// try await PostgresSchema.migrate(configuration: configuration, logger: logger)
    /// let backends = try Backends.postgres(configuration: configuration, keyRing: keyRing, logger: logger)
    /// let group = ServiceGroup(services: backends.services + [app, server], ...)
    /// ```
    /// - Parameters:
    ///   - configuration: where to connect.
    ///   - keyRing: the key ring (every replica must be given the same keys).
    ///   - logger: the backends' background logger.
    /// - Throws: ``PostgresBackendError`` if a TLS file cannot be read.
    public static func postgres(configuration: PostgresBackendConfiguration, keyRing: any KeyRing, logger: Logger) throws -> Backends {
        let client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        let listener = PostgresListener(configuration: configuration, client: client, logger: logger)
        return postgres(client: client, listener: listener, keyRing: keyRing, logger: logger, timeout: configuration.operationTimeout)
    }

    /// Backends on a client and listener that the caller made; the services list runs both.
    /// - Parameter timeout: how long one operation may take.
    public static func postgres(
        client: PostgresClient,
        listener: PostgresListener,
        keyRing: any KeyRing,
        logger: Logger,
        timeout: Duration = .seconds(5)
    ) -> Backends {
        let watchdog = PostgresWatchdog()
        let sessionStore = PostgresSessionStore(client: client, timeout: timeout, watchdog: watchdog)
        let eventLog = PostgresEventLog(client: client, listener: listener, timeout: timeout, watchdog: watchdog)
        let messageBus = PostgresMessageBus(client: client, listener: listener, timeout: timeout, watchdog: watchdog)
        let sweeper = PostgresSweeper(client: client, logger: logger, busRetention: listener.busRetention)
        return Backends(
            sessionStore: sessionStore,
            eventLog: eventLog,
            messageBus: messageBus,
            keyRing: keyRing,
            services: [client, listener, sweeper, watchdog, sessionStore, eventLog, messageBus]
        )
    }
}
