//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import ServiceLifecycle

/// The shared state of a deployment: what every replica must see.
///
/// A backend does not own its client connections; register ``services`` with the application's service group so
/// they run and shut down with it.
public struct Backends: Sendable {
    /// Session state of legacy clients.
    public var sessionStore: any SessionStore
    /// SSE events, for resumption on any replica.
    public var eventLog: any EventLog
    /// Cross-replica notifications.
    public var messageBus: any MessageBus
    /// Keys that seal `requestState` and session ids.
    public var keyRing: any KeyRing

    /// The services to run alongside the server, in start order (clients first): tidy loops, connection pools.
    public var services: [any Service]

    /// Creates a set of backends.
    /// - Parameters:
    ///   - services: what must run for the backends to work, in start order; defaults to the three backends.
    public init(
        sessionStore: any SessionStore,
        eventLog: any EventLog,
        messageBus: any MessageBus,
        keyRing: any KeyRing,
        services: [any Service]? = nil
    ) {
        self.sessionStore = sessionStore
        self.eventLog = eventLog
        self.messageBus = messageBus
        self.keyRing = keyRing
        self.services = services ?? [sessionStore, eventLog, messageBus]
    }

    /// The embedded default for one process.
    /// - Parameter keyRing: the key ring; defaults to one random key, which is fine for one process only.
    public static func inMemory(keyRing: any KeyRing = StaticKeyRing(keys: [.random()])) -> Backends {
        Backends(sessionStore: MemorySessionStore(), eventLog: MemoryEventLog(), messageBus: MemoryMessageBus(), keyRing: keyRing)
    }
}
