//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// Completion values for `completion/complete`.
public struct Completion: Sendable, Hashable {
    /// At most 100 values are sent; the rest are reported through `total` and `hasMore`.
    public var values: [String]
    public var total: Int?
    public var hasMore: Bool?

    /// Creates a completion.
    public init(values: [String], total: Int? = nil, hasMore: Bool? = nil) {
        self.values = values
        self.total = total
        self.hasMore = hasMore
    }

    var json: JSONValue {
        let sent = Array(values.prefix(100))
        var o: [String: JSONValue] = ["values": .array(sent.map { .string($0) })]
        let total = self.total ?? (values.count > 100 ? values.count : nil)
        if let total { o["total"] = .int(Int64(total)) }
        if let hasMore = hasMore ?? (values.count > 100 ? true : nil) { o["hasMore"] = .bool(hasMore) }
        return .object(o)
    }
}
