//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// Checks a value against the commonly used subset of JSON Schema: `type`, `properties`, `required`,
/// `additionalProperties: false`, `items`, `enum`, `const`, `minimum`/`maximum`, `minLength`/`maxLength`.
/// Keywords outside the subset are ignored (accepted), never rejected.
enum SchemaValidator {
    /// Returns a description of the first violation, or `nil` if the value conforms.
    static func firstViolation(of value: JSONValue, against schema: JSONValue, path: String = "", depth: Int = 0) -> String? {
        guard case .object(let s) = schema, depth < 32 else { return nil }
        let at = path.isEmpty ? "the arguments" : "'\(path)'"
        if let type = s["type"] {
            let types: [String] = type.stringValue.map { [$0] } ?? (type.arrayValue?.compactMap(\.stringValue) ?? [])
            if !types.isEmpty && !types.contains(where: { matches(value, type: $0) }) {
                return "\(at) must be of type \(types.joined(separator: " or ")), not \(value.typeName)"
            }
        }
        if let allowed = s["enum"]?.arrayValue, !allowed.contains(where: { $0.numericallyEquals(value) }) {
            return "\(at) must be one of \(JSONValue.array(allowed))"
        }
        if let c = s["const"], !c.numericallyEquals(value) {
            return "\(at) must be \(c)"
        }
        switch value {
        case .object(let o):
            for name in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where o[name] == nil {
                return "missing required property '\(join(path, name))'"
            }
            let props = s["properties"]?.objectValue ?? [:]
            for (k, v) in o {
                if let sub = props[k] {
                    if let violation = firstViolation(of: v, against: sub, path: join(path, k), depth: depth + 1) { return violation }
                } else if s["additionalProperties"] == .bool(false) {
                    return "unexpected property '\(join(path, k))'"
                } else if let extra = s["additionalProperties"], case .object = extra {
                    if let violation = firstViolation(of: v, against: extra, path: join(path, k), depth: depth + 1) { return violation }
                }
            }
        case .array(let a):
            if let items = s["items"] {
                for (i, v) in a.enumerated() {
                    if let violation = firstViolation(of: v, against: items, path: "\(path)[\(i)]", depth: depth + 1) { return violation }
                }
            }
        case .int, .double:
            let d = value.doubleValue!
            if let min = s["minimum"]?.doubleValue, d < min { return "\(at) must be at least \(s["minimum"]!)" }
            if let max = s["maximum"]?.doubleValue, d > max { return "\(at) must be at most \(s["maximum"]!)" }
        case .string(let str):
            let n = str.count
            if let min = s["minLength"]?.intValue, n < min { return "\(at) must have at least \(min) characters" }
            if let max = s["maxLength"]?.intValue, n > max { return "\(at) must have at most \(max) characters" }
        default:
            break
        }
        return nil
    }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

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
