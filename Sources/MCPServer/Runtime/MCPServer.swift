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
    let sessions: Sessions
    let streams: SessionStreams
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
        self.relay = Relay(
            replicaID: configuration.replicaID, backends: backends, answerClaimTTL: configuration.clientRequestTimeout * 2, logger: logger
        )
        self.sessions = Sessions(store: backends.sessionStore, ids: SessionIDAuthority(keyRing: backends.keyRing), ttl: configuration.sessionTTL)
        self.streams = SessionStreams(backends: backends, sessions: sessions, supervisor: supervisor, logger: logger, lockTTL: .seconds(60))
        self.handlerRuntime = HandlerRuntime(backends: backends, sessions: sessions, supervisor: supervisor, replicaID: configuration.replicaID)
        var info: [String: JSONValue] = ["name": .string(configuration.name), "version": .string(configuration.version)]
        if let title = configuration.title { info["title"] = .string(title) }
        self.serverInfo = .object(info)
        self.serverInfoMeta = .object([MetaKey.serverInfo: .object(info)])
    }

    /// A snapshot of the runtime's counters.
    public var statistics: Statistics { supervisor.statistics.withLock { $0 } }

    // MARK: Registration

    /// Registers a tool. A tool of the same name is replaced.
    public func registerTool(_ tool: Tool, handler: @escaping ToolHandler) {
        registry.add(tool, handler: handler)
        announceListChanged(.tools)
    }

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
        try await backends.messageBus.publish(ClusterWire.Payload.resourceUpdated(uri: uri), to: ClusterWire.Channel.resourceUpdated)
    }

    /// Publishes `notifications/<kind>/list_changed` on every replica.
    public func notifyListChanged(_ kind: ListKind) async throws {
        try await backends.messageBus.publish([], to: ClusterWire.Channel.listChanged(kind))
    }

    private func announceListChanged(_ kind: ListKind) {
        // Published by `run()`, so registration stays synchronous and no task outlives its owner.
        announcements.continuation.yield(kind)
    }

    // MARK: Lifecycle

    /// Runs the work this replica owns until graceful shutdown, then drains: open listen streams end with a final
    /// result, new session work is refused, and in-flight session handlers get
    /// ``MCPServerConfiguration/drainTimeout`` to finish before they are cancelled.
    public func run() async throws {
        let logger = self.logger
        supervisor.setRunning(true)
        defer { supervisor.setRunning(false) }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        for await kind in self.announcements.stream {
                            do { try await self.notifyListChanged(kind) } catch {
                                logger.debug("list_changed publish failed", metadata: ["mcp.error": "\(error)"])
                            }
                        }
                    }
                }
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        do { try await self.relay.serve() } catch {
                            logger.error("relay subscription ended", metadata: ["mcp.error": "\(error)"])
                        }
                    }
                }
                // Serving until graceful shutdown (or cancellation); then new session work is refused.
                await self.supervisor.waitForDrain()
                self.supervisor.beginDraining()
                // Draining: give in-flight work a deadline.
                if await self.supervisor.drainJobs(until: .now + self.configuration.drainTimeout) {
                    logger.debug("drain deadline reached; in-flight handlers were cancelled")
                }
                // The announcement and relay loops end with graceful shutdown (or cancellation), not with the drain: a
                // drain begun by `beginDraining()` leaves the service running.
            }
        } catch {
            supervisor.cancelJobs()
            await supervisor.awaitJobs()
            throw error
        }
        await supervisor.awaitJobs()
        supervisor.beginDraining()
    }

    /// Ends every open `subscriptions/listen` stream with a final result, and refuses new streams and new session
    /// work. ``run()`` does this on graceful shutdown.
    public func beginDraining() {
        supervisor.beginDraining()
    }

    /// Whether the server is draining.
    public var isDraining: Bool { supervisor.isDraining }

    /// Whether this replica can serve: not draining, and its shared store answers.
    package func readiness() async -> Readiness {
        if isDraining { return .draining }
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
