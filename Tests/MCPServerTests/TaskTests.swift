//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPDemo
import ServiceLifecycleTestKit
import Testing

@testable import MCPServer

/// The tasks extension on two replicas sharing one set of in-memory backends: a task created on one is read,
/// answered and cancelled on the other.
@Suite("Tasks (io.modelcontextprotocol/tasks)", .timeLimit(.minutes(1)))
struct TaskTests {
    static let withTasks: JSONValue = ["elicitation": [:], "extensions": ["io.modelcontextprotocol/tasks": [:]]]

    static func poll(_ server: MCPServer, _ id: String, until done: (JSONValue) -> Bool) async throws -> JSONValue {
        for _ in 0..<400 {
            let got = await call(server, "tasks/get", ["taskId": .string(id)], capabilities: withTasks)["result"] ?? .null
            if done(got) { return got }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("task \(id) never got there")
        return .null
    }

    static func create(_ server: MCPServer, _ arguments: JSONValue) async throws -> String {
        let created = await call(server, "tools/call", ["name": "long-job", "arguments": arguments], capabilities: withTasks)
        #expect(created["result"]?["resultType"] == "task", "\(created)")
        #expect(created["result"]?["status"] == "working")
        #expect(created["result"]?["ttlMs"]?.intValue != nil)
        return try #require(created["result"]?["taskId"]?.stringValue)
    }

    @Test func aTaskCreatedOnOneReplicaIsServedByAnother() async throws {
        let (a, b) = CrossReplicaTests.replicas()
        try await CrossReplicaTests.withRunning([a, b]) {
            let id = try await Self.create(a, ["steps": 3, "intervalMs": 30])
            // Durable before the CreateTaskResult: B resolves it at once.
            let first = await call(b, "tasks/get", ["taskId": .string(id)], capabilities: Self.withTasks)["result"]
            #expect(first?["taskId"] == .string(id))
            let done = try await Self.poll(b, id) { $0["status"] == "completed" }
            #expect(done["result"]?["content"] == [["type": "text", "text": "done: 3"]])
            #expect(done["resultType"] == "complete")
            #expect(done["statusMessage"] == "step 3 of 3")
        }
    }

    @Test func inputIsAnsweredOnAnotherReplicaAndTheHandlerGoesOn() async throws {
        let (a, b) = CrossReplicaTests.replicas()
        try await CrossReplicaTests.withRunning([a, b]) {
            let id = try await Self.create(a, ["steps": 2, "intervalMs": 10, "confirm": true])
            let waiting = try await Self.poll(b, id) { $0["status"] == "input_required" }
            let request = try #require(waiting["inputRequests"]?["continue"])
            #expect(request["method"] == "elicitation/create")
            #expect(request["params"]?["message"]?.stringValue?.contains("Continue?") == true)
            // An answer to a key that is not outstanding is ignored; the right one goes through.
            let ack = await call(
                b, "tasks/update",
                ["taskId": .string(id), "inputResponses": ["nope": ["action": "accept"], "continue": ["action": "accept", "content": ["ok": true]]]],
                capabilities: Self.withTasks
            )
            #expect(ack["result"]?["resultType"] == "complete")
            let done = try await Self.poll(a, id) { $0["status"] == "completed" }
            #expect(done["result"]?["content"] == [["type": "text", "text": "done: 2"]])
        }
    }

    @Test func aDeclineEndsTheJob() async throws {
        let (a, b) = CrossReplicaTests.replicas()
        try await CrossReplicaTests.withRunning([a, b]) {
            let id = try await Self.create(a, ["steps": 2, "intervalMs": 0, "confirm": true])
            _ = try await Self.poll(b, id) { $0["status"] == "input_required" }
            _ = await call(b, "tasks/update", ["taskId": .string(id), "inputResponses": ["continue": ["action": "decline"]]], capabilities: Self.withTasks)
            let done = try await Self.poll(b, id) { $0["status"] == "completed" }
            #expect(done["result"]?["content"] == [["type": "text", "text": "declined"]])
        }
    }

    @Test func cancelOnAnotherReplicaStopsTheHandler() async throws {
        let (a, b) = CrossReplicaTests.replicas()
        try await CrossReplicaTests.withRunning([a, b]) {
            let id = try await Self.create(a, ["steps": 1000, "intervalMs": 20])
            let ack = await call(b, "tasks/cancel", ["taskId": .string(id)], capabilities: Self.withTasks)
            #expect(ack["result"]?["resultType"] == "complete")
            _ = try await Self.poll(b, id) { $0["status"] == "cancelled" }
            while a.statistics.activeHandlers > 0 || a.supervisor.activeJobs > 0 { try await Task.sleep(for: .milliseconds(10)) }
            // Cancelling a terminal task is still acknowledged, and changes nothing.
            let again = await call(b, "tasks/cancel", ["taskId": .string(id)], capabilities: Self.withTasks)
            #expect(again["result"]?["resultType"] == "complete")
        }
    }

    @Test func refusals() async throws {
        let (a, _) = CrossReplicaTests.replicas()
        try await CrossReplicaTests.withRunning([a]) {
            // Without the extension the optional task runs synchronously.
            let sync = await call(a, "tools/call", ["name": "long-job", "arguments": ["steps": 1, "intervalMs": 0]])
            #expect(sync["result"]?["content"] == [["type": "text", "text": "done: 1"]])
            let id = try await Self.create(a, ["steps": 1000, "intervalMs": 20])
            // An unknown task, and another principal's, get the same -32602.
            let unknown = await call(a, "tasks/get", ["taskId": "t-nope"], capabilities: Self.withTasks)
            #expect(unknown["error"]?["code"] == -32602)
            let stolen = await call(a, "tasks/get", ["taskId": .string(id)], capabilities: Self.withTasks, principal: Principal(id: "eve"))
            #expect(stolen["error"]?["code"] == -32602)
            #expect(stolen["error"]?["message"] == unknown["error"]?["message"])
            // A client without the extension: -32021.
            let noExtension = await call(a, "tasks/get", ["taskId": .string(id)])
            #expect(noExtension["error"]?["code"] == -32021)
            _ = await call(a, "tasks/cancel", ["taskId": .string(id)], capabilities: Self.withTasks)
            _ = try await Self.poll(a, id) { $0["status"] == "cancelled" }
        }
    }

    /// A replica whose lease lapses (killed, in effect: `a` renews it once and never again) while it runs a task: the
    /// next `tasks/get` elsewhere moves the task on, exactly once: a tool that may run again starts over on the
    /// replica that noticed and completes; any other fails with -32010 (replica_lost). The first replica's run, still
    /// going, changes nothing after that.
    @Test(arguments: [true, false]) func aTaskWhoseReplicaDiedIsTakenOverOrFailed(rerunnable: Bool) async throws {
        let shared = Backends.inMemory()
        func replica(_ name: String) -> MCPServer {
            let server = MCPServer(
                configuration: MCPServerConfiguration(name: "demo", version: "1", replicaID: name, replicaLease: .milliseconds(300)),
                backends: shared
            )
            DemoServer.register(on: server)
            server.registerTool(
                Tool(name: "slow", inputSchema: ["type": "object"], taskSupport: .optional(rerunnable: rerunnable))
            ) { _, context in
                for step in 1...10 {
                    try await Task.sleep(for: .milliseconds(60))
                    try await context.progress(Double(step), message: "step \(step) on \(context.replicaID)")
                }
                return .text("done on \(context.replicaID)")
            }
            return server
        }
        let (a, b) = (replica("a"), replica("b"))
        a.supervisor.setRunning(true)
        try await a.leases.renew()
        try await CrossReplicaTests.withRunning([b]) {
            let created = await call(a, "tools/call", ["name": "slow", "arguments": [:]], capabilities: Self.withTasks)
            let id = try #require(created["result"]?["taskId"]?.stringValue)
            // a's lease (300 ms) lapses; b has held its own for a whole period, so it may judge a dead.
            try await Task.sleep(for: .milliseconds(450))
            let moved = await call(b, "tasks/get", ["taskId": .string(id)], capabilities: Self.withTasks)["result"]
            if rerunnable {
                #expect(moved?["status"] == "working")
                let done = try await Self.poll(b, id) { $0["status"] == "completed" }
                #expect(done["result"]?["content"] == [["type": "text", "text": "done on b"]])
            } else {
                #expect(moved?["status"] == "failed")
                #expect(moved?["error"]?["code"] == -32010)
                #expect(moved?["error"]?["data"]?["reason"] == "replica_lost")
                #expect(moved?["error"]?["data"]?["replica"] == "a")
            }
            // a's own run ends by itself and changes nothing.
            while a.supervisor.activeJobs > 0 { try await Task.sleep(for: .milliseconds(10)) }
            let final = await call(b, "tasks/get", ["taskId": .string(id)], capabilities: Self.withTasks)["result"]
            #expect(final?["status"] == (rerunnable ? "completed" : "failed"))
            #expect(final?["statusMessage"]?.stringValue?.contains("on a") != true || !rerunnable)
        }
        a.supervisor.setRunning(false)
    }

    /// A drain that reaches its deadline: a task that may run again is left as it is, for whichever replica reads it
    /// once this one's lease is gone (here b, which runs it to the end); any other task fails with `drain_deadline`.
    @Test func theDrainDeadlineLeavesReRunnableTasksToOthersAndFailsTheRest() async throws {
        let shared = Backends.inMemory()
        func replica(_ name: String) -> MCPServer {
            let server = MCPServer(
                configuration: MCPServerConfiguration(
                    name: "demo", version: "1", replicaID: name, drainTimeout: .milliseconds(200), replicaLease: .milliseconds(300)
                ),
                backends: shared
            )
            DemoServer.register(on: server)
            server.registerTool(Tool(name: "once", inputSchema: ["type": "object"], taskSupport: .optional())) { _, _ in
                try await Task.sleep(for: .seconds(30))
                return .text("never")
            }
            return server
        }
        let (a, b) = (replica("a"), replica("b"))
        var rerunnable = ""
        var once = ""
        try await CrossReplicaTests.withRunning([b]) {
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await a.run() }
                    try await eventually { a.supervisor.start({}) }
                    rerunnable = try await Self.create(a, ["steps": 10, "intervalMs": 50])
                    let created = await call(a, "tools/call", ["name": "once", "arguments": [:]], capabilities: Self.withTasks)
                    once = try #require(created["result"]?["taskId"]?.stringValue)
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
            // a is gone, its lease released; b has held its own for a period.
            try await Task.sleep(for: .milliseconds(350))
            let failed = await call(b, "tasks/get", ["taskId": .string(once)], capabilities: Self.withTasks)["result"]
            #expect(failed?["status"] == "failed")
            #expect(failed?["error"]?["data"]?["reason"] == "drain_deadline")
            let done = try await Self.poll(b, rerunnable) { $0["status"] == "completed" }
            #expect(done["result"]?["content"] == [["type": "text", "text": "done: 10"]])
        }
    }

    @Test func timestampsAreISO8601() {
        #expect(ISO8601.format(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(ISO8601.format(millis: 1_785_235_800_123) == "2026-07-28T10:50:00.123Z")
        #expect(ISO8601.format(millis: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
    }
}
