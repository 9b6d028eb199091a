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
