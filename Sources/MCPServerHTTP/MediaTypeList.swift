//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import HTTPTypes

/// The media types of a `Content-Type` or `Accept` header value, matched on its bytes: every request's headers go
/// through here, so it allocates nothing and compares ASCII case-insensitively (media types are ASCII tokens).
struct MediaTypeList {
    private var value: String

    init(_ value: String) {
        self.value = value
    }

    /// Whether the first media type is `type` (`type` is lower-case; parameters are ignored).
    mutating func first(is type: StaticString) -> Bool {
        var result = false
        forEach { candidate in
            result = Self.equals(candidate, type)
            return false
        }
        return result
    }

    /// Whether some media type of the list is `type`, `<major>/*` or `*/*` (`type` is lower-case `major/minor`).
    mutating func accepts(_ type: StaticString) -> Bool {
        var result = false
        forEach { candidate in
            result = Self.matches(candidate, type)
            return !result
        }
        return result
    }

    /// Calls `body` with each media type, without its parameters and surrounding blanks, until `body` returns false.
    private mutating func forEach(_ body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        value.withUTF8 { bytes in
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
                var typeEnd = start
                while typeEnd < end, bytes[typeEnd] != UInt8(ascii: ";") { typeEnd += 1 }
                var lower = start
                var upper = typeEnd
                while lower < upper, Self.isBlank(bytes[lower]) { lower += 1 }
                while upper > lower, Self.isBlank(bytes[upper - 1]) { upper -= 1 }
                let item = UnsafeBufferPointer(rebasing: bytes[lower..<upper])
                if !body(item) { return }
                start = end + 1
            }
        }
    }

    /// `candidate` matches `type` itself, its `major/*` range, or `*/*`.
    static func matches(_ candidate: UnsafeBufferPointer<UInt8>, _ type: StaticString) -> Bool {
        if equals(candidate, type) { return true }
        guard candidate.count >= 3, candidate[candidate.count - 1] == UInt8(ascii: "*"), candidate[candidate.count - 2] == UInt8(ascii: "/") else {
            return false
        }
        let major = UnsafeBufferPointer(rebasing: candidate[0..<(candidate.count - 2)])
        if major.count == 1, major[0] == UInt8(ascii: "*") { return true }
        return type.withUTF8Buffer { expected in
            guard let slash = expected.firstIndex(of: UInt8(ascii: "/")) else { return false }
            return equals(major, UnsafeBufferPointer(rebasing: expected[0..<slash]))
        }
    }

    static func equals(_ candidate: UnsafeBufferPointer<UInt8>, _ type: StaticString) -> Bool {
        type.withUTF8Buffer { equals(candidate, $0) }
    }

    /// ASCII case-insensitive equality against a lower-case `expected`.
    static func equals(_ candidate: UnsafeBufferPointer<UInt8>, _ expected: UnsafeBufferPointer<UInt8>) -> Bool {
        guard candidate.count == expected.count else { return false }
        for i in 0..<candidate.count {
            var byte = candidate[i]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 0x20 }
            if byte != expected[i] { return false }
        }
        return true
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
}

extension HTTPFields {
    /// The value of the fields named `name`, joined with ", " when there are several, as the standard subscript
    /// gives it. The subscript goes through lazy generic sequences that cost every request tens of runtime metadata
    /// look-ups; this plain scan does not.
    func fieldValue(_ name: HTTPField.Name) -> String? {
        var result: String?
        for field in self where field.name == name {
            result = Self.joined(result, field.value)
        }
        return result
    }

    /// `value` appended to what an earlier field of the same name gave, as the standard subscript joins them.
    static func joined(_ earlier: String?, _ value: String) -> String {
        guard let earlier else { return value }
        return earlier + ", " + value
    }
}
