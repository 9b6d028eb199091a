//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import MCPServerTesting
import Synchronization
import Testing

@testable import MCPServer

@Suite("requestState sealing")
struct RequestStateSealerTests {
    let alice = Principal(id: "alice")
    let binding = RequestStateSealer.binding(method: "tools/call", target: "ask", arguments: ["question": "q"])

    func expectFailure(_ code: SealedTokenError.Code, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code)")
        } catch let error as SealedTokenError {
            #expect(error.code == code)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func sealsAndOpens() async throws {
        let sealer = RequestStateSealer(keyRing: StaticKeyRing(keys: [.random()]))
        let token = try await sealer.seal(["answers": ["input-1": ["action": "accept"]]], binding: binding, principal: alice)
        #expect(token.hasPrefix("v1."))
        let opened = try await sealer.open(token, binding: binding, principal: alice)
        #expect(opened["answers"]?["input-1"]?["action"] == "accept")
    }

    @Test func rejectsTampering() async throws {
        let sealer = RequestStateSealer(keyRing: StaticKeyRing(keys: [.random()]))
        let token = try await sealer.seal(["x": 1], binding: binding, principal: alice)
        var bytes = Array(token.utf8)
        // Flip one character of the ciphertext part, keeping it valid base64url.
        let i = bytes.count - 5
        bytes[i] = bytes[i] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let forged = String(decoding: bytes, as: UTF8.self)
        await expectFailure(.tampered) { _ = try await sealer.open(forged, binding: binding, principal: alice) }
        await expectFailure(.malformed) { _ = try await sealer.open("garbage", binding: binding, principal: alice) }
        await expectFailure(.malformed) { _ = try await sealer.open("v1.abc.!!!", binding: binding, principal: alice) }
        await expectFailure(.unknownKey) {
            _ = try await sealer.open("v1.nokey." + String(token.split(separator: ".")[2]), binding: binding, principal: alice)
        }
    }

    @Test func rejectsExpiredState() async throws {
        let now = Mutex<Int64>(1_000_000)
        let clock = WallClock { now.withLock { $0 } }
        let sealer = RequestStateSealer(keyRing: StaticKeyRing(keys: [.random()]), lifetime: .seconds(60), clock: clock)
        let token = try await sealer.seal(["x": 1], binding: binding, principal: alice)
        now.withLock { $0 += 59_000 }
        _ = try await sealer.open(token, binding: binding, principal: alice)
        now.withLock { $0 += 2_000 }
        await expectFailure(.expired) { _ = try await sealer.open(token, binding: binding, principal: alice) }
    }

    @Test func bindsToRequestAndPrincipal() async throws {
        let sealer = RequestStateSealer(keyRing: StaticKeyRing(keys: [.random()]))
        let token = try await sealer.seal(["x": 1], binding: binding, principal: alice)
        let other = RequestStateSealer.binding(method: "tools/call", target: "ask", arguments: ["question": "other"])
        await expectFailure(.wrongRequest) { _ = try await sealer.open(token, binding: other, principal: alice) }
        let otherTool = RequestStateSealer.binding(method: "tools/call", target: "ask-twice", arguments: ["question": "q"])
        await expectFailure(.wrongRequest) { _ = try await sealer.open(token, binding: otherTool, principal: alice) }
        await expectFailure(.wrongPrincipal) { _ = try await sealer.open(token, binding: binding, principal: Principal(id: "mallory")) }
    }

    @Test func rotatesKeysWithoutFailures() async throws {
        let old = RingKey.random()
        let new = RingKey.random()
        // Step 0: only the old key.
        let sealedOld = try await RequestStateSealer(keyRing: StaticKeyRing(keys: [old])).seal(["x": 1], binding: binding, principal: alice)
        // Step 1: new key added as an opening key; old still current.
        let step1 = RequestStateSealer(keyRing: StaticKeyRing(keys: [old, new]))
        _ = try await step1.open(sealedOld, binding: binding, principal: alice)
        // Step 2: new key current; tokens sealed by either open.
        let step2 = RequestStateSealer(keyRing: StaticKeyRing(keys: [new, old]))
        let sealedNew = try await step2.seal(["x": 2], binding: binding, principal: alice)
        _ = try await step2.open(sealedOld, binding: binding, principal: alice)
        _ = try await step1.open(sealedNew, binding: binding, principal: alice)  // a replica still at step 1 opens it too
        // Step 3: old key retired.
        let step3 = RequestStateSealer(keyRing: StaticKeyRing(keys: [new]))
        _ = try await step3.open(sealedNew, binding: binding, principal: alice)
        await expectFailure(.unknownKey) { _ = try await step3.open(sealedOld, binding: binding, principal: alice) }
    }

    @Test func parsesConfiguredKeys() {
        let key = RingKey.random()
        #expect(RingKey(base64: key.base64)?.id == key.id)
        #expect(RingKey(base64: "c2hvcnQ=") == nil)
        #expect(RingKey(base64: "not base64 at all!") == nil)
    }
}

@Suite("Base64url")
struct Base64URLTests {
    @Test func encodesLikeFoundationWithoutPadding() {
        var rng = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(expected) == bytes)
        }
    }

    @Test func decodesStrictly() {
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("AQID") == [1, 2, 3])
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        // Not the alphabet: padding, standard base64's + and /, blanks, non-ASCII.
        for text in ["AQ==", "+/8", "AQ ID", "AQ\nID", "é", "AQ.I"] {
            #expect(Base64URL.decode(text) == nil, "\(text)")
        }
        // A lone last character cannot hold a byte.
        #expect(Base64URL.decode("AQIDB") == nil)
        // Set bits after the last whole byte: a second spelling of the same bytes is refused.
        #expect(Base64URL.decode("AR") == nil)
        #expect(Base64URL.decode("AQ") == [1])
        #expect(Base64URL.decode("AQJ") == nil)
        #expect(Base64URL.decode("AQI") == [1, 2])
    }

    @Test func decodesRandomTextAsFoundationDoes() {
        // Whatever it accepts, Foundation decodes to the same bytes (after mapping the alphabet and padding).
        var rng = SeededRandom(seed: 7)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var accepted = 0
        for _ in 0..<2_000 {
            let length = Int.random(in: 0...24, using: &rng)
            let text = String(decoding: (0..<length).map { _ in alphabet[Int.random(in: 0..<64, using: &rng)] }, as: UTF8.self)
            guard let ours = Base64URL.decode(text) else { continue }
            accepted += 1
            var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            if standard.utf8.count % 4 != 0 { standard += String(repeating: "=", count: 4 - standard.utf8.count % 4) }
            #expect(Data(base64Encoded: standard).map(Array.init) == ours, "\(text)")
            #expect(Base64URL.encode(ours) == text)
        }
        #expect(accepted > 200)
    }
}
