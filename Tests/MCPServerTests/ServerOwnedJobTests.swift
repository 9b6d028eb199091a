//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycleTestKit
import Synchronization
import Testing

@testable import MCPServer

/// The work a server owns beyond a request (legacy handlers, which outlive a disconnect): refused when the server is
/// not running, waited for while draining, cancelled at the drain deadline.
@Suite("Server-owned jobs")
struct ServerOwnedJobTests {
    func makeServer(drainTimeout: Duration) -> MCPServer {
        MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1", drainTimeout: drainTimeout), backends: .inMemory())
    }

    /// Runs `server`; once it accepts jobs, runs `body`, then shuts the server down gracefully, waits for `run()` to
    /// return, and runs `afterShutdown`.
    func whileRunning(
        _ server: MCPServer,
        _ body: @Sendable () async throws -> Void,
        afterShutdown: @Sendable () async throws -> Void = {}
    ) async throws {
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                while !server.supervisor.start({}) { try await Task.sleep(for: .milliseconds(5)) }
                try await body()
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                try await afterShutdown()
            }
        }
    }

    /// How a job ended: "finished" or "cancelled".
    final class Outcome: Sendable {
        let value = Mutex<String?>(nil)
    }

    /// Starts a job that sleeps for `duration`, and records whether it finished or was cancelled.
    func startSleeper(on server: MCPServer, for duration: Duration, recording outcome: Outcome) -> Bool {
        server.supervisor.start {
            do {
                try await Task.sleep(for: duration)
                outcome.value.withLock { $0 = "finished" }
            } catch {
                outcome.value.withLock { $0 = "cancelled" }
            }
        }
    }

    @Test func refusedUnlessRunning() {
        let server = makeServer(drainTimeout: .seconds(1))
        // The caller then runs the work itself, as part of its request.
        let started = server.supervisor.start {}
        #expect(!started)
    }

    @Test func aJobThatFinishesAtOnceRunsOnTheCallersThreadAndIsNotKept() async throws {
        let server = makeServer(drainTimeout: .seconds(1))
        try await whileRunning(server) {
            let ran = Mutex(false)
            let started = server.supervisor.start { ran.withLock { $0 = true } }
            #expect(started)
            // Task.immediate: done before start returns, and nothing is left to cancel or wait for.
            #expect(ran.withLock { $0 })
            #expect(server.supervisor.jobState.withLock { $0.tasks.isEmpty && $0.active == 0 })
        }
    }

    @Test func drainWaitsForAJobThatFinishesInTime() async throws {
        let server = makeServer(drainTimeout: .seconds(10))
        let outcome = Outcome()
        try await whileRunning(server) {
            #expect(startSleeper(on: server, for: .milliseconds(200), recording: outcome))
            #expect(server.supervisor.jobState.withLock { $0.active == 1 && $0.tasks.count == 1 })
        } afterShutdown: {
            // run() returned only after the job ended, and did not cancel it.
            #expect(outcome.value.withLock { $0 } == "finished")
            #expect(server.supervisor.jobState.withLock { $0.tasks.isEmpty && $0.active == 0 })
            let startedWhileDrained = server.supervisor.start {}
            #expect(!startedWhileDrained)
        }
    }

    @Test func drainCancelsAJobAtTheDeadline() async throws {
        let server = makeServer(drainTimeout: .milliseconds(300))
        let outcome = Outcome()
        let clock = ContinuousClock()
        let start = Mutex(clock.now)
        try await whileRunning(server) {
            #expect(startSleeper(on: server, for: .seconds(60), recording: outcome))
            start.withLock { $0 = clock.now }
        } afterShutdown: {
            let elapsed = clock.now - start.withLock { $0 }
            #expect(outcome.value.withLock { $0 } == "cancelled")
            #expect(elapsed >= .milliseconds(250))
            #expect(elapsed < .seconds(10))
        }
    }
}
