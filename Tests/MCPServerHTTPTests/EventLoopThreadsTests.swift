//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServerHTTP
import NIOCore
import MCPServerTesting
import Testing

@Suite("Event-loop sizing")
struct EventLoopThreadsTests {
    @Test func countsTheCPUsOfTheAffinityMask() {
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Name:\tx\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n") == 2)
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed:\t1\n") == 1)
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed:\tff,00000f00\n") == 12)
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed:\tFFFFFFFF,FFFFFFFF") == 64)
    }

    @Test func refusesMissingEmptyOrMalformedMasks() {
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "") == nil)
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed_list:\t0-1\n") == nil)
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed:\t\n") == nil)
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed:\t0,00000000\n") == nil)
        #expect(EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed:\t3g\n") == nil)
    }

    /// Random text never traps, and whatever is counted is a positive number of CPUs.
    @Test func randomStatusTextNeverTraps() {
        var rng = SeededRandom(seed: 7)
        let alphabet = Array("Cpus_allowed:\t\n, 0123456789abcdefABCDEFxyz-")
        for _ in 0..<2000 {
            let text = String((0..<Int.random(in: 0..<60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            if let count = EventLoopThreads.allowedCPUCount(procStatus: "Cpus_allowed:" + text) { #expect(count > 0) }
            _ = EventLoopThreads.allowedCPUCount(procStatus: text)
        }
    }

    @Test func theDefaultFollowsTheAffinityUnlessNIOsVariableIsSet() {
        let cores = EventLoopThreads.schedulableCoreCount
        // Within SwiftNIO's own, cgroup-aware count, and within what SwiftNIO accepts.
        #expect((1...min(System.coreCount, EventLoopThreads.maximumLoops)).contains(cores))
        #expect(EventLoopThreads.defaultLoopCount(nioEnvironmentValue: nil) != nil)
        #expect(EventLoopThreads.defaultLoopCount(nioEnvironmentValue: "3") == nil)
    }
}
