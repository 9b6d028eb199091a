//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import NIOCore
import Testing

@testable import MCPServerRedis

@Suite("RESP3 parser fuzzing")
struct RESPFuzzTests {
    /// Tight limits, so random lengths hit them instead of waiting for bytes that never come.
    static let limits = RESPParser.Limits(
        maximumDepth: 16, maximumBulkLength: 1 << 16, maximumAggregateCount: 1 << 12, maximumLineLength: 1 << 10, maximumMessageSize: 1 << 18)

    /// Feeds `bytes` in random chunks; the parser must return values, wait, or throw, and never crash, loop, or
    /// consume bytes it was not given.
    static func feed(_ bytes: [UInt8], _ rng: inout SplitMix64) -> Int {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer()
        var offset = 0
        var values = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, Int.random(in: 1...64, using: &rng))
            buffer.writeBytes(bytes[offset..<offset + chunk])
            offset += chunk
            do {
                while let _ = try parser.next(from: &buffer) {
                    values += 1
                    #expect(values <= bytes.count, "more values than bytes")
                }
            } catch {
                return values
            }
        }
        return values
    }

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        let interesting: [[UInt8]] = [
            Array("\r\n".utf8), Array("-1".utf8), Array("*9999999\r\n".utf8), Array("$2147483648\r\n".utf8), Array("|1\r\n".utf8),
            Array(">".utf8), Array("%".utf8), Array("=".utf8), Array("99999999999999999999999".utf8), [0], [0xFF],
        ]
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            guard !bytes.isEmpty else {
                bytes = interesting.randomElement(using: &rng)!
                continue
            }
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.remove(at: i)
            case 2: bytes.insert(contentsOf: interesting.randomElement(using: &rng)!, at: i)
            case 3: bytes = Array(bytes[..<i])
            case 4: bytes.insert(contentsOf: bytes[i..<min(bytes.count, i + 16)], at: i)
            default: bytes[i] = [13, 10, 48, 57, 45, 42, 36, 37][Int.random(in: 0..<8, using: &rng)]
            }
        }
        return bytes
    }

    @Test func mutatedValidInputNeverCrashes() {
        var rng = SplitMix64(seed: 2026)
        for _ in 0..<5000 {
            let valid = RESPWire.encode(RESPWire.random(&rng))
            _ = Self.feed(Self.mutate(valid, &rng), &rng)
        }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(seed: 11)
        let alphabet: [UInt8] = Array("+-:$*%~>|_#,(!=\r\n0123456789-abc".utf8)
        for round in 0..<5000 {
            let count = Int.random(in: 0..<200, using: &rng)
            let bytes: [UInt8] = (0..<count).map { _ in
                round % 2 == 0 ? UInt8.random(in: 0...255, using: &rng) : alphabet.randomElement(using: &rng)!
            }
            _ = Self.feed(bytes, &rng)
        }
    }

    @Test func deepNestingIsRejectedNotOverflowed() {
        var rng = SplitMix64(seed: 3)
        for prefix in ["*1\r\n", ">1\r\n", "~1\r\n", "%1\r\n+k\r\n", "|0\r\n"] {
            let bytes = Array(String(repeating: prefix, count: 100_000).utf8) + Array(":1\r\n".utf8)
            #expect(Self.feed(bytes, &rng) == 0)
        }
    }
}
