//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// Whether a tool runs as a task (the `io.modelcontextprotocol/tasks` extension, and 2025-11-25's tasks).
public struct TaskSupport: Sendable, Hashable {
    enum Mode: String, Sendable { case forbidden, optional, required }
    let mode: Mode
    /// Whether another replica may run the tool again from the start when the replica running it dies (its lease
    /// expires): only for tools whose work is safe to repeat.
    public var rerunnable: Bool

    /// Never as a task: the call is answered when the tool returns (the default).
    public static let forbidden = TaskSupport(mode: .forbidden, rerunnable: false)
    /// As a task when the client declares the extension, otherwise synchronously.
    public static func optional(rerunnable: Bool = false) -> TaskSupport { TaskSupport(mode: .optional, rerunnable: rerunnable) }
    /// Only as a task: a client without the extension gets `-32021`.
    public static func required(rerunnable: Bool = false) -> TaskSupport { TaskSupport(mode: .required, rerunnable: rerunnable) }
}

/// A task as the store keeps it (`mcp:task:<id>`, compare-and-set by version): its state, what its replica needs to
/// resume talking to it, and what another replica needs to take it over.
struct TaskRecord: Sendable, Hashable {
    enum Status: String, Sendable { case working, input_required, completed, cancelled, failed }

    var id: String
    var principal: String
    var status: Status
    var statusMessage: String?
    var createdAt: Int64
    var lastUpdatedAt: Int64
    var ttlMs: Int64
    var pollIntervalMs: Int64
    var result: JSONValue?
    var error: JSONValue?
    /// Outstanding input requests, by key.
    var inputRequests: [String: JSONValue] = [:]
    /// Answers given by `tasks/update` and not yet taken by the running handler, by key.
    var answers: [String: JSONValue] = [:]
    /// Every key ever answered: a key is never asked twice.
    var answered: [String] = []
    var cancelRequested = false
    /// The replica running it, and its run.
    var replica: String
    var incarnation: String
    /// The call, for a replica that takes the task over.
    var tool: String
    var arguments: JSONValue
    var clientCapabilities: JSONValue
    var attempts: Int

    var isTerminal: Bool { status == .completed || status == .cancelled || status == .failed }

    /// Records the client's answer to the outstanding input request `key`: it is no longer listed, and a task with
    /// nothing left to ask is `working` again. `false` (nothing changes) for a key that is not outstanding.
    mutating func answer(_ key: String, with value: JSONValue) -> Bool {
        guard !isTerminal, inputRequests[key] != nil else { return false }
        answers[key] = value
        inputRequests[key] = nil
        if inputRequests.isEmpty, status == .input_required { status = .working }
        return true
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "p": .string(principal), "s": .string(status.rawValue), "c": .int(createdAt),
            "u": .int(lastUpdatedAt), "ttl": .int(ttlMs), "poll": .int(pollIntervalMs), "ir": .object(inputRequests),
            "a": .object(answers), "done": .array(answered.map { .string($0) }), "x": .bool(cancelRequested),
            "r": .string(replica), "i": .string(incarnation), "tool": .string(tool), "args": arguments,
            "caps": clientCapabilities, "n": .int(Int64(attempts)),
        ]
        if let statusMessage { o["m"] = .string(statusMessage) }
        if let result { o["result"] = result }
        if let error { o["error"] = error }
        return .object(o)
    }

    init(
        id: String, principal: String, createdAt: Int64, ttlMs: Int64, pollIntervalMs: Int64, replica: String,
        incarnation: String, tool: String, arguments: JSONValue, clientCapabilities: JSONValue
    ) {
        self.id = id
        self.principal = principal
        self.status = .working
        self.createdAt = createdAt
        self.lastUpdatedAt = createdAt
        self.ttlMs = ttlMs
        self.pollIntervalMs = pollIntervalMs
        self.replica = replica
        self.incarnation = incarnation
        self.tool = tool
        self.arguments = arguments
        self.clientCapabilities = clientCapabilities
        self.attempts = 1
    }

    init?(json: JSONValue) {
        guard let id = json["id"]?.stringValue, let p = json["p"]?.stringValue,
            let s = json["s"]?.stringValue.flatMap(Status.init(rawValue:)), let c = json["c"]?.intValue,
            let u = json["u"]?.intValue, let ttl = json["ttl"]?.intValue, let poll = json["poll"]?.intValue,
            let r = json["r"]?.stringValue, let i = json["i"]?.stringValue, let tool = json["tool"]?.stringValue
        else { return nil }
        self.id = id
        self.principal = p
        self.status = s
        self.statusMessage = json["m"]?.stringValue
        self.createdAt = Int64(c)
        self.lastUpdatedAt = Int64(u)
        self.ttlMs = Int64(ttl)
        self.pollIntervalMs = Int64(poll)
        self.result = json["result"]
        self.error = json["error"]
        self.inputRequests = json["ir"]?.objectValue ?? [:]
        self.answers = json["a"]?.objectValue ?? [:]
        self.answered = json["done"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.cancelRequested = json["x"] == .bool(true)
        self.replica = r
        self.incarnation = i
        self.tool = tool
        self.arguments = json["args"] ?? [:]
        self.clientCapabilities = json["caps"] ?? [:]
        self.attempts = json["n"]?.intValue ?? 1
    }

    /// The `DetailedTask` a client sees (`tasks/get`, `notifications/tasks`): the status with its payload inline.
    var detailed: [String: JSONValue] {
        var o: [String: JSONValue] = [
            "taskId": .string(id), "status": .string(status.rawValue), "createdAt": .string(ISO8601.format(millis: createdAt)),
            "lastUpdatedAt": .string(ISO8601.format(millis: lastUpdatedAt)), "ttlMs": .int(ttlMs), "pollIntervalMs": .int(pollIntervalMs),
        ]
        if let statusMessage { o["statusMessage"] = .string(statusMessage) }
        switch status {
        case .input_required: o["inputRequests"] = .object(inputRequests)
        case .completed: o["result"] = result ?? [:]
        case .failed: o["error"] = error ?? ["code": .int(Int64(JSONRPCError.internalErrorCode)), "message": "failed"]
        case .working, .cancelled: break
        }
        return o
    }
}

/// UTC timestamps in ISO 8601 (`2026-07-28T10:30:00.123Z`), without Foundation.
enum ISO8601 {
    static func format(millis: Int64) -> String {
        let ms = Int(((millis % 1000) + 1000) % 1000)
        var seconds = (millis - Int64(ms)) / 1000
        let days = Int(floorDiv(seconds, 86_400))
        seconds -= Int64(days) * 86_400
        let (y, m, d) = civil(fromDays: days)
        let h = Int(seconds / 3600), mi = Int(seconds % 3600 / 60), s = Int(seconds % 60)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let milli = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(y)-\(two(m))-\(two(d))T\(two(h)):\(two(mi)):\(two(s)).\(milli)Z"
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }

    /// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
