//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The contract between replicas: every store key, event-log stream, bus channel and payload that one replica writes
/// and another reads. Nothing else in the runtime spells one of these strings.
///
/// A change here is a change of the wire between replicas of different builds, so it is one reviewable diff, and
/// ``version`` says which contract a replica speaks. `docs/cluster-wire.md` lists every entry; keep the two in step.
///
/// Everything of one session shares the `{sessionID}` hash tag, so it stays in one Redis Cluster slot.
package enum ClusterWire {
    /// The version of this contract. Raise it when a key, channel or payload changes shape; a rolling upgrade may
    /// mix replicas only of the same version.
    package static let version = 5

    // MARK: Store keys (SessionStore)

    /// Store keys.
    package enum Key {
        /// A session's state (``SessionState`` as JSON).
        package static func session(_ id: String) -> String { "mcp:{\(id)}:session" }
        /// The lock that keeps a session to one standalone GET stream; its value is ``Payload/getStreamOwner(stream:connection:replica:incarnation:)``.
        package static func getStreamLock(_ id: String) -> String { "mcp:{\(id)}:get" }
        /// The claim that lets one answer to a server-to-client request through, on any replica.
        package static func answerClaim(session id: String, requestID: String) -> String { "mcp:{\(id)}:answered:\(requestID)" }
        /// Read by readiness checks: any answer, even "absent", proves the store is reachable.
        package static let readinessProbe = "mcp:readyz"
        /// A replica's lease: present while the replica is alive, renewed on a heartbeat, gone when it stops (it
        /// expires after the lease period if the replica dies); value ``Payload/lease(at:incarnation:)``.
        package static func replicaLease(_ replicaID: String) -> String { "mcp:replica:\(replicaID):lease" }
        /// Who runs the request behind one of a session's request streams; value
        /// ``Payload/streamOwner(replica:incarnation:requestID:)``.
        package static func requestStreamOwner(session id: String, stream: String) -> String { "mcp:{\(id)}:owner:\(stream)" }
        /// The claim that lets exactly one final response into a request stream: the owner's, or the `-32010` of a
        /// replica that found the owner dead. Value: ``Payload/claimant(replica:incarnation:)``, who writes it.
        package static func finalClaim(session id: String, stream: String) -> String { "mcp:{\(id)}:final:\(stream)" }
        /// Who holds the SSE stream of a 2024-11-05 HTTP+SSE session, and whether it is closing; value
        /// ``Payload/messageStreamOwner(replica:incarnation:closing:)``. Present while the stream is open.
        package static func messageStreamOwner(_ id: String) -> String { "mcp:{\(id)}:sse" }
        /// A task's record (compare-and-set).
        package static func task(_ id: String) -> String { "mcp:task:\(id)" }
        /// A principal's newest task ids (2025-11-25 `tasks/list`). Not under `mcp:tasks:`, so that no principal's
        /// id can name the list of running tasks.
        package static func tasksOf(_ principal: String) -> String { "mcp:tasks-of:\(principal)" }
        /// The ids of the tasks that may still be running, for the sweep.
        package static let activeTasks = "mcp:tasks:active"
    }

    // MARK: Event-log streams (EventLog)

    /// Event-log stream names.
    package enum Stream {
        /// The log of one SSE stream of a session (a request's stream, key prefix `r`, or the standalone GET
        /// stream, key prefix `g`).
        package static func events(session id: String, stream: String) -> String { "mcp:{\(id)}:events:\(stream)" }
        /// What the SSE stream of a 2024-11-05 HTTP+SSE session must write, appended by whichever replica handles
        /// the session's POSTs and tailed by the replica that holds the stream: JSON-RPC messages, and the
        /// ``Payload/MessageStreamMark`` entries that tell the holder which requests are in flight.
        package static func messageStream(session id: String) -> String { "mcp:{\(id)}:sse-events" }
        /// Every notification for sessions' standalone streams (list changes, resource updates), logged before it is
        /// published, whether or not a stream is connected: a standalone stream is a per-session view of it, and its
        /// event positions are this log's. Entries are ``Payload/loggedNotification(channel:payload:)`` (an empty
        /// entry only creates the log); trimmed to the newest ``notificationLogLength`` every 128 appends. It lives for
        /// ``notificationLogTTL`` after the last entry. Positions restart only if the store loses the log (a restart
        /// without persistence); a resume after a position the log no longer has starts again at its head.
        package static let notifications = "mcp:notifications"
        /// How many notifications ``notifications`` keeps at most.
        package static let notificationLogLength = 10_000
        /// How long ``notifications`` lives after its last entry.
        package static let notificationLogTTL = Duration.seconds(7 * 24 * 3600)
    }

    // MARK: Bus channels (MessageBus)

    /// Bus channels.
    package enum Channel {
        /// `notifications/tools/list_changed`; empty payload.
        package static let toolsListChanged = "mcp:list_changed:tools"
        /// `notifications/resources/list_changed`; empty payload.
        package static let resourcesListChanged = "mcp:list_changed:resources"
        /// `notifications/prompts/list_changed`; empty payload.
        package static let promptsListChanged = "mcp:list_changed:prompts"
        /// `notifications/resources/updated`; payload ``Payload/resourceUpdated(uri:)``.
        package static let resourceUpdated = "mcp:resources:updated"
        /// `notifications/cancelled` and session ends, for every replica (a client's request id names no replica);
        /// payload ``Payload/cancel(session:requestID:)``.
        package static let cancel = "mcp:cancel"
        /// Answers to server-to-client requests, for the replica named in the request id; payload
        /// ``Payload/relayedAnswer(session:requestID:result:)``.
        package static func replica(_ replicaID: String) -> String { "mcp:replica:\(replicaID)" }
        /// Tells every replica's streams of one session that the session ended or that one of its streams was taken
        /// over; payloads ``Payload/sessionDeleted`` and ``Payload/takeover(stream:)``.
        package static func session(_ id: String) -> String { "mcp:session:\(id)" }

        /// The channels of tasks start with this.
        package static let taskPrefix = "mcp:task:"
        /// A task's channel: every change of its record (the task and its principal).
        package static func task(_ id: String) -> String { taskPrefix + id }

        /// The channel of a list-changed kind.
        package static func listChanged(_ kind: ListKind) -> String {
            switch kind.base {
            case .tools: toolsListChanged
            case .resources: resourcesListChanged
            case .prompts: promptsListChanged
            }
        }

        /// The channels that feed a session's standalone GET stream.
        package static let sessionNotifications = [toolsListChanged, promptsListChanged, resourcesListChanged, resourceUpdated]
    }

    // MARK: Payloads

    /// Payloads, and the parsing of the ones that carry data.
    package enum Payload {
        /// On ``Channel/session(_:)``: the session was deleted; every stream of it ends.
        package static let sessionDeleted = Array("deleted".utf8)

        /// On ``Channel/session(_:)``: a client resumed `stream` elsewhere; the connection that served it ends.
        package static func takeover(stream: String) -> [UInt8] { Array("takeover:\(stream)".utf8) }

        /// A mark in a request stream's log: every connection that carries the stream sends the mark's event id (an
        /// event with no data) and closes there; the client resumes after it with `Last-Event-ID` (SEP-1699). It is
        /// not JSON, so it cannot be a message.
        package static let connectionBreak: [UInt8] = [0x01] + Array("break".utf8)

        /// The value of the GET-stream lock: the stream it serves, the connection that holds it, and the replica
        /// (and its incarnation) that connection is on, whose lease the lock lives by.
        package static func getStreamOwner(stream: String, connection: String, replica: String, incarnation: String) -> JSONValue {
            .string("\(stream) \(connection) \(replica)/\(incarnation)")
        }

        /// Whether a GET-stream lock value names `stream`.
        package static func getStreamOwner(_ value: JSONValue, isFor stream: String) -> Bool {
            value.stringValue?.hasPrefix("\(stream) ") == true
        }

        /// The replica and incarnation named by a GET-stream lock value (`nil` for a lock of contract 1).
        package static func getStreamOwnerReplica(_ value: JSONValue) -> (replica: String, incarnation: String)? {
            guard let parts = value.stringValue?.split(separator: " "), parts.count == 3 else { return nil }
            let owner = parts[2].split(separator: "/")
            guard owner.count == 2 else { return nil }
            return (String(owner[0]), String(owner[1]))
        }

        /// The value of a final claim: `"<replica>/<incarnation>"`, the run of the replica that writes the final.
        package static func claimant(replica: String, incarnation: String) -> JSONValue { .string("\(replica)/\(incarnation)") }

        /// The replica and incarnation of a final claim's value.
        package static func claimant(_ value: JSONValue) -> (replica: String, incarnation: String)? {
            guard let parts = value.stringValue?.split(separator: "/"), parts.count == 2 else { return nil }
            return (String(parts[0]), String(parts[1]))
        }

        /// The value of a replica's lease: `{"at": <ms since the epoch>, "i": <incarnation>}`, when it was last renewed
        /// and by which run of the replica.
        package static func lease(at millis: Int64, incarnation: String) -> JSONValue { ["at": .int(millis), "i": .string(incarnation)] }

        /// The incarnation a lease value names.
        package static func leaseIncarnation(_ value: JSONValue) -> String? { value["i"]?.stringValue }

        /// The value of a request stream's owner record: `{"r": <replica>, "i": <incarnation>, "id": <request id>}`.
        package static func streamOwner(replica: String, incarnation: String, requestID: JSONRPCRequestID) -> JSONValue {
            ["r": .string(replica), "i": .string(incarnation), "id": requestID.json]
        }

        /// The replica, its incarnation and the request id of an owner record.
        package static func streamOwner(_ value: JSONValue) -> (replica: String, incarnation: String?, requestID: JSONRPCRequestID)? {
            guard case .string(let replica)? = value["r"], let raw = value["id"], let id = JSONRPCRequestID(json: raw) else { return nil }
            return (replica, value["i"]?.stringValue, id)
        }

        /// The value of ``Key/messageStreamOwner(_:)``: `{"r": <replica>, "i": <incarnation>}`, plus `"c": true` once
        /// the stream is closing (its holder drains): a POST that reads it refuses its message.
        package static func messageStreamOwner(replica: String, incarnation: String, closing: Bool = false) -> JSONValue {
            var o: [String: JSONValue] = ["r": .string(replica), "i": .string(incarnation)]
            if closing { o["c"] = true }
            return .object(o)
        }

        /// The replica, incarnation and closing flag of a ``Key/messageStreamOwner(_:)`` value.
        package static func messageStreamOwner(_ value: JSONValue) -> (replica: String, incarnation: String, closing: Bool)? {
            guard case .string(let replica)? = value["r"], case .string(let incarnation)? = value["i"] else { return nil }
            return (replica, incarnation, value["c"]?.boolValue ?? false)
        }

        /// An entry of ``Stream/messageStream(session:)`` that is not written to the client: `{"mcp.mark": <kind>, …}`.
        package enum MessageStreamMark: Sendable, Equatable {
            /// A request was accepted on `replica` (run `incarnation`), which will append its response.
            case accepted(JSONRPCRequestID, replica: String, incarnation: String)
            /// A request ended without a response (cancelled, or refused after it was marked).
            case done(JSONRPCRequestID)
            /// The holder is closing the stream: requests marked after this entry were refused.
            case closing

            /// The entry.
            package var data: [UInt8] {
                switch self {
                case .accepted(let id, let replica, let incarnation):
                    JSONWriter.encode(["mcp.mark": "accepted", "id": id.json, "r": .string(replica), "i": .string(incarnation)])
                case .done(let id):
                    JSONWriter.encode(["mcp.mark": "done", "id": id.json])
                case .closing:
                    JSONWriter.encode(["mcp.mark": "closing"])
                }
            }

            /// The mark an entry holds; `nil` for a JSON-RPC message.
            package init?(_ value: JSONValue) {
                guard case .string(let kind)? = value["mcp.mark"] else { return nil }
                switch kind {
                case "accepted":
                    guard let raw = value["id"], let id = JSONRPCRequestID(json: raw), case .string(let r)? = value["r"], case .string(let i)? = value["i"]
                    else { return nil }
                    self = .accepted(id, replica: r, incarnation: i)
                case "done":
                    guard let raw = value["id"], let id = JSONRPCRequestID(json: raw) else { return nil }
                    self = .done(id)
                case "closing":
                    self = .closing
                default:
                    return nil
                }
            }
        }

        /// An entry of ``Stream/notifications``: the bus message it was published as, `{"c": channel, "d": payload}`.
        package static func loggedNotification(channel: String, payload: [UInt8]) -> [UInt8] {
            JSONWriter.encode(["c": .string(channel), "d": .string(String(decoding: payload, as: UTF8.self))])
        }

        /// The bus message an entry of ``Stream/notifications`` was published as; `nil` for the empty entry that
        /// creates the log.
        package static func loggedNotification(_ data: [UInt8]) -> BusMessage? {
            guard let value = try? JSONParser().parse(data), case .string(let channel)? = value["c"], case .string(let payload)? = value["d"]
            else { return nil }
            return BusMessage(channel: channel, payload: Array(payload.utf8))
        }

        /// On ``Channel/resourceUpdated``: `{"uri": …}`.
        package static func resourceUpdated(uri: String) -> [UInt8] { JSONWriter.encode(["uri": .string(uri)]) }

        /// The URI of a ``resourceUpdated(uri:)`` payload.
        package static func resourceUpdatedURI(_ payload: [UInt8]) -> String? {
            guard let value = try? JSONParser().parse(payload), case .string(let uri)? = value["uri"] else { return nil }
            return uri
        }

        /// On ``Channel/cancel``: `{"s": session, "id": request id}`; no `id` ends every handler of the session.
        package static func cancel(session: String, requestID: JSONRPCRequestID?) -> [UInt8] {
            var payload: [String: JSONValue] = ["s": .string(session)]
            if let requestID { payload["id"] = requestID.json }
            return JSONWriter.encode(.object(payload))
        }

        /// On ``Channel/replica(_:)``: `{"s": session, "id": s2c id, "result": …}` or `{…, "error": {code, message}}`.
        package static func relayedAnswer(session: String, requestID: String, result: Result<JSONValue, JSONRPCError>) -> [UInt8] {
            var payload: [String: JSONValue] = ["s": .string(session), "id": .string(requestID)]
            switch result {
            case .success(let value): payload["result"] = value
            case .failure(let error): payload["error"] = error.json
            }
            return JSONWriter.encode(.object(payload))
        }

        /// A parsed ``cancel(session:requestID:)`` or ``relayedAnswer(session:requestID:result:)``.
        package struct Relayed: Sendable {
            package var session: String
            package var requestID: JSONRPCRequestID?
            package var result: Result<JSONValue, JSONRPCError>?
        }

        /// Parses a payload of ``Channel/cancel`` or ``Channel/replica(_:)``; `nil` if it is not one.
        package static func relayed(_ payload: [UInt8]) -> Relayed? {
            guard let value = try? JSONParser().parse(payload), case .string(let session)? = value["s"] else { return nil }
            var relayed = Relayed(session: session, requestID: value["id"].flatMap(JSONRPCRequestID.init(json:)))
            if let result = value["result"] {
                relayed.result = .success(result)
            } else if let e = value["error"] {
                relayed.result = .failure(
                    JSONRPCError(code: e["code"]?.intValue ?? JSONRPCError.internalErrorCode, message: e["message"]?.stringValue ?? "error")
                )
            }
            return relayed
        }
    }

    // MARK: Identifiers that route

    /// Server-issued identifiers that carry their own routing.
    package enum Identifier {
        /// A server-to-client request id: `s2c.<replicaID>.<incarnation>-<n>` names the replica (and the run of it)
        /// whose handler waits; the incarnation keeps ids unique in a session across a restart under the same id.
        package static func clientRequest(replica: String, incarnation: String, number: Int) -> String {
            "s2c.\(replica).\(incarnation)-\(number)"
        }

        /// The id of a task's input request carried on `tasks/result` (2025-11-25): `task:<task id>:<input key>`, so
        /// that the client's answer, on any replica, finds its task.
        package static func taskInput(task: String, key: String) -> String { "task:\(task):\(key)" }

        /// The task and input key named by a task input request id; `nil` if `id` is not one.
        package static func taskInput(_ id: String) -> (task: String, key: String)? {
            let parts = id.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "task" else { return nil }
            return (parts[1], parts[2])
        }

        /// The replica and incarnation named by a server-to-client request id; `nil` if `id` is not one.
        package static func replica(ofClientRequest id: String) -> (replica: String, incarnation: String)? {
            let parts = id.split(separator: ".")
            guard parts.count == 3, parts[0] == "s2c", let dash = parts[2].firstIndex(of: "-") else { return nil }
            return (String(parts[1]), String(parts[2][..<dash]))
        }
    }
}

/// A kind of list whose changes are announced: `tools`, `resources` or `prompts`.
public struct ListKind: Sendable, Hashable, CustomStringConvertible {
    enum Base: String { case tools, resources, prompts }
    let base: Base

    /// `notifications/tools/list_changed`.
    public static let tools = ListKind(base: .tools)
    /// `notifications/resources/list_changed`.
    public static let resources = ListKind(base: .resources)
    /// `notifications/prompts/list_changed`.
    public static let prompts = ListKind(base: .prompts)

    public var description: String { base.rawValue }
}
