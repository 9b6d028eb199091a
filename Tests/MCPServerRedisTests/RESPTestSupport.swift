//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServerRedis
import NIOCore

/// A small deterministic random number generator (SplitMix64), so fuzz tests replay the same inputs.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Encodes a value as a server would, to feed the parser.
enum RESPWire {
    static func encode(_ value: RESPValue) -> [UInt8] {
        var out: [UInt8] = []
        encode(value, into: &out)
        return out
    }

    static func encode(_ value: RESPValue, into out: inout [UInt8]) {
        func line(_ prefix: Character, _ text: String) {
            out.append(contentsOf: Array(String(prefix).utf8) + Array(text.utf8) + [13, 10])
        }
        func bulk(_ prefix: Character, _ bytes: [UInt8]) {
            line(prefix, String(bytes.count))
            out.append(contentsOf: bytes + [13, 10])
        }
        switch value {
        case .simpleString(let s): line("+", s)
        case .simpleError(let s): line("-", s)
        case .integer(let i): line(":", String(i))
        case .bulkString(let b): bulk("$", Array(b.readableBytesView))
        case .bulkError(let b): bulk("!", Array(b.readableBytesView))
        case .verbatimString(let format, let text): bulk("=", Array(format.utf8) + [UInt8(ascii: ":")] + Array(text.readableBytesView))
        case .array(let a):
            line("*", String(a.count))
            for e in a { encode(e, into: &out) }
        case .set(let a):
            line("~", String(a.count))
            for e in a { encode(e, into: &out) }
        case .push(let a):
            line(">", String(a.count))
            for e in a { encode(e, into: &out) }
        case .map(let pairs):
            line("%", String(pairs.count))
            for p in pairs {
                encode(p.key, into: &out)
                encode(p.value, into: &out)
            }
        case .attributed(let pairs, let inner):
            line("|", String(pairs.count))
            for p in pairs {
                encode(p.key, into: &out)
                encode(p.value, into: &out)
            }
            encode(inner, into: &out)
        case .null: line("_", "")
        case .boolean(let b): line("#", b ? "t" : "f")
        case .double(let d):
            if d.isNaN {
                line(",", "nan")
            } else if d == .infinity {
                line(",", "inf")
            } else if d == -.infinity {
                line(",", "-inf")
            } else {
                line(",", "\(d)")
            }
        case .bigNumber(let s): line("(", s)
        }
    }

    /// A random value tree with every type, at most `depth` levels deep.
    static func random(_ rng: inout SplitMix64, depth: Int = 4) -> RESPValue {
        let scalarKinds = 10
        let kind = Int.random(in: 0..<(depth > 0 ? scalarKinds + 5 : scalarKinds), using: &rng)
        func text() -> String {
            let alphabet = Array("abcXYZ019 _-:é€")
            return String((0..<Int.random(in: 0..<12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
        }
        func bytes() -> ByteBuffer {
            ByteBuffer(bytes: (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        func children() -> [RESPValue] {
            (0..<Int.random(in: 0..<5, using: &rng)).map { _ in random(&rng, depth: depth - 1) }
        }
        func pairs() -> [RESPValue.Pair] {
            (0..<Int.random(in: 0..<4, using: &rng)).map { _ in
                RESPValue.Pair(key: random(&rng, depth: depth - 1), value: random(&rng, depth: depth - 1))
            }
        }
        switch kind {
        case 0: return .simpleString(text())
        case 1: return .simpleError("ERR " + text())
        case 2: return .integer(Int64.random(in: .min ... .max, using: &rng))
        case 3: return .bulkString(bytes())
        case 4: return .bulkError(bytes())
        case 5: return .verbatimString(format: "txt", text: bytes())
        case 6: return .null
        case 7: return .boolean(Bool.random(using: &rng))
        case 8: return .double([1.5, -0.25, 3e10, .infinity, -.infinity, 0][Int.random(in: 0..<6, using: &rng)])
        case 9: return .bigNumber("-" + String(UInt64.random(in: 0 ... .max, using: &rng)) + "123456789")
        case 10: return .array(children())
        case 11: return .set(children())
        case 12: return .push([.bulkString(ByteBuffer(string: "message"))] + children())
        case 13: return .map(pairs())
        default: return .attributed(attributes: pairs(), value: random(&rng, depth: depth - 1))
        }
    }
}
