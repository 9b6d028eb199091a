//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import MCPDemo
import MCPServer
import MCPServerAuth
import MCPServerHTTP
import MCPServerTesting
import NIOCore
import Testing

/// An issuer for the tests: ES256 keys, a JWKS file, and tokens with any claims.
actor TestIssuer {
    static let issuer = "https://issuer.test"
    static let audience = "http://127.0.0.1/mcp"

    let directory: String
    private var keys: [(kid: String, key: ES256PrivateKey)] = []
    private let signer = JWTKeyCollection()

    init() throws {
        directory = NSTemporaryDirectory() + "mcp-auth-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    var jwksPath: String { directory + "/jwks.json" }

    /// Adds a key and writes the key set with every key so far.
    func addKey(_ kid: String) async throws {
        let key = ES256PrivateKey()
        keys.append((kid, key))
        await signer.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        let entries: [JSONValue] = keys.map { entry in
            let (x, y) = entry.key.parameters!
            return ["kty": "EC", "crv": "P-256", "x": .string(x), "y": .string(y), "kid": .string(entry.kid), "alg": "ES256", "use": "sig"]
        }
        try Data(JSONWriter.encode(["keys": .array(entries)])).write(to: URL(fileURLWithPath: jwksPath))
    }

    func token(
        kid: String = "k1", iss: String = TestIssuer.issuer, sub: String = "alice", aud: [String] = [TestIssuer.audience],
        expIn: Double = 3600, nbfIn: Double? = nil, scope: String? = nil
    ) async throws -> String {
        let now = Date().timeIntervalSince1970
        let claims = TestClaims(iss: iss, sub: sub, aud: aud, exp: now + expIn, nbf: nbfIn.map { now + $0 }, scope: scope)
        return try await signer.sign(claims, kid: JWKIdentifier(string: kid))
    }

    func verifier(refresh: Duration = .seconds(60)) -> JWTVerifier {
        JWTVerifier(configuration: .init(issuer: Self.issuer, audience: Self.audience), jwks: .file(jwksPath), refreshInterval: refresh)
    }
}

struct TestClaims: JWTPayload {
    var iss: String
    var sub: String
    var aud: [String]
    var exp: Double
    var nbf: Double?
    var scope: String?
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// `header.payload.signature` with the header replaced (its signature no longer matches, or there is none).
func withHeader(_ token: String, _ header: String) -> String {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    let encoded = Data(header.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
    return encoded + "." + parts[1] + "." + parts[2]
}

@Suite("Authorization")
struct AuthorizationTests {
    static func issuer() async throws -> TestIssuer {
        let issuer = try TestIssuer()
        try await issuer.addKey("k1")
        return issuer
    }

    func rejects(_ verifier: JWTVerifier, _ token: String, _ reason: String) async {
        do {
            _ = try await verifier.verify(token: token)
            Issue.record("accepted a token that is \(reason)")
        } catch let error as MCPAuthenticationError {
            #expect(error.kind == .invalidToken, "\(reason)")
        } catch {
            Issue.record("\(reason): \(error)")
        }
    }

    @Test func aValidTokenIsItsIssuerAndSubjectWithItsScopes() async throws {
        let issuer = try await Self.issuer()
        let verifier = await issuer.verifier()
        let principal = try await verifier.verify(token: try await issuer.token(scope: "demo:write mcp"))
        #expect(principal.id == "\(TestIssuer.issuer.utf8.count):\(TestIssuer.issuer)|alice")
        #expect(principal.issuer == TestIssuer.issuer && principal.subject == "alice")
        #expect(principal.scopes == ["demo:write", "mcp"])
        // A refreshed token is the same caller.
        #expect(try await verifier.verify(token: try await issuer.token(expIn: 60)).id == principal.id)
        // One trailing slash in aud is tolerated.
        #expect(try await verifier.verify(token: try await issuer.token(aud: [TestIssuer.audience + "/"])).id == principal.id)
    }

    @Test func invalidTokensAreRefused() async throws {
        let issuer = try await Self.issuer()
        let verifier = await issuer.verifier()
        await rejects(verifier, try await issuer.token(expIn: -120), "expired")
        await rejects(verifier, try await issuer.token(nbfIn: 600), "not valid yet")
        await rejects(verifier, try await issuer.token(iss: "https://other.test"), "of another issuer")
        await rejects(verifier, try await issuer.token(aud: ["http://127.0.0.1/other"]), "for another audience")
        await rejects(verifier, try await issuer.token(kid: "k1", sub: ""), "without a subject")
        let good = try await issuer.token()
        await rejects(verifier, withHeader(good, #"{"alg":"none","kid":"k1"}"#), "alg none")
        await rejects(verifier, withHeader(good, #"{"alg":"HS256","kid":"k1"}"#), "HMAC with the public key")
        await rejects(verifier, withHeader(good, #"{"alg":"ES256","kid":"k9"}"#), "of an unknown key")
        await rejects(verifier, withHeader(good, #"{"alg":"RS256","kid":"k1"}"#), "of another algorithm than its key")
        var tampered = Array(good)
        tampered[tampered.count - 5] = tampered[tampered.count - 5] == "A" ? "B" : "A"
        await rejects(verifier, String(tampered), "badly signed")
        await rejects(verifier, "not.a.jwt", "garbage")
        await rejects(verifier, "", "empty")
    }

    @Test func aKeyRotatedInIsPickedUpOnItsFirstToken() async throws {
        let issuer = try await Self.issuer()
        let verifier = await issuer.verifier(refresh: .zero)
        try await verifier.load()
        try await issuer.addKey("k2")
        #expect(try await verifier.verify(token: try await issuer.token(kid: "k2")).id.hasSuffix("|alice"))
        // Within the refresh interval, an unknown kid does not reload the set.
        let slow = await issuer.verifier(refresh: .seconds(3600))
        try await slow.load()
        try await issuer.addKey("k3")
        await rejects(slow, try await issuer.token(kid: "k3"), "of a key added within the refresh interval")
    }

    @Test func malformedHeadersAndTokensOnlyEverGetAuthenticationErrors() async throws {
        let issuer = try await Self.issuer()
        let authenticator = BearerAuthenticator(verifier: await issuer.verifier(refresh: .seconds(3600)))
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ABCxyz019-._~+/= \t.{}\"éBearer bearer ".unicodeScalars)
        let good = try await issuer.token()
        for i in 0..<1500 {
            var value: String
            switch i % 3 {
            case 0: value = String(String.UnicodeScalarView((0..<Int.random(in: 0...80, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
            case 1: value = "Bearer " + String(good.shuffled(using: &rng).prefix(Int.random(in: 0...good.count, using: &rng)))
            default:
                var bytes = Array(good.utf8)
                for _ in 0..<3 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0x21...0x7E, using: &rng) }
                value = "Bearer " + String(decoding: bytes, as: UTF8.self)
            }
            var headers = HTTPFields()
            headers.append(HTTPField(name: .authorization, value: value))
            do {
                _ = try await authenticator.authenticate(headers: headers)
            } catch is MCPAuthenticationError {
            } catch {
                Issue.record("\(value): \(error)")
            }
        }
    }

    // MARK: Over HTTP

    static func server() -> MCPServer {
        let server = MCPServer(configuration: MCPServerConfiguration(name: "demo", version: "1"), backends: .inMemory())
        DemoServer.register(on: server)
        return server
    }

    static func configuration(_ issuer: TestIssuer) async -> MCPHTTPConfiguration {
        MCPHTTPConfiguration(
            authenticator: BearerAuthenticator(verifier: await issuer.verifier()),
            resourceMetadata: ProtectedResourceMetadata(
                resource: TestIssuer.audience, authorizationServers: [TestIssuer.issuer], scopesSupported: [DemoServer.writeScope]
            )
        )
    }

    static let metadataURL = "http://127.0.0.1/.well-known/oauth-protected-resource/mcp"

    @Test func theResourceServerServesItsMetadataAndChallenges() async throws {
        let issuer = try await Self.issuer()
        try await Self.server().withTestClient(configuration: await Self.configuration(issuer)) { client in
            for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
                let r = try await client.client.executeRequest(uri: path, method: .get, headers: [:], body: nil)
                #expect(r.status == .ok)
                let document = try JSONParser().parse(Array(buffer: r.body))
                #expect(document["resource"] == .string(TestIssuer.audience))
                #expect(document["authorization_servers"] == [.string(TestIssuer.issuer)])
                #expect(document["scopes_supported"] == ["demo:write"])
                #expect(document["bearer_methods_supported"] == ["header"])
            }
            var headers = client.headers(method: "tools/call", params: ["name": "echo"])
            let body = JSONWriter.encode(["jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": .object(client.params(["name": "echo", "arguments": ["text": "hi"]]))])
            let missing = try await client.raw(body: body, headers: headers)
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.wwwAuthenticate] == #"Bearer resource_metadata="\#(Self.metadataURL)""#)
            #expect(missing.error?["code"] == -32600)
            headers[.authorization] = "Bearer " + (try await issuer.token(expIn: -300))
            let expired = try await client.raw(body: body, headers: headers)
            #expect(expired.status == .unauthorized)
            #expect(
                expired.headers[.wwwAuthenticate]
                    == #"Bearer resource_metadata="\#(Self.metadataURL)", error="invalid_token", error_description="the token has expired""#
            )
            headers[.authorization] = "Basic YWxpY2U6cHc="
            #expect(try await client.raw(body: body, headers: headers).status == .badRequest)
            headers[.authorization] = "Bearer " + (try await issuer.token())
            #expect(try await client.raw(body: body, headers: headers).status == .ok)
            let query = try await client.client.executeRequest(uri: "/mcp?access_token=x", method: .post, headers: headers, body: ByteBuffer(bytes: body))
            #expect(query.status == .badRequest)
        }
    }

    @Test func aToolsScopeIsRequiredWithA403() async throws {
        let issuer = try await Self.issuer()
        try await Self.server().withTestClient(configuration: await Self.configuration(issuer)) { client in
            let params = client.params(["name": "touch", "arguments": ["uri": "demo://x"]])
            var headers = client.headers(method: "tools/call", params: params)
            let body = JSONWriter.encode(["jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": .object(params)])
            headers[.authorization] = "Bearer " + (try await issuer.token(scope: "other"))
            let refused = try await client.raw(body: body, headers: headers)
            #expect(refused.status == .forbidden)
            // Exactly the issue's form: error, scope, resource_metadata.
            #expect(refused.headers[.wwwAuthenticate]?.hasPrefix(#"Bearer error="insufficient_scope""#) == true)
            #expect(refused.headers[.wwwAuthenticate]?.contains(#"scope="demo:write", resource_metadata="\#(Self.metadataURL)""#) == true)
            #expect(refused.headers[.wwwAuthenticate] == #"Bearer error="insufficient_scope", scope="demo:write", resource_metadata="\#(Self.metadataURL)""#)
            #expect(refused.final?["id"] == 7)
            headers[.authorization] = "Bearer " + (try await issuer.token(scope: "demo:write"))
            #expect(try await client.raw(body: body, headers: headers).status == .ok)
        }
    }

    @Test func aSessionBelongsToItsPrincipalAcrossRefreshedTokens() async throws {
        let issuer = try await Self.issuer()
        try await Self.server().withTestClient(configuration: await Self.configuration(issuer)) { client in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.accept] = "application/json, text/event-stream"
            headers[.authorization] = "Bearer " + (try await issuer.token(sub: "alice"))
            let initialize = JSONWriter.encode(["jsonrpc": "2.0", "id": 1, "method": "initialize", "params": ["protocolVersion": "2025-11-25", "capabilities": [:]]])
            let created = try await client.raw(body: initialize, headers: headers)
            let session = try #require(created.headers[HTTPField.Name("Mcp-Session-Id")!])
            headers[HTTPField.Name("Mcp-Session-Id")!] = session
            headers[HTTPField.Name("MCP-Protocol-Version")!] = "2025-11-25"
            let ping = JSONWriter.encode(["jsonrpc": "2.0", "id": 2, "method": "ping"])
            headers[.authorization] = "Bearer " + (try await issuer.token(sub: "alice", expIn: 120))
            #expect(try await client.raw(body: ping, headers: headers).status == .ok)
            headers[.authorization] = "Bearer " + (try await issuer.token(sub: "bob"))
            let foreign = try await client.raw(body: ping, headers: headers)
            #expect(foreign.status == .notFound)
            #expect(foreign.error?["message"] == "Session not found")
        }
    }
}
