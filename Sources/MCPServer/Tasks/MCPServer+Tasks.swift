//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

/// Tasks (the 2026-07-28 `io.modelcontextprotocol/tasks` extension): a `tools/call` answered with a durable handle
/// while the tool runs as work its replica owns. The task lives in the shared store (`mcp:task:<id>`), changed only by
/// compare-and-set, so any replica serves `tasks/get`, `tasks/update` and `tasks/cancel`; every change is published on
/// the task's bus channel, which wakes the running handler (answers, cancellation) and feeds `notifications/tasks` to
/// listen streams on any replica. A task whose replica died is moved on by whichever replica notices first.
extension MCPServer {
    /// The extension's identifier.
    static let tasksExtension = "io.modelcontextprotocol/tasks"
    /// The methods of the extension.
    static let taskMethods: Set<String> = ["tasks/get", "tasks/update", "tasks/cancel"]
    /// How long a task is kept after it is created (`ttlMs`).
    static let taskTTL = Duration.seconds(3600)
    /// The polling interval suggested to clients (`pollIntervalMs`).
    static let taskPollInterval = Duration.milliseconds(500)
    /// How many times a re-runnable task is started at most (the first run and the takeovers).
    static let taskMaximumAttempts = 3

    /// Whether the request declares the tasks extension in its own capabilities.
    static func declaresTasks(_ meta: RequestMeta) -> Bool { meta.hasCapability("extensions", tasksExtension) }

    /// The `-32021` of a request that needs the extension.
    static var tasksCapabilityMissing: JSONRPCError {
        .missingRequiredClientCapability(["extensions": [tasksExtension: [:]]], detail: "the \(tasksExtension) extension")
    }

    /// Runs `body`, turning a failure of the store (anything but a protocol error or a cancellation) into the `503`
    /// with `Retry-After` that tells a client to try again shortly.
    func storeFailuresRefused(_ body: () async throws -> JSONValue) async throws -> JSONValue {
        do {
            return try await body()
        } catch let error as JSONRPCError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.warning("the shared store failed while serving a task request", metadata: ["mcp.error": "\(error)"])
            throw Refusal.storeUnavailable
        }
    }

    /// ``updateTask(_:_:)``, tried again while the store fails, for up to `limit`: what a running task records must
    /// not be lost to a store that is away for a moment.
    @discardableResult
    func updateTaskRiding(_ id: String, for limit: Duration = .seconds(60), _ mutate: (inout TaskRecord) -> Bool) async throws -> TaskRecord? {
        try await retryingStoreFailures(for: limit) { _ in try await updateTask(id, mutate) }
    }

    // MARK: Creating and running

    /// The `CreateTaskResult` of a 2026-07-28 `tools/call` (``createTask(tool:arguments:request:meta:)``).
    func createTaskResult(
        tool entry: Registry.RegisteredTool, arguments: [String: JSONValue], request: IncomingRequest, meta: RequestMeta
    ) async throws -> JSONValue {
        let record = try await createTask(tool: entry, arguments: arguments, request: request, meta: meta)
        var fields = record.detailed
        fields["resultType"] = "task"
        fields["_meta"] = serverInfoMeta
        return .object(fields)
    }

    /// Creates the task of a `tools/call` (durably, before its `CreateTaskResult` goes out) and starts running it.
    func createTask(
        tool entry: Registry.RegisteredTool, arguments: [String: JSONValue], request: IncomingRequest, meta: RequestMeta
    ) async throws -> TaskRecord {
        let now = WallClock.system.millis()
        let record = TaskRecord(
            id: "t" + StreamKey.random() + StreamKey.random(),
            principal: request.principal.id,
            createdAt: now,
            ttlMs: Self.taskTTL.wholeMilliseconds,
            pollIntervalMs: Self.taskPollInterval.wholeMilliseconds,
            replica: configuration.replicaID,
            incarnation: leases.incarnation,
            tool: entry.tool.name,
            arguments: .object(arguments),
            clientCapabilities: meta.clientCapabilities
        )
        guard try await backends.sessionStore.create(ClusterWire.Key.task(record.id), value: record.json, ttl: Self.taskTTL) != nil else {
            throw JSONRPCError.internalError("could not create the task")
        }
        try await changeIDList(ClusterWire.Key.activeTasks, adding: [record.id], limit: Self.activeTasksLimit)
        start(record, handler: entry.handler, meta: meta)
        return record
    }

    /// Runs a task's handler as work this replica owns; a replica that is draining fails it at once with `-32010`.
    func start(_ record: TaskRecord, handler: @escaping ToolHandler, meta: RequestMeta) {
        let id = record.id
        let rerunnable = registry.tool(named: record.tool)?.tool.taskSupport.rerunnable ?? false
        let principal = Principal(id: record.principal)
        let arguments = record.arguments.objectValue ?? [:]
        let started = supervisor.start { [self] in
            await runTask(id: id, principal: principal, arguments: arguments, meta: meta, rerunnable: rerunnable, handler: handler)
        }
        if !started {
            Task.immediate { [self] in
                _ = try? await finishTask(id, .failure(.replicaStopped(.drainDeadline, replica: configuration.replicaID)))
            }
        }
    }

    enum TaskOutcome: Sendable {
        case result(JSONValue)
        case failure(JSONRPCError)
        case cancelled
        /// This run ended without an outcome: its task belongs to another replica now, or the drain cut it.
        case abandoned
    }

    func runTask(
        id: String, principal: Principal, arguments: [String: JSONValue], meta: RequestMeta, rerunnable: Bool, handler: @escaping ToolHandler
    ) async {
        let context = HandlerContext(
            requestID: .string(id),
            method: "tools/call",
            principal: principal,
            meta: meta,
            logger: logger,
            sink: TaskSink(server: self, taskID: id),
            inputChannel: TaskInputs(server: self, taskID: id),
            runtime: handlerRuntime,
            session: nil
        )
        let outcome = await withTaskGroup(of: TaskOutcome?.self) { group -> TaskOutcome in
            group.addTask {
                do {
                    let result = try await handler(arguments, context)
                    return .result(self.completeResult(result.fields))
                } catch let error as JSONRPCError {
                    return .failure(error)
                } catch is CancellationError {
                    return nil
                } catch {
                    return .result(self.completeResult(CallToolResult.error("Tool failed: \(error)").fields))
                }
            }
            group.addTask {
                // A cancellation asked on any replica (published on the task's channel, and kept in the record), or
                // the task taken over by another replica (this one was thought dead): either way this run ends.
                let (replica, incarnation) = (self.configuration.replicaID, self.leases.incarnation)
                while !Task.isCancelled {
                    do {
                        // A store or bus that fails for a moment is waited out: it must not end the run.
                        guard let seen = try await self.awaitTask(id, until: {
                            $0.cancelRequested || $0.isTerminal || $0.replica != replica || $0.incarnation != incarnation
                        }) else { return .abandoned }  // the task is gone (expired, or a store that lost it)
                        return seen.cancelRequested ? .cancelled : .abandoned
                    } catch {
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            // nil: the job itself was cancelled, by the drain deadline.
            return first ?? .abandoned
        }
        let finalOutcome: TaskOutcome
        switch outcome {
        case .abandoned where supervisor.isDraining || Task.isCancelled:
            // Cut by the drain: a tool that may run again is left to the replica that notices this one gone (its
            // lease ends with the process); any other fails with -32010.
            guard !rerunnable else {
                logger.info("left a task to another replica at the drain deadline", metadata: ["mcp.task": "\(id)"])
                return
            }
            finalOutcome = .failure(.replicaStopped(.drainDeadline, replica: configuration.replicaID))
        case .abandoned:
            return
        default:
            finalOutcome = outcome
        }
        do {
            // In a task of its own: the end is recorded even when this job was cancelled by the drain deadline.
            _ = try await Task { try await self.finishTask(id, finalOutcome, riding: .seconds(300)) }.value
        } catch {
            logger.error("could not record the end of a task", metadata: ["mcp.task": "\(id)", "mcp.error": "\(error)"])
        }
    }

    /// Moves a task to its terminal state once (nothing changes a terminal task), if this run of this replica still
    /// owns it.
    func finishTask(_ id: String, _ outcome: TaskOutcome, riding limit: Duration = .zero) async throws -> TaskRecord? {
        try await updateTaskRiding(id, for: limit) { record in
            guard !record.isTerminal, runs(record) else { return false }
            switch outcome {
            case .result(let result):
                record.status = .completed
                var r = result.objectValue ?? [:]
                r["resultType"] = nil
                r["_meta"] = nil
                record.result = .object(r)
            case .failure(let error):
                record.status = .failed
                record.error = error.json
                record.statusMessage = error.message
            case .cancelled:
                record.status = .cancelled
            case .abandoned:
                return false
            }
            record.inputRequests = [:]
            record.answers = [:]
            return true
        }
    }

    /// Whether this run of this replica runs `record` (a replica thought dead may still be running a task that another
    /// took over: it must change nothing).
    func runs(_ record: TaskRecord) -> Bool {
        record.replica == configuration.replicaID && record.incarnation == leases.incarnation
    }

    // MARK: The store

    func loadTask(_ id: String) async throws -> TaskRecord? {
        guard let stored = try await backends.sessionStore.get(ClusterWire.Key.task(id)) else { return nil }
        return TaskRecord(json: stored.value)
    }

    /// Changes a task by compare-and-set; `mutate` returns `false` to leave it as it is. Every change is published on
    /// the task's channel (the full task, for `notifications/tasks`, with its principal).
    /// - Returns: the task after the change (or as it was), `nil` if it does not exist.
    @discardableResult
    func updateTask(_ id: String, _ mutate: (inout TaskRecord) -> Bool) async throws -> TaskRecord? {
        let store = backends.sessionStore
        for _ in 0..<64 {
            guard let stored = try await store.get(ClusterWire.Key.task(id)), var record = TaskRecord(json: stored.value) else { return nil }
            guard mutate(&record) else { return record }
            record.lastUpdatedAt = max(WallClock.system.millis(), record.lastUpdatedAt)
            let remaining = Duration.milliseconds(max(1000, record.createdAt + record.ttlMs - record.lastUpdatedAt))
            if try await store.compareAndSet(ClusterWire.Key.task(id), value: record.json, expectedVersion: stored.version, ttl: remaining) != nil {
                try? await backends.messageBus.publish(
                    JSONWriter.encode(["p": .string(record.principal), "t": .object(record.detailed)]),
                    to: ClusterWire.Channel.task(id)
                )
                return record
            }
        }
        throw JSONRPCError.internalError("the task changed too often to be updated")
    }

    /// Waits until the task satisfies `condition` (read again on every message on its channel, and every second in
    /// case a message was lost), and returns it; `nil` if it disappears.
    func awaitTask(_ id: String, until condition: @escaping @Sendable (TaskRecord) -> Bool) async throws -> TaskRecord? {
        let (wakeups, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        return try await backends.messageBus.subscribe(
            to: [ClusterWire.Channel.task(id)],
            deliver: { _ in continuation.yield() },
            onEnd: { continuation.yield() }
        ) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(1))
                        continuation.yield()
                    }
                }
                defer { group.cancelAll() }
                continuation.yield()
                for await _ in wakeups {
                    try Task.checkCancellation()
                    let record: TaskRecord?
                    do { record = try await self.loadTask(id) } catch { continue }  // the store is away: the next tick
                    guard let record else { return nil }
                    if condition(record) { return record }
                }
                return nil
            }
        }
    }

    // MARK: Methods

    /// The caller's task `id`, moved on first if its replica died. Another principal's task is the same error as one
    /// that does not exist: no oracle.
    func ownedTask(_ id: String, principal: String) async throws -> TaskRecord {
        guard let record = try await loadTask(id), record.principal == principal else {
            throw JSONRPCError.invalidParams("Failed to retrieve task: Task not found")
        }
        if !record.isTerminal, let moved = try await takeOverIfLost(record) { return moved }
        return record
    }

    /// `tasks/get`, `tasks/update` and `tasks/cancel`.
    func taskMethod(_ request: IncomingRequest, meta: RequestMeta) async throws -> JSONValue {
        guard Self.declaresTasks(meta) else { throw Self.tasksCapabilityMissing }
        guard case .string(let id)? = request.params["taskId"] else { throw JSONRPCError.invalidParams("taskId must be a string") }
        let record = try await ownedTask(id, principal: request.principal.id)
        switch request.method {
        case "tasks/get":
            return completeResult(record.detailed)
        case "tasks/update":
            guard case .object(let responses)? = request.params["inputResponses"] else {
                throw JSONRPCError.invalidParams("inputResponses must be an object")
            }
            for (key, value) in responses {
                guard case .object = value else { throw JSONRPCError.invalidParams("inputResponses.\(key) must be an object") }
            }
            // Answers to keys that are not outstanding are ignored, as the extension asks.
            try await updateTask(id) { record in
                var changed = false
                for (key, value) in responses where record.answer(key, with: value) { changed = true }
                return changed
            }
            return completeResult([:])
        default:  // tasks/cancel
            try await updateTask(id) { record in
                guard !record.isTerminal, !record.cancelRequested else { return false }
                record.cancelRequested = true
                return true
            }
            return completeResult([:])
        }
    }

    // MARK: Replica loss

    /// How many running tasks the sweep watches at most (the oldest beyond are left to be moved on when read).
    static let activeTasksLimit = 10_000

    /// Adds ids to, and removes ids from, a list of task ids in the store (compare-and-set), keeping the newest `limit`.
    func changeIDList(_ key: String, adding: [String] = [], removing: Set<String> = [], limit: Int) async throws {
        let store = backends.sessionStore
        for _ in 0..<64 {
            let current = try await store.get(key)
            var ids = (current?.value.arrayValue ?? []).compactMap(\.stringValue).filter { !removing.contains($0) }
            ids.append(contentsOf: adding)
            if ids.count > limit { ids.removeFirst(ids.count - limit) }
            let value = JSONValue.array(ids.map { .string($0) })
            if let current {
                if try await store.compareAndSet(key, value: value, expectedVersion: current.version, ttl: Self.taskTTL) != nil { return }
            } else if try await store.create(key, value: value, ttl: Self.taskTTL) != nil {
                return
            }
        }
        throw JSONRPCError.internalError("the task list \(key) changed too often to be updated")
    }

    /// Once a lease period, while it may judge other replicas: moves on every listed task whose replica died (as a read
    /// would, exactly once), and drops the tasks that ended or expired from the list. Every replica sweeps; the
    /// compare-and-set on each task makes the takeovers exactly once.
    func sweepTasks() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: leases.period)
            guard leases.mayJudgeOthers, !isDraining else { continue }
            do {
                let ids = (try await backends.sessionStore.get(ClusterWire.Key.activeTasks)?.value.arrayValue ?? []).compactMap(\.stringValue)
                var ended: Set<String> = []
                for id in ids {
                    guard let record = try await loadTask(id), !record.isTerminal else {
                        ended.insert(id)
                        continue
                    }
                    _ = try await takeOverIfLost(record)
                }
                if !ended.isEmpty { try await changeIDList(ClusterWire.Key.activeTasks, removing: ended, limit: Self.activeTasksLimit) }
            } catch {
                logger.debug("the task sweep failed; it tries again", metadata: ["mcp.error": "\(error)"])
            }
        }
    }

    /// A task whose replica is gone (its lease expired) is moved on, exactly once, by the replica that notices:
    /// started again here when its tool may run again and attempts remain, failed with `-32010` otherwise.
    func takeOverIfLost(_ record: TaskRecord) async throws -> TaskRecord? {
        if record.replica == configuration.replicaID, record.incarnation == leases.incarnation { return nil }
        guard try await !leases.isAlive(record.replica, incarnation: record.incarnation) else { return nil }
        let entry = registry.tool(named: record.tool)
        let rerun = configuration.taskRerun && entry.map { $0.tool.taskSupport.rerunnable } == true
            && record.attempts < Self.taskMaximumAttempts && !isDraining
        var mine = false
        let moved = try await updateTask(record.id) { current in
            // Only the replica that changes it from the dead owner's state takes it over.
            guard !current.isTerminal, current.replica == record.replica, current.incarnation == record.incarnation else { return false }
            mine = true
            if rerun && !current.cancelRequested {
                current.replica = configuration.replicaID
                current.incarnation = leases.incarnation
                current.attempts += 1
                current.status = .working
                current.statusMessage = "restarted on another replica (attempt \(current.attempts))"
                current.inputRequests = [:]
                current.answers = [:]
            } else if current.cancelRequested {
                current.status = .cancelled
            } else {
                let error = JSONRPCError.replicaStopped(.replicaLost, replica: record.replica)
                current.status = .failed
                current.error = error.json
                current.statusMessage = error.message
            }
            return true
        }
        if mine, let moved, moved.status == .working, moved.replica == configuration.replicaID, let entry {
            logger.info("took over a task whose replica stopped", metadata: ["mcp.task": "\(record.id)", "mcp.peer": "\(record.replica)"])
            let meta = RequestMeta(protocolVersion: .v2026_07_28, clientInfo: nil, clientCapabilities: moved.clientCapabilities)
            start(moved, handler: entry.handler, meta: meta)
        }
        return moved
    }
}

/// Where a task's handler sends what it would send on a request's stream: a progress message becomes the task's
/// `statusMessage`; log messages have nowhere to go (the extension carries none).
struct TaskSink: MessageSink {
    let server: MCPServer
    let taskID: String

    func send(_ message: JSONValue) async throws {}

    /// Records `text` as the task's status message: best effort (a store that is away does not fail the handler).
    func status(_ text: String) async throws {
        do {
            try await update(text)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            server.logger.debug("could not record a task's status message", metadata: ["mcp.task": "\(taskID)", "mcp.error": "\(error)"])
        }
    }

    private func update(_ text: String) async throws {
        try await server.updateTask(taskID) { record in
            guard !record.isTerminal, server.runs(record), record.statusMessage != text else { return false }
            record.statusMessage = text
            return true
        }
    }
}

/// A task's input channel: an input request moves the task to `input_required` with the request under its key, and
/// the handler waits (it does not re-run) until `tasks/update` on any replica has answered every key it asked for.
final class TaskInputs: InputChannel {
    let server: MCPServer
    let taskID: String
    private let counter = Mutex(0)

    init(server: MCPServer, taskID: String) {
        self.server = server
        self.taskID = taskID
    }

    func request(_ requests: [InputRequest], context: HandlerContext) async throws -> [JSONValue] {
        try MRTRInputs.checkKeys(requests)
        for r in requests { try MRTRInputs.checkCapability(method: r.method, params: r.params, meta: context.meta) }
        let keyed = requests.map { r -> (String, JSONValue) in
            let key = r.key ?? counter.withLock { n in
                n += 1
                return "input-\(n)"
            }
            return (key, ["method": .string(r.method), "params": r.params])
        }
        let keys = keyed.map(\.0)
        try await server.updateTaskRiding(taskID) { record in
            guard !record.isTerminal, server.runs(record) else { return false }
            for (key, request) in keyed where !record.answered.contains(key) { record.inputRequests[key] = request }
            record.status = .input_required
            return true
        }
        guard let answered = try await server.awaitTask(taskID, until: { record in
            record.isTerminal || record.cancelRequested || keys.allSatisfy { record.answers[$0] != nil }
        }) else { throw CancellationError() }
        guard !answered.isTerminal, !answered.cancelRequested else { throw CancellationError() }
        let answers = keys.map { answered.answers[$0] ?? [:] }
        try await server.updateTaskRiding(taskID) { record in
            guard server.runs(record) else { return false }
            for key in keys {
                record.answers[key] = nil
                if !record.answered.contains(key) { record.answered.append(key) }
            }
            if record.status == .input_required, record.inputRequests.isEmpty { record.status = .working }
            return true
        }
        return answers
    }
}

// MARK: - 2025-11-25 tasks, for session clients

extension TaskRecord {
    /// The task as 2025-11-25 shows it (`ttl` and `pollInterval` rather than `ttlMs` and `pollIntervalMs`, no payload).
    var legacy: JSONValue {
        var o: [String: JSONValue] = [
            "taskId": .string(id), "status": .string(status.rawValue), "createdAt": .string(ISO8601.format(millis: createdAt)),
            "lastUpdatedAt": .string(ISO8601.format(millis: lastUpdatedAt)), "ttl": .int(ttlMs), "pollInterval": .int(pollIntervalMs),
        ]
        if let statusMessage { o["statusMessage"] = .string(statusMessage) }
        return .object(o)
    }
}

extension MCPServer {
    static let relatedTaskKey = "io.modelcontextprotocol/related-task"
    /// How many tasks `tasks/list` keeps per principal (the newest).
    static let taskIndexLimit = 500

    /// A session's task-augmented `tools/call`: the task is created (and listed for the caller) before the
    /// `CreateTaskResult` goes out, then runs as in 2026-07-28; its inputs reach the client on `tasks/result`.
    func createSessionTask(
        tool entry: Registry.RegisteredTool, arguments: [String: JSONValue], request: IncomingRequest, meta: RequestMeta
    ) async throws -> JSONValue {
        let record = try await createTask(tool: entry, arguments: arguments, request: request, meta: meta)
        try await changeIDList(ClusterWire.Key.tasksOf(request.principal.id), adding: [record.id], limit: Self.taskIndexLimit)
        return completeResult(["task": record.legacy])
    }

    /// `tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel` of a 2025-11-25 session.
    func sessionTaskMethod(_ request: IncomingRequest, sink: any MessageSink) async throws -> JSONValue {
        let principal = request.principal.id
        if request.method == "tasks/list" { return try await listTasks(principal: principal, cursor: request.params["cursor"]) }
        guard case .string(let id)? = request.params["taskId"] else { throw JSONRPCError.invalidParams("taskId must be a string") }
        let record = try await ownedTask(id, principal: principal)
        switch request.method {
        case "tasks/get":
            return completeResult(record.legacy.objectValue ?? [:])
        case "tasks/cancel":
            guard !record.isTerminal else { throw JSONRPCError.invalidParams("Cannot cancel a task in status \(record.status.rawValue)") }
            // Cancelled before the response, as 2025-11-25 asks; the running handler hears it and stops.
            let cancelled = try await updateTask(id) { record in
                guard !record.isTerminal else { return false }
                record.cancelRequested = true
                record.status = .cancelled
                record.statusMessage = "The task was cancelled by request."
                record.inputRequests = [:]
                return true
            }
            guard let cancelled, cancelled.status == .cancelled else {
                throw JSONRPCError.invalidParams("Cannot cancel a task in status \(cancelled?.status.rawValue ?? "unknown")")
            }
            return completeResult(cancelled.legacy.objectValue ?? [:])
        default:  // tasks/result
            return try await taskResult(id, principal: principal, sink: sink)
        }
    }

    /// `tasks/result`: blocks until the task is terminal, on whichever replica; meanwhile every input the task needs
    /// goes to the client as a server-to-client request on this stream (id `task:<taskId>:<key>`, with the
    /// related-task metadata), and the client's answer, on any replica, goes to the task.
    func taskResult(_ id: String, principal: String, sink: any MessageSink) async throws -> JSONValue {
        var sent: Set<String> = []
        var lastStatus: (TaskRecord.Status, String?)?
        while true {
            let record = try await ownedTask(id, principal: principal)
            if let last = lastStatus, last != (record.status, record.statusMessage) {
                // Each change of status (or of its message) while the client waits: notifications/tasks/status.
                try await sink.send(["jsonrpc": "2.0", "method": "notifications/tasks/status", "params": record.legacy])
            }
            lastStatus = (record.status, record.statusMessage)
            switch record.status {
            case .completed:
                var result = record.result?.objectValue ?? [:]
                result["_meta"] = [Self.relatedTaskKey: ["taskId": .string(id)]]
                return completeResult(result)
            case .failed:
                let error = record.error ?? [:]
                throw JSONRPCError(
                    code: error["code"]?.intValue ?? JSONRPCError.internalErrorCode,
                    message: error["message"]?.stringValue ?? "the task failed",
                    data: error["data"]
                )
            case .cancelled:
                throw JSONRPCError.internalError("the task was cancelled")
            case .working, .input_required:
                for (key, input) in record.inputRequests.sorted(by: { $0.key < $1.key }) where !sent.contains(key) {
                    var params = input["params"]?.objectValue ?? [:]
                    var meta = params["_meta"]?.objectValue ?? [:]
                    meta[Self.relatedTaskKey] = ["taskId": .string(id)]
                    params["_meta"] = .object(meta)
                    try await sink.send(
                        ["jsonrpc": "2.0", "id": .string(ClusterWire.Identifier.taskInput(task: id, key: key)), "method": input["method"] ?? .null, "params": .object(params)]
                    )
                    sent.insert(key)
                }
                let (known, seen) = (sent, (record.status, record.statusMessage))
                _ = try await awaitTask(id) {
                    $0.isTerminal || $0.inputRequests.keys.contains { !known.contains($0) } || ($0.status, $0.statusMessage) != seen
                }
            }
        }
    }

    /// The caller's tasks, newest first, 50 to a page.
    func listTasks(principal: String, cursor: JSONValue?) async throws -> JSONValue {
        let ids = (try await backends.sessionStore.get(ClusterWire.Key.tasksOf(principal))?.value.arrayValue ?? []).reversed().compactMap(\.stringValue)
        var tasks: [JSONValue] = []
        for id in ids {
            if let record = try await loadTask(id), record.principal == principal { tasks.append(record.legacy) }
        }
        let (page, next) = try self.page(tasks, cursor: cursor)
        var o: [String: JSONValue] = ["tasks": .array(page)]
        if let next { o["nextCursor"] = .string(next) }
        return completeResult(o)
    }

    /// A client's answer to a task's input request (`task:<taskId>:<key>`): stored in the task if that input is still
    /// outstanding; `false` otherwise (unknown, another caller's, or answered already).
    func answerTaskInput(_ requestID: String, result: Result<JSONValue, JSONRPCError>, principal: Principal) async throws -> Bool {
        guard let (id, key) = ClusterWire.Identifier.taskInput(requestID) else { return false }
        let answer: JSONValue
        switch result {
        case .success(let value): answer = value
        case .failure: answer = ["action": "cancel"]  // the client could not answer: as a dismissed request
        }
        var accepted = false
        try await updateTask(id) { record in
            accepted = record.principal == principal.id && record.answer(key, with: answer)
            return accepted
        }
        return accepted
    }
}
