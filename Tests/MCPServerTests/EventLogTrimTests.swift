//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Testing

@testable import MCPServer

/// Trimming keeps positions: the notification log is trimmed while standalone streams hold positions in it.
@Suite("Event log trimming")
struct EventLogTrimTests {
    @Test func trimmingDropsTheOldestAndKeepsEveryPosition() async throws {
        let log = MemoryEventLog()
        #expect(try await log.lastPosition(stream: "s") == 0)
        for n in 1...5 { _ = try await log.append(stream: "s", data: [UInt8(n)], ttl: .seconds(60)) }
        try await log.trim(stream: "s", keepingLast: 2)
        #expect(try await log.lastPosition(stream: "s") == 5)
        // A read after a dropped position starts at the oldest kept event.
        #expect(try await log.read(stream: "s", after: 0, limit: 10).map(\.position) == [4, 5])
        #expect(try await log.read(stream: "s", after: 4, limit: 10).map(\.data) == [[5]])
        #expect(try await log.append(stream: "s", data: [6], ttl: .seconds(60)) == 6)
        let tailed = try await log.tail(stream: "s", after: 1) { events in
            var got: [UInt64] = []
            for try await event in events {
                got.append(event.position)
                if event.position == 6 { break }
            }
            return got
        }
        #expect(tailed == [4, 5, 6])
    }
}
