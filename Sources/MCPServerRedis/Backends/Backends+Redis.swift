//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer

extension Backends {
    /// Backends that share state through Redis: sessions, the event log and the message bus.
    ///
    /// The backends do not own `client`; ``Backends/services`` lists it first, so a service group that runs
    /// `backends.services` starts it first and stops it last:
    ///
    /// ```swift
    /// let redis = RedisClient(configuration: try RedisClientConfiguration(url: url), logger: logger)
    /// let backends = Backends.redis(client: redis, keyRing: keyRing)
    /// let group = ServiceGroup(services: backends.services + [app, server], ...)
    /// ```
    /// - Parameters:
    ///   - client: the Redis client the backends use.
    ///   - keyRing: the key ring (static for now; every replica must be given the same keys).
    public static func redis(client: RedisClient, keyRing: any KeyRing) -> Backends {
        let sessionStore = RedisSessionStore(client: client)
        let eventLog = RedisEventLog(client: client)
        let messageBus = RedisMessageBus(client: client)
        return Backends(
            sessionStore: sessionStore,
            eventLog: eventLog,
            messageBus: messageBus,
            keyRing: keyRing,
            services: [client, sessionStore, eventLog, messageBus]
        )
    }
}
