//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Crypto
import Foundation

/// One key of a ``KeyRing``: a 256-bit symmetric key and its public identifier.
public struct RingKey: Sendable {
    /// A short identifier derived from the key material; it travels in clear inside sealed values.
    public var id: String
    /// The key material.
    public var key: SymmetricKey

    /// Wraps key material; the id is derived from a digest of the key.
    public init(key: SymmetricKey) {
        self.key = key
        let digest = key.withUnsafeBytes { SHA256.hash(data: Data("mcp-key-id".utf8) + Data($0)) }
        self.id = Base64URL.encode(Array(digest.prefix(6)))
    }

    /// Reads a key from its base64 (or base64url) text; it must decode to exactly 32 bytes.
    public init?(base64: String) {
        guard let bytes = Base64URL.decodeLenient(base64), bytes.count == 32 else { return nil }
        self.init(key: SymmetricKey(data: bytes))
    }

    /// A new random key.
    public static func random() -> RingKey { RingKey(key: SymmetricKey(size: .bits256)) }

    /// The key material as standard base64, for configuration files.
    public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }
}

/// The keys that seal and open server-issued tokens (`requestState`, session ids).
///
/// Exactly one key is current and seals; every key in the ring opens. Rotation is three steps, each rolled
/// out to every replica before the next: add the new key as an opening key, make it current, then retire the old
/// one once every token it sealed has expired.
public protocol KeyRing: Sendable {
    /// The key that seals new tokens.
    func currentKey() async throws -> RingKey
    /// The key with this id, if it is still accepted.
    func key(id: String) async throws -> RingKey?
}

/// A key ring fixed at start-up: the first key seals, all keys open.
public struct StaticKeyRing: KeyRing {
    /// The keys; the first is current.
    public let keys: [RingKey]

    /// Creates a ring.
    /// - Parameter keys: at least one key; the first seals.
    public init(keys: [RingKey]) {
        precondition(!keys.isEmpty, "a key ring needs at least one key")
        self.keys = keys
    }

    public func currentKey() async throws -> RingKey { keys[0] }

    public func key(id: String) async throws -> RingKey? { keys.first { $0.id == id } }
}

/// Base64url without padding (RFC 4648 §5).
enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count * 4 + 2) / 3)
        var i = 0
        while i + 2 < input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = input.count - i
        if rest == 1 {
            let n = UInt32(input[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
        } else if rest == 2 {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base64url (no padding) strictly, on bytes: only the 64 alphabet characters, never a length that
    /// leaves a lone character, and no set bits after the last whole byte (one encoding per byte string).
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let count = text.utf8.count
        if count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let value: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "_"): value = 63
            default: return nil
            }
            accumulator = (accumulator << 6 | UInt32(value)) & 0xFFFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // What is left over (2 or 4 bits) must be zero padding.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }

    /// Decodes standard base64 or base64url, with or without padding.
    static func decodeLenient(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "=", with: "")
        return decode(trimmed.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
    }
}

/// Wall-clock milliseconds since the Unix epoch; shared tokens carry wall-clock expiries because they cross replicas.
public struct WallClock: Sendable {
    let now: @Sendable () -> Int64

    /// The system clock.
    public static let system = WallClock { Int64(Date().timeIntervalSince1970 * 1000) }

    /// A clock that reads `now`; for tests.
    public init(now: @escaping @Sendable () -> Int64) { self.now = now }

    /// The current time in milliseconds since the epoch.
    public func millis() -> Int64 { now() }
}
