//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// A JSON Schema read once, when its tool is registered, for checking values against the commonly used subset of
/// JSON Schema: `type`, `properties`, `required`, `additionalProperties` (`false` or a schema), `items`, `enum`,
/// `const`, `minimum`/`maximum`, `minLength`/`maxLength`. Keywords outside the subset are ignored (accepted), never
/// rejected. Checking a value looks up no schema keyword, and builds no path text unless there is a violation.
final class CompiledSchema: Sendable {
    /// The deepest nesting checked; deeper values are accepted.
    static let maximumDepth = 32

    /// Whether the schema is an object at all (anything else accepts every value).
    let checks: Bool
    let types: [String]
    let enumValues: [JSONValue]?
    let constValue: JSONValue?
    let required: [String]
    let properties: [String: CompiledSchema]
    let additionalProperties: Additional
    let items: CompiledSchema?
    let minimum: (limit: Double, text: JSONValue)?
    let maximum: (limit: Double, text: JSONValue)?
    let minLength: Int?
    let maxLength: Int?

    /// What `additionalProperties` allows.
    enum Additional: Sendable {
        case allowed
        case forbidden
        case schema(CompiledSchema)
    }

    /// Reads `schema`; below ``maximumDepth`` levels everything is accepted.
    convenience init(_ schema: JSONValue) {
        self.init(schema, depth: 0)
    }

    private init(_ schema: JSONValue, depth: Int) {
        guard case .object(let s) = schema, depth < Self.maximumDepth else {
            checks = false
            types = []
            enumValues = nil
            constValue = nil
            required = []
            properties = [:]
            additionalProperties = .allowed
            items = nil
            minimum = nil
            maximum = nil
            minLength = nil
            maxLength = nil
            return
        }
        checks = true
        if let type = s["type"] {
            types = type.stringValue.map { [$0] } ?? (type.arrayValue?.compactMap(\.stringValue) ?? [])
        } else {
            types = []
        }
        enumValues = s["enum"]?.arrayValue
        constValue = s["const"]
        required = s["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        properties = (s["properties"]?.objectValue ?? [:]).mapValues { CompiledSchema($0, depth: depth + 1) }
        switch s["additionalProperties"] {
        case .bool(false)?: additionalProperties = .forbidden
        case let extra? where extra.objectValue != nil: additionalProperties = .schema(CompiledSchema(extra, depth: depth + 1))
        default: additionalProperties = .allowed
        }
        items = s["items"].map { CompiledSchema($0, depth: depth + 1) }
        minimum = s["minimum"].flatMap { text in text.doubleValue.map { (limit: $0, text: text) } }
        maximum = s["maximum"].flatMap { text in text.doubleValue.map { (limit: $0, text: text) } }
        minLength = s["minLength"]?.intValue
        maxLength = s["maxLength"]?.intValue
    }

    /// Returns a description of the first violation, or `nil` if `value` conforms.
    func firstViolation(of value: JSONValue) -> String? {
        var path: [PathComponent] = []
        return firstViolation(of: value, path: &path)
    }

    /// A step into a value: an object member or an array element.
    enum PathComponent {
        case key(String)
        case index(Int)
    }

    private func firstViolation(of value: JSONValue, path: inout [PathComponent]) -> String? {
        guard checks else { return nil }
        if !types.isEmpty && !types.contains(where: { Self.matches(value, type: $0) }) {
            return "\(Self.at(path)) must be of type \(types.joined(separator: " or ")), not \(value.typeName)"
        }
        if let enumValues, !enumValues.contains(where: { $0.numericallyEquals(value) }) {
            return "\(Self.at(path)) must be one of \(JSONValue.array(enumValues))"
        }
        if let constValue, !constValue.numericallyEquals(value) {
            return "\(Self.at(path)) must be \(constValue)"
        }
        switch value {
        case .object(let o):
            for name in required where o[name] == nil {
                path.append(.key(name))
                return "missing required property '\(Self.text(path))'"
            }
            for (k, v) in o {
                path.append(.key(k))
                defer { path.removeLast() }
                if let sub = properties[k] {
                    if let violation = sub.firstViolation(of: v, path: &path) { return violation }
                } else {
                    switch additionalProperties {
                    case .allowed: break
                    case .forbidden: return "unexpected property '\(Self.text(path))'"
                    case .schema(let extra):
                        if let violation = extra.firstViolation(of: v, path: &path) { return violation }
                    }
                }
            }
        case .array(let a):
            if let items {
                for (i, v) in a.enumerated() {
                    path.append(.index(i))
                    defer { path.removeLast() }
                    if let violation = items.firstViolation(of: v, path: &path) { return violation }
                }
            }
        case .int, .double:
            let d = value.doubleValue!
            if let minimum, d < minimum.limit { return "\(Self.at(path)) must be at least \(minimum.text)" }
            if let maximum, d > maximum.limit { return "\(Self.at(path)) must be at most \(maximum.text)" }
        case .string(let str):
            if minLength != nil || maxLength != nil {
                let n = str.count
                if let minLength, n < minLength { return "\(Self.at(path)) must have at least \(minLength) characters" }
                if let maxLength, n > maxLength { return "\(Self.at(path)) must have at most \(maxLength) characters" }
            }
        default:
            break
        }
        return nil
    }

    /// How a message names the value at `path`.
    private static func at(_ path: [PathComponent]) -> String {
        path.isEmpty ? "the arguments" : "'\(text(path))'"
    }

    /// `a.b[2].c`: keys joined with dots, indices in brackets.
    private static func text(_ path: [PathComponent]) -> String {
        var out = ""
        for component in path {
            switch component {
            case .key(let k): out += out.isEmpty ? k : ".\(k)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
        case ("number", .int), ("number", .double): return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        default: return false
        }
    }
}
