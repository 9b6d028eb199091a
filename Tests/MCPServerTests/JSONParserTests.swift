//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServerTesting
import Testing

@testable import MCPServer

@Suite("JSON parser and writer")
struct JSONParserTests {
    let parser = JSONParser()

    @Test func parsesEveryKindOfValue() throws {
        let value = try parser.parse(#" {"a": [1, -2.5, 3e2, true, false, null, "x\n\u00e9\ud83d\ude00"], "b": {}} "#)
        #expect(value["a"]?.arrayValue?.count == 7)
        #expect(value["a"]?.arrayValue?[0] == .int(1))
        #expect(value["a"]?.arrayValue?[1] == .double(-2.5))
        #expect(value["a"]?.arrayValue?[2] == .double(300))
        #expect(value["a"]?.arrayValue?[6] == .string("x\né😀"))
        #expect(value["b"] == .object([:]))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "01", "-", "1.", ".5", "1e", "+1", "tru", "nul", "\"abc", "\"\\x\"",
        "\"\u{01}\"", "\"\\ud800\"", "\"\\udc00\"", "{\"a\" 1}", "{1:2}", "[1 2]", "1 2", "NaN", "Infinity", "1e999",
        "{\"a\":1,\"a\":2}", "\"\\u12\"", "[", "[[[[", "'a'",
        "{\"o\":{\"a\":1,\"b\":2,\"a\":3}}", "[{\"a\":1},{\"b\":1,\"b\":1}]", "{\"a\":{\"a\":1},\"a\":2}",
    ])
    func rejectsInvalidText(_ text: String) {
        #expect(throws: JSONParseError.self) { try parser.parse(text) }
    }

    @Test func keepsSiblingAndNestedObjectsApart() throws {
        // Members of nested objects and of sibling objects must not leak into each other.
        let value = try parser.parse(#"{"a":{"x":1,"y":{"z":[{"k":1},{"k":2}]}},"b":{"x":2},"c":[{},{"x":3}]}"#)
        #expect(value == [
            "a": ["x": 1, "y": ["z": [["k": 1], ["k": 2]]]],
            "b": ["x": 2],
            "c": [[:], ["x": 3]],
        ])
        // The offset of a duplicate is the second key's.
        #expect(throws: JSONParseError(offset: 18, reason: #"duplicate key "a""#)) {
            try parser.parse(#"{"o":{"a":1,"b":2,"a":3}}"#)
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0xC3, 0x28, 0x22] as [UInt8]) }
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0xFF, 0x22] as [UInt8]) }
    }

    @Test func limitsNesting() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try parser.parse(deep) }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try parser.parse(ok)
        // Far deeper than the stack could take: must fail cleanly, not crash.
        let hostile = String(repeating: "[", count: 200_000)
        #expect(throws: JSONParseError.self) { try parser.parse(hostile) }
    }

    @Test func writerEscapesAndSortsKeys() {
        let v: JSONValue = ["b": "q\"\\\n\u{01}", "a": 1.5, "c": [true, nil]]
        #expect(v.description == #"{"a":1.5,"b":"q\"\\\n\u0001","c":[true,null]}"#)
        // Nested objects, inside objects and arrays, are sorted too.
        let nested: JSONValue = ["z": ["b": 1, "a": ["y": nil, "x": [:]]], "a": [["d": 1, "c": 2, "e": 3]]]
        #expect(nested.description == #"{"a":[{"c":2,"d":1,"e":3}],"z":{"a":{"x":{},"y":null},"b":1}}"#)
        #expect(JSONValue.double(3).description == "3")
        #expect(JSONValue.double(.nan).description == "null")
    }

    @Test func roundTripsRandomValues() throws {
        var rng = SeededRandom(seed: 42)
        for _ in 0..<2000 {
            let value = randomValue(&rng, depth: 0)
            let text = JSONWriter.encode(value)
            let back = try parser.parse(text)
            #expect(back == normalized(value), "round trip of \(value)")
        }
    }

    /// Mutates valid documents byte by byte: every result is either a value or a parse error, never a crash.
    @Test func fuzzedInputNeverCrashes() {
        var rng = SeededRandom(seed: 7)
        let seeds: [[UInt8]] = [
            Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#.utf8),
            Array(#"[1,2,{"a":"\u00e9\ud83d\ude00"},-0.5e-3,true,null]"#.utf8),
        ]
        var parsed = 0
        for i in 0..<20_000 {
            var bytes = seeds[i % seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let pos = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[pos] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: pos)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos)
                }
                if bytes.isEmpty { bytes = [0x20] }
            }
            if (try? parser.parse(bytes)) != nil { parsed += 1 }
        }
        #expect(parsed < 20_000)
    }
}

func randomString(_ rng: inout SeededRandom) -> String {
    let pool: [Character] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\t", "\u{01}", "é", "😀", "/", "中"]
    return String((0..<Int(rng.next() % 8)).map { _ in pool[Int(rng.next() % UInt64(pool.count))] })
}

func randomValue(_ rng: inout SeededRandom, depth: Int) -> JSONValue {
    switch rng.next() % (depth > 4 ? 5 : 7) {
    case 0: return .null
    case 1: return .bool(rng.next() % 2 == 0)
    case 2: return .int(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 63))
    case 3: return .double(Double(Int64(bitPattern: rng.next()) % 1_000_000) / 64.0 + 0.5)
    case 4: return .string(randomString(&rng))
    case 5: return .array((0..<Int(rng.next() % 4)).map { _ in randomValue(&rng, depth: depth + 1) })
    default:
        var o: [String: JSONValue] = [:]
        for _ in 0..<Int(rng.next() % 4) { o[randomString(&rng)] = randomValue(&rng, depth: depth + 1) }
        return .object(o)
    }
}

/// Integral doubles are written as integers, so they come back as `.int`.
func normalized(_ value: JSONValue) -> JSONValue {
    switch value {
    case .double(let d) where d.rounded() == d && abs(d) < 1e15: return .int(Int64(d))
    case .array(let a): return .array(a.map(normalized))
    case .object(let o): return .object(o.mapValues(normalized))
    default: return value
    }
}
