//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
import MCPServerTesting
import Testing

/// The in-memory backends are the store: every "replica" of the harness gets the same objects.
struct MemoryHarness: BackendConformanceHarness {
    let backends = Backends.inMemory()

    func withReplica<Result: Sendable>(_ body: @Sendable (Backends) async throws -> Result) async throws -> Result {
        try await body(backends)
    }
}

@Suite("Backend conformance: memory", .timeLimit(.minutes(2)))
struct BackendConformanceMemoryTests {
    @Test(arguments: BackendConformance.checks)
    func conformance(_ check: BackendConformance.Check) async throws {
        try await check.run(MemoryHarness())
    }
}
