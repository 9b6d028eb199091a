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

/// The MCP protocol runtime: registered tools, resources and prompts, and the dispatch of requests to them.
///
/// It does no I/O of its own beyond the backend protocols; a transport (the HTTP edge in `MCPServerHTTP`) feeds it
/// parsed messages and writes what it returns. Register everything before serving; registering later is allowed and
/// announces `list_changed` to listeners.
///
/// As a `Service`, it waits for graceful shutdown and then drains: open `subscriptions/listen` streams end with a
/// final result so clients can reconnect elsewhere.
public final class MCPServer: Service, Sendable {
    struct RegisteredTool {
        var tool: Tool
        var handler: ToolHandler
        var headerParameters: [String: [String]]  // lower-cased header name -> property path
        /// The tool's input and output schemas, read once at registration.
        var input: CompiledSchema
        var output: CompiledSchema?
    }

    struct RegisteredResource {
        var resource: Resource
        var cache: CacheHint
        var handler: ResourceHandler
    }

    struct RegisteredTemplate {
        var template: ResourceTemplate
        var matcher: URITemplate
        var cache: CacheHint
        var handler: ResourceHandler
    }

    struct RegisteredPrompt {
        var prompt: Prompt
        var handler: PromptHandler
    }

    struct Registry {
        var tools: [RegisteredTool] = []
        var toolIndex: [String: Int] = [:]
        var resources: [RegisteredResource] = []
        var resourceIndex: [String: Int] = [:]
        var templates: [RegisteredTemplate] = []
        var prompts: [RegisteredPrompt] = []
        var promptIndex: [String: Int] = [:]
        var completions: [CompletionReference: [String: CompletionHandler]] = [:]
    }

    struct DrainState {
        var draining = false
        var nextID = 0
        /// What to do when draining begins: resume a waiter, end a listen stream.
        var handlers: [Int: @Sendable () -> Void] = [:]
    }

    /// The configuration.
    public let configuration: MCPServerConfiguration
    /// The shared state backends.
    public let backends: Backends
    /// The logger.
    public let logger: Logger
    let registry = Mutex(Registry())
    let drainState = Mutex(DrainState())
    let sealer: RequestStateSealer
    let serverInfo: JSONValue
    /// `{"io.modelcontextprotocol/serverInfo": serverInfo}`, the `_meta` of most results, built once.
    let serverInfoMeta: JSONValue
    let stats = Mutex(Statistics())
    let announcements = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
    let sessionIDs: SessionIDAuthority
    let pendingClientRequests = Mutex<[String: ResponseSlot]>([:])
    let clientRequestCounter = Mutex(0)
    /// Legacy handlers running on this replica: "sessionID|requestID" → cancel.
    let runningLegacyHandlers = Mutex<[String: @Sendable () -> Void]>([:])
    let jobState = Mutex(JobState())

    /// The legacy handlers this replica owns (see ``start(_:)``).
    struct JobState {
        var running = false
        var nextID: UInt64 = 0
        /// Handles of running jobs, to cancel them at the drain deadline (a job that finished while starting is
        /// never recorded).
        var tasks: [UInt64: Task<Void, Never>] = [:]
        /// Jobs started and not yet finished.
        var active = 0
    }

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
        self.sessionIDs = SessionIDAuthority(keyRing: backends.keyRing)
        var info: [String: JSONValue] = ["name": .string(configuration.name), "version": .string(configuration.version)]
        if let title = configuration.title { info["title"] = .string(title) }
        self.serverInfo = .object(info)
        self.serverInfoMeta = .object([MetaKey.serverInfo: .object(info)])
    }

    /// A snapshot of the runtime's counters.
    public var statistics: Statistics { stats.withLock { $0 } }

    // MARK: Registration

    /// Registers a tool. A tool of the same name is replaced.
    public func registerTool(_ tool: Tool, handler: @escaping ToolHandler) {
        let headers = Self.headerParameters(of: tool.inputSchema)
        let replaced = registry.withLock { r -> Bool in
            let entry = RegisteredTool(
                tool: tool, handler: handler, headerParameters: headers,
                input: CompiledSchema(tool.inputSchema), output: tool.outputSchema.map(CompiledSchema.init)
            )
            if let i = r.toolIndex[tool.name] {
                r.tools[i] = entry
                return true
            }
            r.toolIndex[tool.name] = r.tools.count
            r.tools.append(entry)
            return false
        }
        _ = replaced
        announceListChanged("tools")
    }

    /// Removes a tool and announces the change.
    public func removeTool(named name: String) {
        registry.withLock { r in
            guard r.toolIndex[name] != nil else { return }
            r.tools.removeAll { $0.tool.name == name }
            r.toolIndex = Dictionary(uniqueKeysWithValues: r.tools.enumerated().map { ($1.tool.name, $0) })
        }
        announceListChanged("tools")
    }

    /// Registers a resource with a fixed URI.
    /// - Parameters:
    ///   - resource: its definition.
    ///   - cache: the caching hint of its `resources/read` results.
    ///   - handler: produces its contents.
    public func registerResource(_ resource: Resource, cache: CacheHint = .noStore, handler: @escaping ResourceHandler) {
        registry.withLock { r in
            let entry = RegisteredResource(resource: resource, cache: cache, handler: handler)
            if let i = r.resourceIndex[resource.uri] {
                r.resources[i] = entry
            } else {
                r.resourceIndex[resource.uri] = r.resources.count
                r.resources.append(entry)
            }
        }
        announceListChanged("resources")
    }

    /// Registers a resource template; reads of matching URIs go to `handler` with the template variables.
    public func registerResourceTemplate(_ template: ResourceTemplate, cache: CacheHint = .noStore, handler: @escaping ResourceHandler) {
        guard let matcher = URITemplate(template.uriTemplate) else {
            preconditionFailure("invalid URI template \(template.uriTemplate)")
        }
        registry.withLock { r in
            r.templates.removeAll { $0.template.uriTemplate == template.uriTemplate }
            r.templates.append(RegisteredTemplate(template: template, matcher: matcher, cache: cache, handler: handler))
        }
        announceListChanged("resources")
    }

    /// Registers a prompt.
    public func registerPrompt(_ prompt: Prompt, handler: @escaping PromptHandler) {
        registry.withLock { r in
            let entry = RegisteredPrompt(prompt: prompt, handler: handler)
            if let i = r.promptIndex[prompt.name] {
                r.prompts[i] = entry
            } else {
                r.promptIndex[prompt.name] = r.prompts.count
                r.prompts.append(entry)
            }
        }
        announceListChanged("prompts")
    }

    /// Registers completions for one argument of a prompt or one variable of a resource template.
    public func registerCompletion(for reference: CompletionReference, argument: String, handler: @escaping CompletionHandler) {
        registry.withLock { r in r.completions[reference, default: [:]][argument] = handler }
    }

    /// The `x-mcp-header` annotations of an input schema: header name (lower-cased) to property path.
    static func headerParameters(of schema: JSONValue) -> [String: [String]] {
        var out: [String: [String]] = [:]
        func walk(_ node: JSONValue, _ path: [String], depth: Int) {
            guard depth < 16, let props = node["properties"]?.objectValue else { return }
            for (name, sub) in props {
                if let header = sub["x-mcp-header"]?.stringValue {
                    out[header.lowercased()] = path + [name]
                }
                walk(sub, path + [name], depth: depth + 1)
            }
        }
        walk(schema, [], depth: 0)
        return out
    }

    // MARK: Notifications

    static let toolsListChangedChannel = "mcp:list_changed:tools"
    static let resourcesListChangedChannel = "mcp:list_changed:resources"
    static let promptsListChangedChannel = "mcp:list_changed:prompts"
    static let resourceUpdatedChannel = "mcp:resources:updated"

    /// Publishes `notifications/resources/updated` for `uri` to every subscriber, on every replica.
    public func notifyResourceUpdated(uri: String) async throws {
        let payload = JSONWriter.encode(["uri": .string(uri)])
        try await backends.messageBus.publish(payload, to: Self.resourceUpdatedChannel)
    }

    /// Publishes `notifications/<kind>/list_changed` (kind: `tools`, `resources` or `prompts`) on every replica.
    public func notifyListChanged(_ kind: String) async throws {
        try await backends.messageBus.publish([], to: "mcp:list_changed:\(kind)")
    }

    private func announceListChanged(_ kind: String) {
        // Published by `run()`, so registration stays synchronous and no task outlives its owner.
        announcements.continuation.yield(kind)
    }

    // MARK: Lifecycle

    /// Runs the work this replica owns until graceful shutdown, then drains: open listen streams end with a final
    /// result, new legacy work is refused, and in-flight legacy handlers get ``MCPServerConfiguration/drainTimeout``
    /// to finish before they are cancelled.
    public func run() async throws {
        let bus = backends.messageBus
        let logger = self.logger
        jobState.withLock { $0.running = true }
        defer { jobState.withLock { $0.running = false } }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        for await kind in self.announcements.stream {
                            do { try await bus.publish([], to: "mcp:list_changed:\(kind)") } catch {
                                logger.debug("list_changed publish failed", metadata: ["mcp.error": "\(error)"])
                            }
                        }
                    }
                }
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        do { try await self.serveRelays() } catch {
                            logger.error("relay subscription ended", metadata: ["mcp.error": "\(error)"])
                        }
                    }
                }
                // Serving until graceful shutdown (or cancellation); then new legacy work is refused.
                await self.waitForDrain()
                self.beginDraining()
                // Draining: give in-flight work a deadline.
                let deadline = ContinuousClock.now + self.configuration.drainTimeout
                group.addTask {
                    do {
                        while self.jobState.withLock({ $0.active }) > 0 {
                            if ContinuousClock.now >= deadline { throw DrainDeadline() }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    } catch {
                        self.cancelJobs()
                        throw error
                    }
                }
            }
        } catch is DrainDeadline {
            logger.debug("drain deadline reached; in-flight handlers were cancelled")
        } catch {
            cancelJobs()
            await awaitJobs()
            throw error
        }
        await awaitJobs()
        beginDraining()
    }

    struct DrainDeadline: Error {}

    /// Starts `job` at once, on the calling thread until its first suspension (`Task.immediate`), as work this server
    /// owns: it outlives the HTTP request that started it (legacy handlers keep running when the client
    /// disconnects), ``run()`` waits for it while draining, and cancels it at the drain deadline. A job that finishes
    /// without suspending costs no thread hop.
    /// - Returns: `false` if the server is not running or is draining; the caller then runs the work itself.
    package func start(_ job: @escaping @Sendable () async -> Void) -> Bool {
        let id = jobState.withLock { s -> UInt64? in
            guard s.running, !self.isDraining else { return nil }
            s.nextID += 1
            s.active += 1
            return s.nextID
        }
        guard let id else { return false }
        let finished = HandlerFinished()
        let task = Task.immediate {
            await job()
            // The flag goes up before the lock: a start that takes the lock later sees it and records nothing.
            finished.flag.store(true, ordering: .releasing)
            self.jobState.withLock { s in
                s.active -= 1
                s.tasks.removeValue(forKey: id)
            }
        }
        if !finished.flag.load(ordering: .acquiring) {
            jobState.withLock { s in
                if !finished.flag.load(ordering: .acquiring) { s.tasks[id] = task }
            }
        }
        return true
    }

    /// Cancels every job this server owns.
    func cancelJobs() {
        for task in jobState.withLock({ Array($0.tasks.values) }) { task.cancel() }
    }

    /// Waits until every job this server owns has ended.
    func awaitJobs() async {
        for task in jobState.withLock({ Array($0.tasks.values) }) { await task.value }
    }

    /// Ends every open `subscriptions/listen` stream with a final result and refuses new ones.
    public func beginDraining() {
        let handlers = drainState.withLock { s -> [@Sendable () -> Void] in
            s.draining = true
            let h = Array(s.handlers.values)
            s.handlers = [:]
            return h
        }
        for handler in handlers { handler() }
    }

    /// Registers `handler` to run once when draining begins, or runs it at once if it has.
    /// - Returns: the id for ``removeDrainHandler(_:)``, or `nil` when it already ran.
    func onDrain(_ handler: @escaping @Sendable () -> Void) -> Int? {
        let id = drainState.withLock { s -> Int? in
            guard !s.draining else { return nil }
            s.nextID += 1
            s.handlers[s.nextID] = handler
            return s.nextID
        }
        if id == nil { handler() }
        return id
    }

    /// Removes a handler that ``onDrain(_:)`` registered, if it has not run.
    /// - Returns: the handler, when it was still registered.
    @discardableResult
    func removeDrainHandler(_ id: Int?) -> (@Sendable () -> Void)? {
        guard let id else { return nil }
        return drainState.withLock { $0.handlers.removeValue(forKey: id) }
    }

    /// Whether the server is draining.
    public var isDraining: Bool { drainState.withLock { $0.draining } }

    /// Returns when the server starts draining, or when the calling task is cancelled.
    package func waitForDrain() async {
        // Requests run under the HTTP server's service, which is told to shut down before this one: drain then too.
        await withGracefulShutdownHandler {
            await self.waitForDrainSignal()
        } onGracefulShutdown: {
            self.beginDraining()
        }
    }

    private func waitForDrainSignal() async {
        let id = Mutex<Int?>(nil)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                // Checked under the lock that the cancellation handler takes, so a cancel is never missed.
                let cancelled = id.withLock { id -> Bool in
                    guard !Task.isCancelled else { return true }
                    id = onDrain { c.resume() }
                    return false
                }
                if cancelled { c.resume() }
            }
        } onCancel: {
            // Once registered, the handler runs exactly once: here, or when draining begins.
            id.withLock { removeDrainHandler($0) }?()
        }
    }
}
