//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPDemo
import Synchronization
import Testing

@testable import MCPServer

/// Records what a handler sends on its stream.
final class RecordingSink: MessageSink {
    let messages = Mutex<[JSONValue]>([])
    var all: [JSONValue] { messages.withLock { $0 } }
    func send(_ message: JSONValue) async throws { messages.withLock { $0.append(message) } }
}

func makeDemoServer(pageSize: Int = 50) -> MCPServer {
    let server = MCPServer(
        configuration: MCPServerConfiguration(name: "test", version: "1", pageSize: pageSize),
        backends: .inMemory()
    )
    DemoServer.register(on: server)
    return server
}

let allCapabilities: JSONValue = ["elicitation": ["form": [:], "url": [:]], "sampling": [:], "roots": ["listChanged": true]]

func call(
    _ server: MCPServer,
    _ method: String,
    _ params: [String: JSONValue] = [:],
    capabilities: JSONValue = allCapabilities,
    meta extra: [String: JSONValue] = [:],
    principal: Principal = .anonymous,
    sink: RecordingSink = RecordingSink()
) async -> JSONValue {
    var p = params
    var meta: [String: JSONValue] = [
        MetaKey.protocolVersion: "2026-07-28", MetaKey.clientCapabilities: capabilities,
        MetaKey.clientInfo: ["name": "t", "version": "1"],
    ]
    for (k, v) in extra { meta[k] = v }
    p["_meta"] = .object(meta)
    return await server.handle(IncomingRequest(id: .int(1), method: method, params: p, principal: principal), sink: sink) ?? .null
}

@Suite("2026-07-28 runtime")
struct RuntimeTests {
    @Test func discoverAdvertisesVersionsCapabilitiesAndCaching() async {
        let r = await call(makeDemoServer(), "server/discover")["result"]
        #expect(r?["resultType"] == "complete")
        #expect(r?["supportedVersions"] == ["2026-07-28"])
        #expect(r?["capabilities"]?["tools"] != nil)
        #expect(r?["capabilities"]?["resources"]?["subscribe"] == true)
        #expect(r?["_meta"]?[MetaKey.serverInfo]?["name"] == "test")
        #expect(r?["ttlMs"]?.intValue == 300_000)
        #expect(r?["cacheScope"] == "public")
    }

    @Test func toolsListIsDeterministicAndPaginated() async throws {
        let server = makeDemoServer(pageSize: 4)
        var names: [String] = []
        var cursor: JSONValue?
        var pages = 0
        repeat {
            let r = await call(server, "tools/list", cursor.map { ["cursor": $0] } ?? [:])["result"]
            #expect(r?["ttlMs"] != nil && r?["cacheScope"] != nil)
            names += r?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            cursor = r?["nextCursor"]
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3)
        #expect(names == ["echo", "add", "countdown", "ask", "ask-twice", "summarize", "list-roots", "touch", "fail", "long-job"])
        let bad = await call(server, "tools/list", ["cursor": "bm9wZQ"])
        #expect(bad["error"]?["code"] == -32602)
    }

    @Test func callsTools() async {
        let server = makeDemoServer()
        let echo = await call(server, "tools/call", ["name": "echo", "arguments": ["text": "hi"]])["result"]
        #expect(echo?["content"] == [["type": "text", "text": "hi"]])
        #expect(echo?["resultType"] == "complete")
        let add = await call(server, "tools/call", ["name": "add", "arguments": ["a": 2, "b": 3]])["result"]
        #expect(add?["structuredContent"] == ["sum": 5])
        let fail = await call(server, "tools/call", ["name": "fail"])["result"]
        #expect(fail?["isError"] == true)
        let invalid = await call(server, "tools/call", ["name": "add", "arguments": ["a": "x", "b": 3]])["result"]
        #expect(invalid?["isError"] == true)
        let unknown = await call(server, "tools/call", ["name": "nope"])
        #expect(unknown["error"]?["code"] == -32602)
        let badArgs = await call(server, "tools/call", ["name": "echo", "arguments": [1]])
        #expect(badArgs["error"]?["code"] == -32602)
    }

    @Test func progressAndLogsFollowTheRequestMeta() async {
        let server = makeDemoServer()
        let sink = RecordingSink()
        _ = await call(
            server, "tools/call", ["name": "countdown", "arguments": ["steps": 3, "intervalMs": 0]],
            meta: ["progressToken": "p", MetaKey.logLevel: "info"], sink: sink
        )
        let methods = sink.all.compactMap { $0["method"]?.stringValue }
        #expect(methods.filter { $0 == "notifications/progress" }.count == 3)
        #expect(methods.filter { $0 == "notifications/message" }.count == 3)
        let quiet = RecordingSink()
        _ = await call(server, "tools/call", ["name": "countdown", "arguments": ["steps": 2, "intervalMs": 0]], sink: quiet)
        #expect(quiet.all.isEmpty)
        let warnOnly = RecordingSink()
        _ = await call(
            server, "tools/call", ["name": "countdown", "arguments": ["steps": 2, "intervalMs": 0]],
            meta: [MetaKey.logLevel: "warning"], sink: warnOnly
        )
        #expect(warnOnly.all.isEmpty)
        let badLevel = await call(server, "tools/list", meta: [MetaKey.logLevel: "loud"])
        #expect(badLevel["error"]?["code"] == -32602)
    }

    @Test func mrtrRoundsAccumulate() async throws {
        let server = makeDemoServer()
        let params: [String: JSONValue] = ["name": "ask-twice", "arguments": [:]]
        let round1 = await call(server, "tools/call", params)["result"]
        #expect(round1?["resultType"] == "input_required")
        let key1 = try #require(round1?["inputRequests"]?.objectValue?.keys.first)
        #expect(round1?["inputRequests"]?[key1]?["method"] == "elicitation/create")
        var retry = params
        retry["requestState"] = round1?["requestState"]
        retry["inputResponses"] = .object([key1: ["action": "accept", "content": ["answer": "one"]]])
        let round2 = await call(server, "tools/call", retry)["result"]
        #expect(round2?["resultType"] == "input_required")
        let key2 = try #require(round2?["inputRequests"]?.objectValue?.keys.first)
        #expect(key2 != key1)
        var retry2 = params
        retry2["requestState"] = round2?["requestState"]
        retry2["inputResponses"] = .object([key2: ["action": "accept", "content": ["answer": "two"]]])
        let done = await call(server, "tools/call", retry2)["result"]
        #expect(done?["content"] == [["type": "text", "text": "first: one, second: two"]])
    }

    @Test func inputsAskedTogetherGoOutTogetherUnderTheirKeys() async throws {
        let server = MCPServer(configuration: MCPServerConfiguration(name: "test", version: "1"), backends: .inMemory())
        server.registerTool(Tool(name: "batch", inputSchema: ["type": "object"])) { _, context in
            let answers = try await context.inputs([
                .elicitation(message: "Name?", requestedSchema: ["type": "object", "properties": ["name": ["type": "string"]]], key: "user_name"),
                .sampling(["messages": [], "maxTokens": 5], key: "greeting"),
                .roots(),
            ])
            let again = try await context.elicit(message: "Sure?", requestedSchema: ["type": "object"], key: "confirm")
            return .text("\(answers[0]["content"]?["name"]?.stringValue ?? "?") \(answers[1]["content"]?["text"]?.stringValue ?? "?") \(answers[2]["roots"]?.arrayValue?.count ?? -1) \(again.action)")
        }
        let params: [String: JSONValue] = ["name": "batch", "arguments": [:]]
        let round1 = await call(server, "tools/call", params)["result"]
        #expect(round1?["resultType"] == "input_required")
        // All three at once, under the handler's keys (an unkeyed one numbered); the later question not yet.
        #expect(round1?["inputRequests"]?.objectValue.map { Set($0.keys) } == ["user_name", "greeting", "input-1"])
        #expect(round1?["inputRequests"]?["greeting"]?["method"] == "sampling/createMessage")
        #expect(round1?["inputRequests"]?["input-1"]?["method"] == "roots/list")
        var retry = params
        retry["requestState"] = round1?["requestState"]
        retry["inputResponses"] = [
            "user_name": ["action": "accept", "content": ["name": "Ada"]],
            "greeting": ["role": "assistant", "content": ["type": "text", "text": "hi"], "model": "m"],
            "input-1": ["roots": [["uri": "file:///a"]]],
            "unasked": ["action": "accept"],
        ]
        let round2 = await call(server, "tools/call", retry)["result"]
        #expect(round2?["inputRequests"]?.objectValue.map { Array($0.keys) } == ["confirm"])
        // The state seals the three answers asked for, not the one nobody asked.
        let sealed = try await server.sealer.open(
            try #require(round2?["requestState"]?.stringValue),
            binding: RequestStateSealer.binding(method: "tools/call", target: "batch", arguments: [:]),
            principal: .anonymous
        )
        #expect(sealed["answers"]?.objectValue.map { Set($0.keys) } == ["user_name", "greeting", "input-1"])
        // The last round carries only its own answer: the earlier ones are sealed in the state.
        var retry2 = params
        retry2["requestState"] = round2?["requestState"]
        retry2["inputResponses"] = ["confirm": ["action": "decline"]]
        let done = await call(server, "tools/call", retry2)["result"]
        #expect(done?["content"] == [["type": "text", "text": "Ada hi 1 decline"]])
        // A client without sampling is refused before anything is asked.
        let noSampling = await call(server, "tools/call", params, capabilities: ["elicitation": [:], "roots": [:]])
        #expect(noSampling["error"]?["code"] == -32021)
        // Keys a handler must not use: the generated form, and one key twice in a batch.
        server.registerTool(Tool(name: "bad-keys", inputSchema: ["type": "object"])) { arguments, context in
            let schema: JSONValue = ["type": "object"]
            if arguments["twice"] != nil {
                _ = try await context.inputs([.roots(key: "k"), .elicitation(message: "?", requestedSchema: schema, key: "k")])
            } else {
                _ = try await context.elicit(message: "?", requestedSchema: schema, key: "input-7")
            }
            return .text("unreachable")
        }
        for arguments: JSONValue in [[:], ["twice": true]] {
            let refused = await call(server, "tools/call", ["name": "bad-keys", "arguments": arguments])
            #expect(refused["error"]?["code"] == -32603)
        }
    }

    @Test func mrtrChecksStateAndCapabilities() async throws {
        let server = makeDemoServer()
        let round1 = await call(server, "tools/call", ["name": "ask", "arguments": ["question": "q"]])["result"]
        let state = try #require(round1?["requestState"])
        // Replayed on another call: refused.
        let other = await call(server, "tools/call", ["name": "ask", "arguments": ["question": "other"], "requestState": state])
        #expect(other["error"]?["code"] == -32602)
        // Replayed by another principal: refused.
        let stolen = await call(
            server, "tools/call", ["name": "ask", "arguments": ["question": "q"], "requestState": state], principal: Principal(id: "eve")
        )
        #expect(stolen["error"]?["code"] == -32602)
        // Forged: refused.
        let forged = await call(server, "tools/call", ["name": "ask", "arguments": ["question": "q"], "requestState": "v1.x.AAAA"])
        #expect(forged["error"]?["code"] == -32602)
        // A client without elicitation: MissingRequiredClientCapability.
        let noCaps = await call(server, "tools/call", ["name": "ask", "arguments": ["question": "q"]], capabilities: [:])
        #expect(noCaps["error"]?["code"] == -32021)
        #expect(noCaps["error"]?["data"]?["requiredCapabilities"]?["elicitation"] != nil)
        // Sampling and roots round trips.
        let s1 = await call(server, "tools/call", ["name": "summarize", "arguments": ["text": "long"]])["result"]
        let sk = try #require(s1?["inputRequests"]?.objectValue?.keys.first)
        let s2 = await call(
            server, "tools/call",
            [
                "name": "summarize", "arguments": ["text": "long"], "requestState": s1?["requestState"] ?? .null,
                "inputResponses": .object([sk: ["role": "assistant", "content": ["type": "text", "text": "short"], "model": "m"]]),
            ]
        )["result"]
        #expect(s2?["content"] == [["type": "text", "text": "short"]])
        let r1 = await call(server, "tools/call", ["name": "list-roots"])["result"]
        let rk = try #require(r1?["inputRequests"]?.objectValue?.keys.first)
        let r2 = await call(
            server, "tools/call",
            [
                "name": "list-roots", "requestState": r1?["requestState"] ?? .null,
                "inputResponses": .object([rk: ["roots": [["uri": "file:///a"], ["uri": "file:///b"]]]]),
            ]
        )["result"]
        #expect(r2?["content"] == [["type": "text", "text": "file:///a\nfile:///b"]])
    }

    @Test func resourcesPromptsAndCompletions() async {
        let server = makeDemoServer()
        let list = await call(server, "resources/list")["result"]
        #expect(list?["resources"]?.arrayValue?.count == 3)
        let templates = await call(server, "resources/templates/list")["result"]
        #expect(templates?["resourceTemplates"]?.arrayValue?.first?["uriTemplate"] == "demo://items/{id}")
        let item = await call(server, "resources/read", ["uri": "demo://items/42"])["result"]
        #expect(item?["contents"]?.arrayValue?.first?["text"] == "item 42")
        #expect(item?["ttlMs"]?.intValue == 60_000)
        let missing = await call(server, "resources/read", ["uri": "demo://nope"])
        #expect(missing["error"]?["code"] == -32602)
        let prompt = await call(server, "prompts/get", ["name": "greet", "arguments": ["name": "Ada"]])["result"]
        #expect(prompt?["messages"]?.arrayValue?.first?["content"]?["text"] == "Please greet Ada warmly.")
        let noArg = await call(server, "prompts/get", ["name": "greet"])
        #expect(noArg["error"]?["code"] == -32602)
        let completion = await call(
            server, "completion/complete", ["ref": ["type": "ref/prompt", "name": "greet"], "argument": ["name": "name", "value": "a"]]
        )["result"]
        #expect(completion?["completion"]?["values"] == ["Ada", "Alan"])
        let ids = await call(
            server, "completion/complete",
            ["ref": ["type": "ref/resource", "uri": "demo://items/{id}"], "argument": ["name": "id", "value": "1"]]
        )["result"]
        #expect(ids?["completion"]?["values"]?.arrayValue?.count == 11)
    }

    @Test func rejectsUnknownMethodsAndVersions() async {
        let server = makeDemoServer()
        #expect(await call(server, "ping")["error"]?["code"] == -32601)
        #expect(await call(server, "initialize")["error"]?["code"] == -32601)
        let old = await call(server, "tools/list", meta: [MetaKey.protocolVersion: "1900-01-01"])
        #expect(old["error"]?["code"] == -32022)
        #expect(old["error"]?["data"]?["supported"] == ["2026-07-28"])
        let noMeta = await server.handle(IncomingRequest(id: .int(1), method: "tools/list", params: [:]), sink: DiscardingSink())
        #expect(noMeta?["error"]?["code"] == -32602)
    }

    @Test func listenAcknowledgesDeliversAndDrains() async throws {
        let server = makeDemoServer()
        let sink = RecordingSink()
        try await withThrowingTaskGroup(of: JSONValue.self) { group in
            group.addTask {
                await call(server, "subscriptions/listen", ["notifications": ["resourceSubscriptions": ["demo://counter"], "toolsListChanged": true]], sink: sink)
            }
            // Wait for the acknowledgement.
            while sink.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            let ack = sink.all[0]
            #expect(ack["method"] == "notifications/subscriptions/acknowledged")
            #expect(ack["params"]?["_meta"]?[MetaKey.subscriptionID] == 1)
            #expect(ack["params"]?["notifications"]?["resourceSubscriptions"] == ["demo://counter"])
            _ = await call(server, "tools/call", ["name": "touch", "arguments": ["uri": "demo://other"]])
            _ = await call(server, "tools/call", ["name": "touch", "arguments": ["uri": "demo://counter"]])
            while sink.all.count < 2 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(sink.all[1]["method"] == "notifications/resources/updated")
            #expect(sink.all[1]["params"]?["uri"] == "demo://counter")
            #expect(sink.all[1]["params"]?["_meta"]?[MetaKey.subscriptionID] == 1)
            server.beginDraining()
            let final = try await group.next()
            #expect(final?["result"]?["resultType"] == "complete")
            #expect(final?["result"]?["_meta"]?[MetaKey.subscriptionID] == 1)
        }
        #expect(sink.all.count == 2)
        let counter = await call(server, "resources/read", ["uri": "demo://counter"])["result"]
        #expect(counter?["contents"]?.arrayValue?.first?["text"] == "1")
    }

    @Test func cancellationStopsTheHandlerWithNoResponse() async throws {
        let server = makeDemoServer()
        let task = Task {
            await call(server, "tools/call", ["name": "countdown", "arguments": ["steps": 100, "intervalMs": 50]])
        }
        while server.statistics.activeHandlers == 0 { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        let response = await task.value
        #expect(response == .null)
        #expect(server.statistics.cancelledHandlers == 1)
        #expect(server.statistics.activeHandlers == 0)
    }
}
