//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation

/// Wall-clock milliseconds since the Unix epoch; shared tokens carry wall-clock expiries because they cross replicas.
public struct WallClock: Sendable {
    let now: @Sendable () -> Int64

    /// The system clock.
    public static let system = WallClock { Int64(Date().timeIntervalSince1970 * 1000) }

    /// A clock that reads `now`; for tests.
    public init(now: @escaping @Sendable () -> Int64) { self.now = now }

    /// The current time in milliseconds since the epoch.
    public func millis() -> Int64 { now() }
}
