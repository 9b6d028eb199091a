//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The authenticated caller of a request.
///
/// The HTTP edge fills this in through its authenticator; the default is ``anonymous``. Every piece of state a caller
/// creates (a session, an HTTP+SSE session, a sealed `requestState`) is bound to ``id``, never to token bytes: a
/// refreshed token of the same caller keeps it, and anyone else gets what an unknown one gets.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the caller: for a token, its issuer and subject (see ``init(issuer:subject:clientID:scopes:)``).
    public var id: String
    /// What a token said, kept out of line: a principal travels in every request's async frames, which a connection's
    /// task keeps for as long as it lives (docs/performance.md, "Frame sizes").
    private let token: TokenClaims?

    final class TokenClaims: Sendable, Hashable {
        let issuer: String
        let subject: String
        let clientID: String?
        let scopes: Set<String>

        init(issuer: String, subject: String, clientID: String?, scopes: Set<String>) {
            self.issuer = issuer
            self.subject = subject
            self.clientID = clientID
            self.scopes = scopes
        }

        static func == (a: TokenClaims, b: TokenClaims) -> Bool {
            a.issuer == b.issuer && a.subject == b.subject && a.clientID == b.clientID && a.scopes == b.scopes
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(issuer)
            hasher.combine(subject)
        }
    }

    /// The token's issuer (`iss`), when the caller presented one.
    public var issuer: String? { token?.issuer }
    /// The token's subject (`sub`), when the caller presented one.
    public var subject: String? { token?.subject }
    /// The OAuth client the token was issued to (`client_id`, or `azp`), when known.
    public var clientID: String? { token?.clientID }
    /// The scopes the caller was granted; `nil` when the authentication scheme has none (no authorization: nothing
    /// that needs a scope is refused).
    public var scopes: Set<String>? { token?.scopes }

    /// Creates a principal from an identifier alone.
    public init(id: String) {
        self.id = id
        self.token = nil
    }

    /// Creates the principal of an access token: its identifier is the issuer and the subject
    /// (`<length of issuer>:<issuer>|<subject>`, so no two pairs share one), so two issuers' subjects never collide
    /// and a refreshed token is the same caller.
    public init(issuer: String, subject: String, clientID: String? = nil, scopes: Set<String>) {
        self.id = "\(issuer.utf8.count):\(issuer)|\(subject)"
        self.token = TokenClaims(issuer: issuer, subject: subject, clientID: clientID, scopes: scopes)
    }

    /// The caller when no authentication is configured.
    public static let anonymous = Principal(id: "anonymous")

    /// The scopes of `required` this caller lacks; empty when the caller carries no scopes at all (``scopes`` `nil`).
    public func missingScopes(_ required: [String]) -> [String] {
        guard let scopes else { return [] }
        return required.filter { !scopes.contains($0) }
    }

    public var description: String { id }
}
