//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

extension Duration {
    /// Whole milliseconds, rounded down; saturates instead of overflowing for durations beyond what `Int64`
    /// milliseconds can hold. The one conversion used for TTLs, expiries and SSE `retry` values.
    package var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds > 0 ? Int64.max / 2 : Int64.min / 2 }
        return ms &+ attoseconds / 1_000_000_000_000_000
    }
}
