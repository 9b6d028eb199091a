//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// Writes ``JSONValue`` as compact UTF-8 JSON, with object keys in sorted order.
public enum JSONWriter {
    /// Encodes `value` as compact JSON text.
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    /// Appends the JSON text of `value` to `out`.
    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): writeDouble(d, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            var first = true
            for element in a {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            if o.count == 1 {
                let (k, v) = o.first!
                writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                write(v, into: &out)
            } else {
                // The members are sorted in scratch space on the stack (for small objects), not in a new array.
                withUnsafeTemporaryAllocation(of: Member.self, capacity: o.count) { members in
                    var count = 0
                    for (k, v) in o {
                        members.initializeElement(at: count, to: Member(key: k, value: v))
                        count += 1
                    }
                    var initialized = UnsafeMutableBufferPointer(rebasing: members[0..<count])
                    defer { initialized.deinitialize() }
                    initialized.sort { $0.key < $1.key }
                    for i in 0..<count {
                        if i > 0 { out.append(UInt8(ascii: ",")) }
                        writeString(initialized[i].key, into: &out)
                        out.append(UInt8(ascii: ":"))
                        write(initialized[i].value, into: &out)
                    }
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// An object member to sort (a struct, not a tuple: arrays of tuples look up their metadata at run time).
    struct Member {
        var key: String
        var value: JSONValue
    }

    static func writeDouble(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else {
            // JSON has no NaN or infinity.
            out.append(contentsOf: "null".utf8)
            return
        }
        if d.rounded() == d, abs(d) < 1e15 {
            out.append(contentsOf: String(Int64(d)).utf8)
            return
        }
        out.append(contentsOf: "\(d)".utf8)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string literal.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { buffer in
            var runStart = 0
            for i in 0..<buffer.count {
                let c = buffer[i]
                let escape: UInt8?
                switch c {
                case 0x22: escape = UInt8(ascii: "\"")
                case 0x5C: escape = UInt8(ascii: "\\")
                case 0x0A: escape = UInt8(ascii: "n")
                case 0x0D: escape = UInt8(ascii: "r")
                case 0x09: escape = UInt8(ascii: "t")
                case 0x08: escape = UInt8(ascii: "b")
                case 0x0C: escape = UInt8(ascii: "f")
                case 0..<0x20: escape = UInt8(ascii: "u")
                default: escape = nil
                }
                guard let escape else { continue }
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<i])) }
                out.append(UInt8(ascii: "\\"))
                out.append(escape)
                if escape == UInt8(ascii: "u") {
                    out.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(c >> 4)], hex[Int(c & 0xF)]])
                }
                runStart = i + 1
            }
            if runStart < buffer.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart...])) }
        }
        out.append(UInt8(ascii: "\""))
    }
}
