//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Synchronization

/// A failure a tool reports to the model as an `isError` result.
struct ToolFailure: Error, CustomStringConvertible {
    var description: String
}

/// One server-to-client request waiting for the client's answer.
final class ResponseSlot: Sendable {
    struct State {
        var result: Result<JSONValue, any Error>?
        var continuation: CheckedContinuation<JSONValue, any Error>?
    }

    let sessionID: String
    private let state = Mutex(State())

    init(sessionID: String) { self.sessionID = sessionID }

    /// Resolves the slot once; later calls do nothing.
    func resolve(_ result: Result<JSONValue, any Error>) {
        let c = state.withLock { s -> CheckedContinuation<JSONValue, any Error>? in
            guard s.result == nil else { return nil }
            s.result = result
            let c = s.continuation
            s.continuation = nil
            return c
        }
        c?.resume(with: result)
    }

    func wait() async throws -> JSONValue {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSONValue, any Error>) in
            let ready = state.withLock { s -> Result<JSONValue, any Error>? in
                if let r = s.result { return r }
                s.continuation = c
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }
}

/// The input channel of a session: real JSON-RPC requests on the request's SSE stream.
///
/// The request id is `s2c.<replicaID>.<incarnation>-<n>`: it names the replica (and its run) whose handler waits, so an answer that reaches
/// another replica can be relayed with no lookup.
struct SessionInputs: InputChannel {
    let relay: Relay
    let timeout: Duration
    let session: SessionContext

    func request(_ requests: [InputRequest], context: HandlerContext) async throws -> [JSONValue] {
        // The same rules as in a 2026-07-28 request, all checked before the user sees anything.
        try MRTRInputs.checkKeys(requests)
        for r in requests { try checkCapability(method: r.method, params: r.params) }
        var answers: [JSONValue] = []
        for r in requests { answers.append(try await request(method: r.method, params: r.params, context: context)) }
        return answers
    }

    func request(method: String, params: JSONValue, context: HandlerContext) async throws -> JSONValue {
        try checkCapability(method: method, params: params)
        let (id, slot) = relay.open(session: session.sessionID)
        defer { relay.close(id) }
        var params = params
        if session.protocolVersion < .v2025_11_25, method == "elicitation/create", case .object(var o) = params {
            // Elicitation modes arrived in 2025-11-25; earlier revisions know only the form.
            o["mode"] = nil
            params = .object(o)
        }
        try await context.sink.send(["jsonrpc": "2.0", "id": .string(id), "method": .string(method), "params": params])
        let result = try await withThrowingTaskGroup(of: JSONValue?.self) { group in
            group.addTask {
                try await withTaskCancellationHandler {
                    try await slot.wait()
                } onCancel: {
                    slot.resolve(.failure(CancellationError()))
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        guard let result else {
            throw ToolFailure(description: "the client did not answer \(method) within \(timeout)")
        }
        return result
    }

    func checkCapability(method: String, params: JSONValue) throws {
        if method == "elicitation/create" {
            // Elicitation arrived in 2025-06-18 and its URL mode in 2025-11-25.
            let needed: ProtocolVersion = params["mode"]?.stringValue == "url" ? .v2025_11_25 : .v2025_06_18
            guard session.protocolVersion >= needed else {
                throw ToolFailure(description: "elicitation\(needed == .v2025_11_25 ? " in URL mode" : "") needs protocol \(needed) or later; this session speaks \(session.protocolVersion)")
            }
        }
        var node: JSONValue? = session.clientCapabilities
        let path: [String]
        switch method {
        case "elicitation/create": path = params["mode"]?.stringValue == "url" ? ["elicitation", "url"] : ["elicitation"]
        case "sampling/createMessage": path = ["sampling"]
        case "roots/list": path = ["roots"]
        default: return
        }
        for key in path { node = node?[key] }
        guard case .object? = node else {
            throw ToolFailure(description: "the client did not declare the \(path.joined(separator: ".")) capability needed for \(method)")
        }
    }
}
