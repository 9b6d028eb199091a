//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import HTTPTypes
public import MCPServer

/// Verifies a bearer access token and says who presented it: the plug-in point for JWTs (`MCPServerAuth`), opaque
/// tokens (RFC 7662 introspection) or any other scheme.
public protocol BearerTokenVerifier: Sendable {
    /// The caller a valid token stands for, with its scopes.
    /// - Throws: ``MCPAuthenticationError`` (kind ``MCPAuthenticationError/Kind/invalidToken``) for a token that is
    ///   malformed, forged, expired or not meant for this server; any other error counts as an invalid token too.
    func verify(token: String) async throws -> Principal
}

/// An OAuth 2.1 resource server's authenticator: reads `Authorization: Bearer <token>` (`400` if malformed, `401`
/// if missing), has a ``BearerTokenVerifier`` check the token (`401` if invalid), and requires `requiredScopes` of
/// every request (`403`).
public struct BearerAuthenticator: MCPAuthenticator {
    /// Checks the tokens.
    public let verifier: any BearerTokenVerifier
    /// Scopes every request needs.
    public let requiredScopes: [String]

    /// Creates an authenticator.
    public init(verifier: any BearerTokenVerifier, requiredScopes: [String] = []) {
        self.verifier = verifier
        self.requiredScopes = requiredScopes
    }

    public func authenticate(headers: HTTPFields) async throws -> Principal {
        let values = headers[values: .authorization]
        guard let value = values.first else { throw MCPAuthenticationError(message: "a bearer token is required") }
        guard values.count == 1, let token = Self.bearerToken(value) else {
            throw MCPAuthenticationError(message: "the Authorization header must be 'Bearer <token>'", kind: .invalidRequest)
        }
        let principal: Principal
        do {
            principal = try await verifier.verify(token: token)
        } catch let error as MCPAuthenticationError {
            throw error
        } catch {
            throw MCPAuthenticationError(message: "the token is not valid", kind: .invalidToken)
        }
        let missing = principal.missingScopes(requiredScopes)
        guard missing.isEmpty else {
            throw MCPAuthenticationError(message: "the token lacks the scope \(missing.joined(separator: " "))", kind: .insufficientScope(requiredScopes))
        }
        return principal
    }

    /// The token of an `Authorization` value `Bearer <token68>` (scheme case-insensitive); `nil` otherwise.
    static func bearerToken(_ value: String) -> String? {
        let utf8 = value.utf8
        guard utf8.count > 7, utf8.count <= 16 * 1024, utf8.prefix(6).map({ $0 | 0x20 }) == Array("bearer".utf8), utf8.dropFirst(6).first == 0x20
        else { return nil }
        let token = value.utf8.dropFirst(7)
        // token68: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=" padding only.
        var padding = false
        for byte in token {
            let isChar = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E || byte == 0x2B || byte == 0x2F
            if byte == 0x3D {
                padding = true
            } else if !isChar || padding {
                return nil
            }
        }
        return token.isEmpty ? nil : String(token)
    }
}

/// Protected resource metadata (RFC 9728): what a client needs to find the authorization server and the scopes, served
/// at `/.well-known/oauth-protected-resource` and at its path-suffixed form, and named in every challenge.
public struct ProtectedResourceMetadata: Sendable, Hashable {
    /// The canonical URI of this MCP server (the `aud` its tokens must carry), e.g. `https://mcp.example.com/mcp`.
    public var resource: String
    /// The authorization servers that issue its tokens (their issuer identifiers).
    public var authorizationServers: [String]
    /// The scopes it knows.
    public var scopesSupported: [String]
    /// The scopes every request needs: named in the `scope` of `401` challenges.
    public var requiredScopes: [String]

    /// Creates the metadata.
    public init(resource: String, authorizationServers: [String], scopesSupported: [String] = [], requiredScopes: [String] = []) {
        self.resource = resource
        self.authorizationServers = authorizationServers
        self.scopesSupported = scopesSupported
        self.requiredScopes = requiredScopes
    }

    /// The path of ``resource`` (`/mcp`), or `""` when it has none.
    var resourcePath: String {
        guard let scheme = resource.range(of: "://") else { return "" }
        let rest = resource[scheme.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        let path = rest[slash...].prefix { $0 != "?" && $0 != "#" }
        return path == "/" ? "" : String(path.hasSuffix("/") ? path.dropLast() : path)
    }

    /// The paths the document is served at: the path-suffixed form first (`/.well-known/oauth-protected-resource/mcp`),
    /// then the bare one.
    public var documentPaths: [String] {
        let base = "/.well-known/oauth-protected-resource"
        return resourcePath.isEmpty ? [base] : [base + resourcePath, base]
    }

    /// The document's URL, named as `resource_metadata` in challenges: the path-suffixed form on the resource's origin.
    public var documentURL: String {
        guard let scheme = resource.range(of: "://") else { return documentPaths[0] }
        let rest = resource[scheme.upperBound...]
        let origin = resource[..<(rest.firstIndex(of: "/") ?? resource.endIndex)]
        return origin + documentPaths[0]
    }

    /// The document.
    public var json: JSONValue {
        [
            "resource": .string(resource),
            "authorization_servers": .array(authorizationServers.map { .string($0) }),
            "scopes_supported": .array(scopesSupported.map { .string($0) }),
            "bearer_methods_supported": ["header"],
        ]
    }
}

/// A `WWW-Authenticate: Bearer …` challenge (RFC 6750, RFC 9728).
enum BearerChallenge {
    /// The header value: `Bearer` and its parameters, quoted.
    static func value(_ parameters: [(String, String)]) -> String {
        guard !parameters.isEmpty else { return "Bearer" }
        return "Bearer " + parameters.map { name, value in
            var escaped = ""
            for character in value {
                if character == "\\" || character == "\"" { escaped.append("\\") }
                escaped.append(character)
            }
            return "\(name)=\"\(escaped)\""
        }.joined(separator: ", ")
    }

    /// The challenge of a refused request, in the order the MCP authorization spec shows them:
    /// - `401` and `400`: `Bearer resource_metadata="…", scope="…"` (the scopes every request needs, when there are
    ///   any), then, for a token or header that is wrong, `error` and `error_description`;
    /// - `403`: `Bearer error="insufficient_scope", scope="…", resource_metadata="…"`.
    static func value(for error: MCPAuthenticationError, metadata: ProtectedResourceMetadata?) -> String {
        let location = metadata.map { [("resource_metadata", $0.documentURL)] } ?? []
        func scope(_ scopes: [String]) -> [(String, String)] { scopes.isEmpty ? [] : [("scope", scopes.joined(separator: " "))] }
        let required = scope(metadata?.requiredScopes ?? [])
        switch error.kind {
        case .missingToken:
            return value(location + required)
        case .invalidToken:
            return value(location + required + [("error", "invalid_token"), ("error_description", error.message)])
        case .invalidRequest:
            return value(location + required + [("error", "invalid_request"), ("error_description", error.message)])
        case .insufficientScope(let needed):
            return value([("error", "insufficient_scope")] + scope(needed) + location)
        }
    }
}
