//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import JWTKit
public import MCPServer
public import MCPServerHTTP

/// Verifies JWT access tokens against the issuer's JSON Web Key Set: an OAuth 2.1 resource server's check, as the MCP
/// authorization spec requires it.
///
/// A token passes when:
/// - its header names an allowed asymmetric algorithm (never `none`, never an HMAC one: a public key is no secret)
///   and a `kid` of the key set, whose key (if it names an algorithm) has the same one;
/// - its signature verifies with that key;
/// - `iss` is the expected issuer, `aud` holds the canonical resource URI (one trailing slash either way is
///   tolerated), `sub` is present, `exp` has not passed and `nbf` has, within ``Configuration/leeway``.
///
/// The caller is ``Principal/init(issuer:subject:clientID:scopes:)``: bound to (issuer, subject), never to the token,
/// with the scopes of `scope` (space-separated) or `scp` (a list or a string).
public struct JWTVerifier: BearerTokenVerifier {
    /// What a token must satisfy.
    public struct Configuration: Sendable {
        /// The expected `iss`.
        public var issuer: String
        /// The canonical resource URI expected in `aud`.
        public var audience: String
        /// The `alg` values accepted.
        public var algorithms: Set<String>
        /// The clock skew tolerated on `exp` and `nbf`.
        public var leeway: Duration

        /// Creates a configuration; by default RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA, with 30 s of
        /// leeway.
        public init(
            issuer: String,
            audience: String,
            algorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"],
            leeway: Duration = .seconds(30)
        ) {
            self.issuer = issuer
            self.audience = audience
            self.algorithms = algorithms.filter { $0 != "none" && !$0.hasPrefix("HS") }
            self.leeway = leeway
        }
    }

    /// What a token must satisfy.
    public let configuration: Configuration
    let keys: JWKSCache

    /// Creates a verifier.
    /// - Parameters:
    ///   - configuration: the expected issuer and audience, the algorithms and the leeway.
    ///   - jwks: where the key set comes from.
    ///   - refreshInterval: a token naming an unknown `kid` makes the key set be fetched again, at most once per this
    ///     interval (a key rotated in is picked up; a flood of forged `kid`s costs one fetch per interval).
    public init(configuration: Configuration, jwks: JWKSSource, refreshInterval: Duration = .seconds(60)) {
        self.configuration = configuration
        self.keys = JWKSCache(source: jwks, refreshInterval: refreshInterval)
    }

    /// Loads the key set now, so that a wrong path or URL fails at start rather than at the first request.
    public func load() async throws {
        try await keys.refresh(force: true)
    }

    public func verify(token: String) async throws -> Principal {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let header = try? JSONParser().parse(headerBytes) else {
            throw Self.invalid("the token is not a JWT")
        }
        guard case .string(let alg)? = header["alg"], configuration.algorithms.contains(alg) else {
            throw Self.invalid("the token's algorithm is not accepted")
        }
        guard case .string(let kid)? = header["kid"] else { throw Self.invalid("the token names no key (kid)") }
        guard let (collection, keyAlgorithm) = try await keys.key(kid) else { throw Self.invalid("the token's key is unknown") }
        if let keyAlgorithm, keyAlgorithm != alg { throw Self.invalid("the token's algorithm does not match its key") }
        let claims: AccessTokenClaims
        do {
            claims = try await collection.verify(token, as: AccessTokenClaims.self)
        } catch {
            throw Self.invalid("the token's signature or claims are not valid")
        }
        return try principal(of: claims, now: Date().timeIntervalSince1970)
    }

    /// The caller a verified token's claims stand for, once they are checked.
    func principal(of claims: AccessTokenClaims, now: Double) throws -> Principal {
        guard claims.iss == configuration.issuer else { throw Self.invalid("the token was issued by another issuer") }
        let audience = Self.trimmingSlash(configuration.audience)
        guard claims.aud?.value.contains(where: { Self.trimmingSlash($0) == audience }) == true else {
            throw Self.invalid("the token is not meant for this resource (aud)")
        }
        guard let subject = claims.sub, !subject.isEmpty else { throw Self.invalid("the token has no subject") }
        let leeway = Double(configuration.leeway.components.seconds)
        guard let exp = claims.exp else { throw Self.invalid("the token has no expiry") }
        guard now < exp + leeway else { throw Self.invalid("the token has expired") }
        if let nbf = claims.nbf, now + leeway < nbf { throw Self.invalid("the token is not valid yet") }
        var scopes = Set((claims.scope ?? "").split(separator: " ").map(String.init))
        scopes.formUnion(claims.scp?.values ?? [])
        return Principal(issuer: configuration.issuer, subject: subject, clientID: claims.clientID ?? claims.azp, scopes: scopes)
    }

    static func trimmingSlash(_ uri: String) -> Substring {
        uri.hasSuffix("/") ? uri.dropLast() : Substring(uri)
    }

    static func invalid(_ message: String) -> MCPAuthenticationError {
        MCPAuthenticationError(message: message, kind: .invalidToken)
    }
}

/// The claims of an access token that the verifier reads.
struct AccessTokenClaims: JWTPayload {
    var iss: String?
    var sub: String?
    var aud: AudienceClaim?
    var exp: Double?
    var nbf: Double?
    var scope: String?
    var scp: ScopeList?
    var clientID: String?
    var azp: String?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, nbf, scope, scp, azp
        case clientID = "client_id"
    }

    /// The claims are checked by ``JWTVerifier`` with its own leeway; the signature by jwt-kit.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// `scp`: a list of scopes, or one space-separated string.
struct ScopeList: Codable, Sendable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let list = try? container.decode([String].self) {
            values = list
        } else {
            values = try container.decode(String.self).split(separator: " ").map(String.init)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }
}
