//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Synchronization

/// Thrown inside a handler to end a modern round with an `InputRequiredResult`.
struct InputRequiredSignal: Error {
    var key: String
    var request: JSONValue
}

/// The MRTR input channel of one round of a modern request.
///
/// A handler runs from the start on every round. Its n-th input request gets the key `input-n`; answers from earlier
/// rounds come back sealed in `requestState`, so rounds accumulate and the handler sees every answer in order.
final class MRTRInputs: InputChannel {
    struct State {
        var answers: [String: JSONValue]
        var counter = 0
        var pending: InputRequiredSignal?
    }

    private let state: Mutex<State>

    init(answers: [String: JSONValue]) {
        self.state = Mutex(State(answers: answers))
    }

    /// Every answer known in this round (earlier rounds plus this one).
    var answers: [String: JSONValue] { state.withLock { $0.answers } }

    /// The input request the handler stopped on, even if the handler swallowed the signal.
    var pending: InputRequiredSignal? { state.withLock { $0.pending } }

    func request(method: String, params: JSONValue, context: HandlerContext) async throws -> JSONValue {
        try Self.checkCapability(method: method, params: params, meta: context.meta)
        let (key, answer) = state.withLock { s -> (String, JSONValue?) in
            s.counter += 1
            let key = "input-\(s.counter)"
            return (key, s.answers[key])
        }
        if let answer { return answer }
        let signal = InputRequiredSignal(key: key, request: ["method": .string(method), "params": params])
        state.withLock { s in
            if s.pending == nil { s.pending = signal }
        }
        throw signal
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
            break
        }
    }
}
