//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Crypto
import Foundation

/// Why a sealed token was refused.
public struct SealedTokenError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String { case malformed, unknownKey, tampered, expired, wrongRequest, wrongPrincipal }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The token is not in the expected format.
        public static let malformed = Code(.malformed)
        /// The token names a key that is not (or no longer) in the key ring.
        public static let unknownKey = Code(.unknownKey)
        /// The token failed authentication: it was altered or sealed with another key.
        public static let tampered = Code(.tampered)
        /// The token's expiry has passed.
        public static let expired = Code(.expired)
        /// The token was issued for another request (method or arguments differ).
        public static let wrongRequest = Code(.wrongRequest)
        /// The token was issued to another principal.
        public static let wrongPrincipal = Code(.wrongPrincipal)
        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code

    public var description: String {
        switch code {
        case .malformed: return "requestState is malformed"
        case .unknownKey: return "requestState was sealed with a key this server no longer accepts"
        case .tampered: return "requestState failed verification"
        case .expired: return "requestState has expired"
        case .wrongRequest: return "requestState belongs to a different request"
        default: return "requestState belongs to a different principal"
        }
    }
}

/// Seals and opens server state that travels through the client (MRTR `requestState`).
///
/// Format: `v1.<keyId>.<base64url(nonce ‖ ciphertext ‖ tag)>`, AES-256-GCM with the version and key id as
/// associated data. The plaintext carries an expiry, the principal and a digest that binds the token to one request
/// (method, target name and arguments), so a token cannot be replayed after it expires, by another caller, or on
/// another call.
public struct RequestStateSealer: Sendable {
    let keyRing: any KeyRing
    let clock: WallClock
    /// How long a sealed token stays valid.
    public var lifetimeMillis: Int64

    /// Creates a sealer.
    /// - Parameters:
    ///   - keyRing: the keys; the current one seals.
    ///   - lifetime: how long a token stays valid (default 10 minutes).
    ///   - clock: the wall clock (injectable for tests).
    public init(keyRing: any KeyRing, lifetime: Duration = .seconds(600), clock: WallClock = .system) {
        self.keyRing = keyRing
        self.clock = clock
        self.lifetimeMillis = lifetime.wholeMilliseconds
    }

    /// The digest that binds a token to one request.
    public static func binding(method: String, target: String?, arguments: JSONValue?) -> String {
        var bytes: [UInt8] = Array(method.utf8)
        bytes.append(0)
        bytes.append(contentsOf: (target ?? "").utf8)
        bytes.append(0)
        if let arguments { JSONWriter.write(arguments, into: &bytes) }
        return Base64URL.encode(Array(SHA256.hash(data: bytes)))
    }

    /// Seals `payload` for one request and principal.
    public func seal(_ payload: JSONValue, binding: String, principal: Principal) async throws -> String {
        let key = try await keyRing.currentKey()
        let plaintext = JSONWriter.encode([
            "exp": .int(clock.millis() + lifetimeMillis),
            "b": .string(binding),
            "p": .string(principal.id),
            "d": payload,
        ])
        let header = "v1.\(key.id)"
        let box = try AES.GCM.seal(plaintext, using: key.key, authenticating: Array(header.utf8))
        guard let combined = box.combined else { throw SealedTokenError(code: .malformed) }
        return header + "." + Base64URL.encode(combined)
    }

    /// Opens a token sealed by ``seal(_:binding:principal:)``, checking key, integrity, expiry, binding and principal.
    public func open(_ token: String, binding: String, principal: Principal) async throws(SealedTokenError) -> JSONValue {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let combined = Base64URL.decode(parts[2]), combined.count >= 28 else {
            throw SealedTokenError(code: .malformed)
        }
        let keyID = String(parts[1])
        let key: RingKey?
        do {
            key = try await keyRing.key(id: keyID)
        } catch {
            throw SealedTokenError(code: .unknownKey)
        }
        guard let key else { throw SealedTokenError(code: .unknownKey) }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            plaintext = try AES.GCM.open(box, using: key.key, authenticating: Array("v1.\(keyID)".utf8))
        } catch {
            throw SealedTokenError(code: .tampered)
        }
        guard let value = try? JSONParser().parse(Array(plaintext)), case .int(let exp)? = value["exp"],
            case .string(let b)? = value["b"], case .string(let p)? = value["p"], let data = value["d"]
        else { throw SealedTokenError(code: .malformed) }
        guard exp > clock.millis() else { throw SealedTokenError(code: .expired) }
        guard b == binding else { throw SealedTokenError(code: .wrongRequest) }
        guard p == principal.id else { throw SealedTokenError(code: .wrongPrincipal) }
        return data
    }
}
