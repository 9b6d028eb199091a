//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Crypto
import Synchronization

/// Mints and checks legacy session ids: `s1.<keyId>.<128 random bits>.<MAC>`, all base64url.
///
/// The MAC (HMAC-SHA256 with a key-ring key, truncated to 128 bits) lets every replica reject a forged id before
/// any store round trip.
public final class SessionIDAuthority: Sendable {
    let keyRing: any KeyRing
    /// Ids already verified on this replica (a cache of a pure check, bounded; emptied when full). A key retired
    /// from the ring stops being accepted once the process restarts with the new ring, which is how rings change.
    private let verified = Mutex(Set<String>())
    private static let cacheLimit = 65_536

    /// Creates an authority over `keyRing`.
    public init(keyRing: any KeyRing) { self.keyRing = keyRing }

    /// A new session id.
    public func mint() async throws -> String {
        let key = try await keyRing.currentKey()
        var rng = SystemRandomNumberGenerator()
        let random = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let nonce = Base64URL.encode(random)
        return "s1.\(key.id).\(nonce).\(Self.mac(key: key, nonce: nonce))"
    }

    /// Whether `id` was minted by a key still in the ring.
    public func isAuthentic(_ id: String) async -> Bool {
        guard id.utf8.count <= 128 else { return false }
        if verified.withLock({ $0.contains(id) }) { return true }
        guard await verify(id) else { return false }
        verified.withLock { set in
            if set.count >= Self.cacheLimit { set.removeAll(keepingCapacity: true) }
            set.insert(id)
        }
        return true
    }

    private func verify(_ id: String) async -> Bool {
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "s1", let random = Base64URL.decode(parts[2]), random.count == 16,
            let key = try? await keyRing.key(id: String(parts[1]))
        else { return false }
        let expected = Self.mac(key: key, nonce: String(parts[2]))
        // Constant-time comparison of the MAC text.
        let a = Array(expected.utf8)
        let b = Array(parts[3].utf8)
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    static func mac(key: RingKey, nonce: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("mcp-session-id/v1|\(key.id)|\(nonce)".utf8), using: key.key)
        return Base64URL.encode(Array(code).prefix(16))
    }
}
