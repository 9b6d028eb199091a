//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How many SwiftNIO event loops the process's shared event-loop group (``NIOCore/NIOSingletons``) runs.
///
/// SwiftNIO sizes that group with `System.coreCount`, which honours cgroup CPU quotas and cpusets but not the
/// process's CPU affinity mask. A server started with `taskset -c 0` on a 2-CPU machine therefore runs two event
/// loops that take turns on one CPU, and they compete with the Swift concurrency pool's threads for it. One loop per
/// CPU the process may actually run on is the better default: on one pinned core at concurrency 32 it served 11–15%
/// more modern `tools/call` requests per second, 13% more legacy ones and 30% more on Redis (docs/performance.md).
public enum EventLoopThreads {
    /// The most loops SwiftNIO accepts; the default count is clamped to it.
    public static let maximumLoops = 1024

    /// The number of CPUs this process may run on: on Linux, its CPU affinity mask (`Cpus_allowed` in
    /// `/proc/self/status`), bounded by `System.coreCount` (which applies cgroup quotas and cpusets). Elsewhere,
    /// or when the mask cannot be read, `System.coreCount`.
    public static var schedulableCoreCount: Int {
        let systemCount = min(max(1, System.coreCount), maximumLoops)
        #if os(Linux)
        guard let status = readSmallFile("/proc/self/status"), let allowed = allowedCPUCount(procStatus: status) else {
            return systemCount
        }
        return min(allowed, systemCount, maximumLoops)
        #else
        return systemCount
        #endif
    }

    /// The number of CPUs in the `Cpus_allowed:` line of a `/proc/<pid>/status` text (comma-separated groups of
    /// hexadecimal digits, one bit per CPU), or `nil` when there is no such line, it is malformed, or it allows none.
    public static func allowedCPUCount(procStatus: String) -> Int? {
        for line in procStatus.split(separator: "\n") where line.hasPrefix("Cpus_allowed:") {
            var count = 0
            var digits = 0
            for character in line.dropFirst("Cpus_allowed:".count) {
                switch character {
                case " ", "\t", ",": continue
                default:
                    guard let value = character.hexDigitValue else { return nil }
                    count += value.nonzeroBitCount
                    digits += 1
                }
            }
            return digits > 0 && count > 0 ? count : nil
        }
        return nil
    }

    #if os(Linux)
    /// The first 64 KiB of a file, or `nil` when it cannot be read.
    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    #endif

    /// The loop count ``configureSingletonGroup(loops:)`` chooses when given none: `nil` when SwiftNIO's own
    /// environment variable `NIO_SINGLETON_GROUP_LOOP_COUNT` is set (its value, passed here, then wins), otherwise
    /// ``schedulableCoreCount``.
    public static func defaultLoopCount(nioEnvironmentValue: String?) -> Int? {
        nioEnvironmentValue == nil ? schedulableCoreCount : nil
    }

    /// Sizes SwiftNIO's singleton event-loop group, which Hummingbird and the event-loop executor use.
    ///
    /// Call it once, first thing in `main`, before anything uses a SwiftNIO singleton: SwiftNIO ignores the count
    /// once the group exists, and traps if it is set twice.
    ///
    /// - Parameter loops: the number of loops, 1...1024; `nil` applies ``defaultLoopCount(nioEnvironmentValue:)``.
    /// - Returns: the count set, or `nil` when SwiftNIO was left to size the group from its environment variable.
    @discardableResult
    public static func configureSingletonGroup(loops: Int?) -> Int? {
        let environmentValue = getenv("NIO_SINGLETON_GROUP_LOOP_COUNT").map { String(cString: $0) }
        guard let count = loops ?? defaultLoopCount(nioEnvironmentValue: environmentValue) else { return nil }
        precondition((1...maximumLoops).contains(count), "an event-loop count must be between 1 and \(maximumLoops)")
        NIOSingletons.groupLoopCountSuggestion = count
        return count
    }
}
