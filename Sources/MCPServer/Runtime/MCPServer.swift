//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging
public import ServiceLifecycle
import Synchronization

/// Handles `tools/call` for one tool.
/// - Parameters:
///   - arguments: the call's arguments, already checked against the tool's input schema.
///   - context: the request context.
public typealias ToolHandler = @Sendable (_ arguments: [String: JSONValue], _ context: HandlerContext) async throws -> CallToolResult

/// Handles `resources/read` for one resource or template.
/// - Parameters:
///   - uri: the requested URI.
///   - variables: the template variables (empty for a plain resource).
///   - context: the request context.
public typealias ResourceHandler =
    @Sendable (_ uri: String, _ variables: [String: String], _ context: HandlerContext) async throws -> [ResourceContents]

/// Handles `prompts/get` for one prompt.
public typealias PromptHandler = @Sendable (_ arguments: [String: String], _ context: HandlerContext) async throws -> GetPromptResult

/// Produces completion values for one argument.
/// - Parameters:
///   - value: what the user typed so far.
///   - arguments: previously resolved arguments (`context.arguments`).
public typealias CompletionHandler = @Sendable (_ value: String, _ arguments: [String: String]) async throws -> Completion

/// What a completion is for: a prompt or a resource template.
public struct CompletionReference: Sendable, Hashable {
    enum Kind: Hashable { case prompt, resourceTemplate }
    let kind: Kind
    let name: String

    /// An argument of the prompt named `name`.
    public static func prompt(_ name: String) -> CompletionReference { CompletionReference(kind: .prompt, name: name) }
    /// A variable of the resource template `uriTemplate`.
    public static func resourceTemplate(_ uriTemplate: String) -> CompletionReference {
        CompletionReference(kind: .resourceTemplate, name: uriTemplate)
    }
}

/// The MCP protocol runtime: what an embedder registers (tools, resources, prompts, completions), configures and runs.
///
/// A transport (the HTTP edge in `MCPServerHTTP`) hands it each request as one HTTP-independent description and
/// writes the one reply it gets back (``respond(to:)``). Behind that call the work is split along the state each
/// part owns:
/// - ``Registry``: what is registered;
/// - dispatch (`MCPServer+Dispatch.swift`): methods to handlers, MRTR rounds, results;
/// - ``Sessions`` and ``SessionStreams``: the 2025-era sessions and their SSE streams, all in the backends;
/// - ``Relay``: answers and cancellations between replicas, over the bus;
/// - ``Supervisor``: the jobs this replica runs, and the drain.
///
/// The runtime does no I/O of its own beyond the backend protocols. Register everything before serving; registering
/// later is allowed and announces `list_changed` to listeners.
///
/// As a `Service`, it waits for graceful shutdown and then drains: open `subscriptions/listen` streams end with a
/// final result so clients can reconnect elsewhere, and in-flight session handlers get a deadline.
public final class MCPServer: Service, Sendable {
    /// The configuration.
    public let configuration: MCPServerConfiguration
    /// The logger.
    public let logger: Logger
    /// The shared state backends.
    package let backends: Backends
    let registry = Registry()
    let supervisor = Supervisor()
    let relay: Relay
    let notifier: Notifier
    let leases: Leases
    let sessions: Sessions
    let streams: SessionStreams
    let messageStreams: MessageStreams
    let sealer: RequestStateSealer
    let handlerRuntime: HandlerRuntime
    let serverInfo: JSONValue
    /// `{"io.modelcontextprotocol/serverInfo": serverInfo}`, the `_meta` of most results, built once.
    let serverInfoMeta: JSONValue
    let announcements = AsyncStream<ListKind>.makeStream(bufferingPolicy: .bufferingNewest(64))

    /// Counters of what the runtime did; for tests and diagnostics.
    public struct Statistics: Sendable, Hashable {
        /// Handlers currently running.
        public var activeHandlers = 0
        /// Handlers that ended because their request was cancelled.
        public var cancelledHandlers = 0
        /// Open `subscriptions/listen` streams.
        public var openListenStreams = 0
    }

    /// Creates a server.
    /// - Parameters:
    ///   - configuration: identity and pacing.
    ///   - backends: shared state; ``Backends/inMemory(keyRing:)`` for one process.
    ///   - logger: the logger; defaults to one that discards everything.
    public init(
        configuration: MCPServerConfiguration,
        backends: Backends,
        logger: Logger = Logger(label: "mcp.server", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.configuration = configuration
        self.backends = backends
        self.logger = logger
        self.sealer = RequestStateSealer(keyRing: backends.keyRing, lifetime: configuration.requestStateLifetime)
        let leases = Leases(store: backends.sessionStore, replicaID: configuration.replicaID, period: configuration.replicaLease, logger: logger)
        self.leases = leases
        self.relay = Relay(
            replicaID: configuration.replicaID, backends: backends, answerClaimTTL: configuration.clientRequestTimeout * 2, logger: logger,
            leases: leases
        )
        self.notifier = Notifier(backends: backends, logger: logger)
        self.sessions = Sessions(store: backends.sessionStore, ids: SessionIDAuthority(keyRing: backends.keyRing), ttl: configuration.sessionTTL)
        self.streams = SessionStreams(
            backends: backends, sessions: sessions, supervisor: supervisor, leases: leases, notifier: notifier, logger: logger,
            lockTTL: .seconds(60), retention: configuration.eventRetention
        )
        self.messageStreams = MessageStreams(
            backends: backends, sessions: sessions, supervisor: supervisor, leases: leases, notifier: notifier, relay: relay, logger: logger,
            drainTimeout: configuration.drainTimeout
        )
        self.handlerRuntime = HandlerRuntime(
            backends: backends, sessions: sessions, supervisor: supervisor, notifier: notifier, replicaID: configuration.replicaID
        )
        var info: [String: JSONValue] = ["name": .string(configuration.name), "version": .string(configuration.version)]
        if let title = configuration.title { info["title"] = .string(title) }
        self.serverInfo = .object(info)
        self.serverInfoMeta = .object([MetaKey.serverInfo: .object(info)])
    }

    /// A snapshot of the runtime's counters.
    public var statistics: Statistics { supervisor.statistics.withLock { $0 } }

    // MARK: Registration

    /// Registers a tool. A tool of the same name is replaced.
    /// - Parameters:
    ///   - tool: its definition.
    ///   - scopes: the OAuth scopes a caller needs to call it. A caller whose ``Principal/scopes`` lack one gets `403`
    ///     with an `insufficient_scope` challenge; a caller with no scope information (no authorization configured)
    ///     is not checked.
    ///   - handler: runs a call.
    public func registerTool(_ tool: Tool, scopes: [String] = [], handler: @escaping ToolHandler) {
        registry.add(tool, scopes: scopes, handler: handler)
        announceListChanged(.tools)
    }

    /// Every scope a registered tool needs: for the `scopes_supported` of protected resource metadata.
    public var toolScopes: [String] { registry.toolScopes() }

    /// Removes a tool and announces the change.
    public func removeTool(named name: String) {
        registry.removeTool(named: name)
        announceListChanged(.tools)
    }

    /// Registers a resource with a fixed URI.
    /// - Parameters:
    ///   - resource: its definition.
    ///   - cache: the caching hint of its `resources/read` results.
    ///   - handler: produces its contents.
    public func registerResource(_ resource: Resource, cache: CacheHint = .noStore, handler: @escaping ResourceHandler) {
        registry.add(resource, cache: cache, handler: handler)
        announceListChanged(.resources)
    }

    /// Registers a resource template; reads of matching URIs go to `handler` with the template variables.
    public func registerResourceTemplate(_ template: ResourceTemplate, cache: CacheHint = .noStore, handler: @escaping ResourceHandler) {
        guard let matcher = URITemplate(template.uriTemplate) else {
            preconditionFailure("invalid URI template \(template.uriTemplate)")
        }
        registry.add(template, matcher: matcher, cache: cache, handler: handler)
        announceListChanged(.resources)
    }

    /// Registers a prompt.
    public func registerPrompt(_ prompt: Prompt, handler: @escaping PromptHandler) {
        registry.add(prompt, handler: handler)
        announceListChanged(.prompts)
    }

    /// Registers completions for one argument of a prompt or one variable of a resource template.
    public func registerCompletion(for reference: CompletionReference, argument: String, handler: @escaping CompletionHandler) {
        registry.addCompletion(for: reference, argument: argument, handler: handler)
    }

    // MARK: Notifications

    /// Publishes `notifications/resources/updated` for `uri` to every subscriber, on every replica.
    public func notifyResourceUpdated(uri: String) async throws {
        try await notifier.resourceUpdated(uri: uri)
    }

    /// Publishes `notifications/<kind>/list_changed` on every replica.
    public func notifyListChanged(_ kind: ListKind) async throws {
        try await notifier.listChanged(kind)
    }

    private func announceListChanged(_ kind: ListKind) {
        // Published by `run()`, so registration stays synchronous and no task outlives its owner.
        announcements.continuation.yield(kind)
    }

    // MARK: Lifecycle

    /// Runs the work this replica owns until graceful shutdown (SIGTERM, in a `ServiceGroup`), then shuts down in
    /// order:
    /// 1. readiness fails at once (``isShuttingDown``), and for ``MCPServerConfiguration/drainDelay`` the replica
    ///    keeps serving while transports close each connection after its response;
    /// 2. the drain begins: listen streams end with their final result, session streams close so that clients resume
    ///    on another replica, and new session work runs inside its own request;
    /// 3. in-flight session handlers get ``MCPServerConfiguration/drainTimeout``; past it they are cancelled, and
    ///    each one's final answer is `-32010` with reason `drain_deadline`;
    /// 4. the replica's lease is released and `run()` returns; the HTTP server, shut down after it, stops accepting.
    ///
    /// All along, the replica holds its lease in the store and serves the relays that carry answers to its
    /// handlers. A drain begun by ``beginDraining()`` alone leaves the service running until graceful shutdown.
    public func run() async throws {
        let logger = self.logger
        let leases = self.leases
        supervisor.setRunning(true)
        defer { supervisor.setRunning(false) }
        do {
            try await leases.renew()
        } catch {
            logger.warning("could not take the replica lease; retrying on the heartbeat", metadata: ["mcp.error": "\(error)"])
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await leases.hold() }
            group.addTask {
                await cancelWhenGracefulShutdown {
                    for await kind in self.announcements.stream {
                        do { try await self.notifyListChanged(kind) } catch {
                            logger.debug("list_changed publish failed", metadata: ["mcp.error": "\(error)"])
                        }
                    }
                }
            }
            // The relays carry answers to handlers that run here: they serve until the drain is over.
            group.addTask { await self.relay.serveUntilCancelled() }
            // Tasks of replicas that died are moved on even when nobody reads them.
            group.addTask { await self.sweepTasks() }
            let shutdown = await self.waitForShutdown()
            if shutdown {
                self.supervisor.beginShutdown()
                if self.configuration.drainDelay > .zero {
                    logger.debug("shutting down: draining after the drain delay", metadata: ["mcp.drain.delay": "\(self.configuration.drainDelay)"])
                    try? await Task.sleep(for: self.configuration.drainDelay)
                }
            }
            self.supervisor.beginDraining()
            if await self.supervisor.drainJobs(until: .now + self.configuration.drainTimeout) {
                logger.info("drain deadline reached; in-flight handlers were cancelled")
                // Cancelled handlers answer -32010 (drain_deadline) as they end; one that ignores cancellation is not
                // waited for long: once the lease is gone, another replica ends its stream with replica_lost.
                await self.supervisor.awaitJobs(atMost: .seconds(2))
            }
            // A drain begun by `beginDraining()` leaves the service running until graceful shutdown or cancellation.
            if !shutdown { try? await gracefulShutdown() }
            group.cancelAll()
        }
        // The heartbeat has stopped with the group: the lease goes now, and is not written again.
        await leases.release()
        supervisor.cancelJobs()
    }

    /// Waits for graceful shutdown (`true`), or for a drain begun otherwise, or for cancellation (`false`).
    private func waitForShutdown() async -> Bool {
        let (requests, request) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        return await withGracefulShutdownHandler {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in requests { return true }
                    return false
                }
                group.addTask {
                    await self.supervisor.waitForDrainSignal()
                    return false
                }
                let shutdown = await group.next() ?? false
                group.cancelAll()
                return shutdown && !Task.isCancelled
            }
        } onGracefulShutdown: {
            request.yield()
        }
    }

    /// Ends every open `subscriptions/listen` stream with a final result, and refuses new streams and new session
    /// work. ``run()`` does this on graceful shutdown.
    public func beginDraining() {
        supervisor.beginDraining()
    }

    /// Whether the server is draining.
    public var isDraining: Bool { supervisor.isDraining }

    /// Whether shutdown has begun (the drain delay or the drain): transports close each connection after its
    /// response, so that clients and balancers move to other replicas at a response boundary.
    public var isShuttingDown: Bool { supervisor.isShuttingDown }

    /// Whether this replica can serve: not shutting down, and its shared store answers.
    package func readiness() async -> Readiness {
        if isShuttingDown { return .draining }
        do {
            _ = try await backends.sessionStore.get(ClusterWire.Key.readinessProbe)
            return .ready
        } catch {
            return .storeUnavailable
        }
    }

    /// What ``readiness()`` found.
    package enum Readiness: Sendable {
        case ready
        case draining
        case storeUnavailable
    }
}
