//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Testing

@testable import MCPServer

@Suite("JSON-RPC envelope")
struct JSONRPCMessageTests {
    func parse(_ text: String) throws(JSONRPCError) -> JSONRPCMessage { try JSONRPCMessage.parse(Array(text.utf8)) }

    @Test func readsRequestsNotificationsAndResponses() throws {
        #expect(try parse(#"{"jsonrpc":"2.0","id":"a","method":"m"}"#) == .request(id: .string("a"), method: "m", params: [:]))
        #expect(try parse(#"{"jsonrpc":"2.0","method":"n","params":{"x":1}}"#) == .notification(method: "n", params: ["x": 1]))
        #expect(try parse(#"{"jsonrpc":"2.0","id":3,"result":{}}"#) == .response(id: .int(3), result: [:]))
        #expect(
            try parse(#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"x"}}"#)
                == .errorResponse(id: .int(3), error: JSONRPCError(code: -1, message: "x"))
        )
    }

    @Test(arguments: [
        (#"not json"#, -32700),
        (#"[{"jsonrpc":"2.0","id":1,"method":"m"}]"#, -32600),
        (#""str""#, -32600),
        (#"{"id":1,"method":"m"}"#, -32600),
        (#"{"jsonrpc":"1.0","id":1,"method":"m"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":null,"method":"m"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":{},"method":"m"}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1,"method":""}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1,"method":7}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (#"{"jsonrpc":"2.0","result":{}}"#, -32600),
        (#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#, -32600),
    ])
    func rejectsInvalidMessages(_ text: String, _ code: Int) {
        #expect(throws: JSONRPCError.self) { try parse(text) }
        do { _ = try parse(text) } catch { #expect(error.code == code) }
    }

    /// Each envelope check names what is wrong, whatever the order of the members.
    @Test(arguments: [
        (#"{"id":1,"method":"m"}"#, #""jsonrpc" must be "2.0""#),
        (#"{"method":"m","id":{},"jsonrpc":"2.0"}"#, #""id" must be a string or an integer"#),
        (#"{"jsonrpc":"2.0","id":1,"method":""}"#, #""method" must be a non-empty string"#),
        (#"{"result":{},"jsonrpc":"2.0","id":1,"method":"m"}"#, #"a request cannot carry "result" or "error""#),
        (#"{"jsonrpc":"2.0","method":"m","error":{"code":1,"message":"x"}}"#, #"a request cannot carry "result" or "error""#),
        (#"{"params":7,"jsonrpc":"2.0","id":1,"method":"m"}"#, #""params" must be an object"#),
        (#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#, "a response cannot carry both result and error"),
        (#"{"jsonrpc":"2.0","result":{}}"#, #"a response needs an "id""#),
        (#"{"jsonrpc":"2.0","id":1,"error":{"code":"1","message":"x"}}"#, #""error" must have an integer code and a string message"#),
    ])
    func namesWhatIsWrong(_ text: String, _ message: String) {
        do {
            _ = try parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message == "Invalid request: \(message)")
        }
    }

    /// Members the envelope does not define are ignored, wherever they are.
    @Test func ignoresUnknownMembers() throws {
        #expect(try parse(#"{"x":1,"jsonrpc":"2.0","id":2,"method":"m","y":[]}"#) == .request(id: .int(2), method: "m", params: [:]))
    }
}
