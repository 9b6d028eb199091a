//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// An RFC 6570 level-1 URI template (`{name}` expressions) used to match resource URIs.
struct URITemplate: Sendable, Hashable {
    enum Part: Sendable, Hashable {
        case literal(String)
        case variable(String)
    }

    let parts: [Part]

    /// Parses a template; `nil` if braces do not balance or two variables touch.
    init?(_ template: String) {
        var parts: [Part] = []
        var rest = Substring(template)
        while !rest.isEmpty {
            if let open = rest.firstIndex(of: "{") {
                if open > rest.startIndex { parts.append(.literal(String(rest[..<open]))) }
                guard let close = rest[open...].firstIndex(of: "}") else { return nil }
                let name = String(rest[rest.index(after: open)..<close])
                guard !name.isEmpty, !name.contains("{") else { return nil }
                if case .variable? = parts.last { return nil }
                parts.append(.variable(name))
                rest = rest[rest.index(after: close)...]
            } else {
                guard !rest.contains("}") else { return nil }
                parts.append(.literal(String(rest)))
                rest = ""
            }
        }
        self.parts = parts
    }

    /// The variable names, in order.
    var variables: [String] {
        parts.compactMap { if case .variable(let n) = $0 { return n } else { return nil } }
    }

    /// Matches `uri` and returns the variables, or `nil`. A variable matches one or more characters other than `/`.
    func match(_ uri: String) -> [String: String]? {
        var values: [String: String] = [:]
        var rest = Substring(uri)
        var i = 0
        while i < parts.count {
            switch parts[i] {
            case .literal(let l):
                guard rest.hasPrefix(l) else { return nil }
                rest = rest.dropFirst(l.count)
            case .variable(let name):
                let end: Substring.Index
                if i + 1 < parts.count, case .literal(let next) = parts[i + 1] {
                    guard let r = rest.range(of: next) else { return nil }
                    end = r.lowerBound
                } else {
                    end = rest.endIndex
                }
                let value = rest[..<end]
                guard !value.isEmpty, !value.contains("/") else { return nil }
                values[name] = String(value)
                rest = rest[end...]
            }
            i += 1
        }
        return rest.isEmpty ? values : nil
    }
}
