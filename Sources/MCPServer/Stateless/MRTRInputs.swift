//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Synchronization

/// Thrown inside a handler to end a modern round with an `InputRequiredResult`: the requests still unanswered, by key.
struct InputRequiredSignal: Error {
    var requests: [(key: String, request: JSONValue)]
}

/// The MRTR input channel of one round of a modern request.
///
/// A handler runs from the start on every round. An input request keeps the key its handler gave it; the n-th one
/// without a key gets `input-n`. Answers from earlier rounds come back sealed in `requestState`, so rounds accumulate
/// and the handler sees every answer in order. Inputs asked for together go out together.
final class MRTRInputs: InputChannel {
    struct State {
        var answers: [String: JSONValue]
        var counter = 0
        var pending: InputRequiredSignal?
        /// The keys the handler asked for in this round: only their answers are sealed for the next.
        var asked: Set<String> = []
    }

    private let state: Mutex<State>

    init(answers: [String: JSONValue]) {
        self.state = Mutex(State(answers: answers))
    }

    /// Every answer known in this round (earlier rounds plus this one).
    var answers: [String: JSONValue] { state.withLock { $0.answers } }

    /// The answers to what the handler asked for in this round: what the next round's `requestState` seals. Answers
    /// the client sent for keys the handler never asked are dropped, not kept.
    var askedAnswers: [String: JSONValue] { state.withLock { s in s.answers.filter { s.asked.contains($0.key) } } }

    /// The input requests the handler stopped on, even if the handler swallowed the signal.
    var pending: InputRequiredSignal? { state.withLock { $0.pending } }

    func request(_ requests: [InputRequest], context: HandlerContext) async throws -> [JSONValue] {
        try Self.checkKeys(requests)
        for r in requests { try Self.checkCapability(method: r.method, params: r.params, meta: context.meta) }
        let (answers, missing) = state.withLock { s -> ([JSONValue], [(key: String, request: JSONValue)]) in
            var answers: [JSONValue] = []
            var missing: [(key: String, request: JSONValue)] = []
            for r in requests {
                let key: String
                if let k = r.key {
                    key = k
                } else {
                    s.counter += 1
                    key = "input-\(s.counter)"
                }
                s.asked.insert(key)
                if let answer = s.answers[key] {
                    answers.append(answer)
                } else if !missing.contains(where: { $0.key == key }) {
                    missing.append((key, ["method": .string(r.method), "params": r.params]))
                }
            }
            if !missing.isEmpty, s.pending == nil { s.pending = InputRequiredSignal(requests: missing) }
            return (answers, missing)
        }
        guard missing.isEmpty else { throw InputRequiredSignal(requests: missing) }
        return answers
    }

    /// Refuses keys a handler must not use: the generated form `input-<n>` (it would collide with the handler's own
    /// unkeyed requests) and the same key twice in one batch (its requests would get one answer).
    static func checkKeys(_ requests: [InputRequest]) throws(JSONRPCError) {
        var seen: Set<String> = []
        for key in requests.compactMap(\.key) {
            if key.hasPrefix("input-"), !key.dropFirst(6).isEmpty, key.dropFirst(6).allSatisfy({ $0.isASCII && $0.isNumber }) {
                throw .internalError("the input key \(key) is reserved for inputs without a key")
            }
            guard seen.insert(key).inserted else { throw .internalError("the input key \(key) is used twice in one request") }
        }
    }

    /// Refuses an input request the client has not declared support for.
    static func checkCapability(method: String, params: JSONValue, meta: RequestMeta) throws(JSONRPCError) {
        switch method {
        case "elicitation/create":
            let mode = params["mode"]?.stringValue ?? "form"
            if mode == "url" {
                guard meta.hasCapability("elicitation", "url") else {
                    throw .missingRequiredClientCapability(["elicitation": ["url": [:]]], detail: "elicitation (url mode)")
                }
            } else {
                // An empty `elicitation` object means form mode for backwards compatibility.
                guard meta.hasCapability("elicitation") else {
                    throw .missingRequiredClientCapability(["elicitation": [:]], detail: "elicitation")
                }
            }
        case "sampling/createMessage":
            guard meta.hasCapability("sampling") else {
                throw .missingRequiredClientCapability(["sampling": [:]], detail: "sampling")
            }
        case "roots/list":
            guard meta.hasCapability("roots") else {
                throw .missingRequiredClientCapability(["roots": [:]], detail: "roots")
            }
        default:
            // MRTR carries only elicitation, sampling and roots requests (a session's ping never comes here).
            throw .internalError("\(method) cannot be asked of the client as an input")
        }
    }
}
