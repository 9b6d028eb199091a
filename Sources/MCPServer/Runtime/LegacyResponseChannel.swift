//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Synchronization

/// Where the messages of one legacy request go: a single JSON response if the handler finishes silently and fast,
/// otherwise an SSE stream whose events are appended to the shared ``EventLog`` before any socket sees them, so the
/// client can resume it on any replica with `Last-Event-ID`.
///
/// The handler side calls ``send(_:)`` and ``finish(_:)``; the transport reads ``signals`` (exactly one signal) and,
/// once streaming, tails the event log.
public final class LegacyResponseChannel: MessageSink {
    /// What the transport should do.
    public enum Signal: Sendable {
        /// Answer with this JSON response; `nil` means the request was cancelled and gets no response.
        case final(JSONValue?)
        /// Answer with an SSE stream: tail the event log stream `streamKey`.
        case streaming(streamKey: String)
    }

    enum State {
        case pending
        case answered
        case streaming(String)
    }

    let server: MCPServer
    /// The session the request belongs to.
    public let sessionID: String
    private let state = Mutex(State.pending)
    private let signal = AsyncStream<Signal>.makeStream(bufferingPolicy: .bufferingNewest(1))
    private let decided = Mutex<Signal?>(nil)

    /// Creates a channel for one request of `sessionID`.
    public init(server: MCPServer, sessionID: String) {
        self.server = server
        self.sessionID = sessionID
    }

    /// The transport's instruction; exactly one element.
    public var signals: AsyncStream<Signal> { signal.stream }

    /// The transport's instruction if it has already been given: a transport that finds it here, right after
    /// starting the handler, needs no timer and no wait on ``signals``.
    public var decision: Signal? { decided.withLock { $0 } }

    private func decide(_ s: Signal) {
        decided.withLock { $0 = s }
        signal.continuation.yield(s)
        signal.continuation.finish()
    }

    /// Switches to streaming (for a slow handler) unless the response is already decided.
    public func startStreaming() async {
        let key = state.withLock { s -> String? in
            guard case .pending = s else { return nil }
            let key = StreamKey.newRequestStream()
            s = .streaming(key)
            return key
        }
        if let key { await open(key) }
    }

    /// Creates the stream in the log (with an empty event, which is never sent), then tells the transport to tail
    /// it: a tail of a stream that does not exist yet would end at once.
    private func open(_ key: String) async {
        do {
            _ = try await server.backends.eventLog.append(
                stream: StoreKey.eventStream(session: sessionID, stream: key),
                data: [],
                ttl: server.configuration.sessionTTL
            )
        } catch {
            server.logger.error("could not open an event stream", metadata: ["mcp.error": "\(error)"])
        }
        decide(.streaming(streamKey: key))
    }

    public func send(_ message: JSONValue) async throws {
        let (key, started) = state.withLock { s -> (String?, Bool) in
            switch s {
            case .pending:
                let key = StreamKey.newRequestStream()
                s = .streaming(key)
                return (key, true)
            case .streaming(let key):
                return (key, false)
            case .answered:
                return (nil, false)
            }
        }
        guard let key else { return }
        if started { await open(key) }
        _ = try await server.backends.eventLog.append(
            stream: StoreKey.eventStream(session: sessionID, stream: key),
            data: JSONWriter.encode(message),
            ttl: server.configuration.sessionTTL
        )
    }

    /// Delivers the final response (or `nil` when cancelled) and ends the stream.
    public func finish(_ final: JSONValue?) async {
        let key = state.withLock { s -> String? in
            switch s {
            case .pending:
                s = .answered
                return nil
            case .streaming(let key):
                return key
            case .answered:
                return nil
            }
        }
        guard let key else {
            decide(.final(final))
            return
        }
        let log = server.backends.eventLog
        let stream = StoreKey.eventStream(session: sessionID, stream: key)
        do {
            if let final { _ = try await log.append(stream: stream, data: JSONWriter.encode(final), ttl: server.configuration.sessionTTL) }
            try await log.close(stream: stream, ttl: server.configuration.eventRetention)
        } catch {
            server.logger.error("could not record the final response", metadata: ["mcp.error": "\(error)"])
        }
    }
}

/// SSE stream keys and event ids of legacy streams: an event id is `<streamKey>.<position>`, so it names its stream
/// and its place in it, and a resume needs no lookup.
public enum StreamKey {
    /// A new key for a request's stream (prefix `r`).
    static func newRequestStream() -> String { "r" + random() }
    /// A new key for a standalone GET stream (prefix `g`).
    public static func newGetStream() -> String { "g" + random() }

    static func random() -> String {
        var rng = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<9).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// The event id of position `position` of `stream`.
    public static func eventID(stream: String, position: UInt64) -> String { "\(stream).\(position)" }

    /// Splits an event id into its stream key and position; `nil` if malformed.
    public static func parse(eventID: String) -> (stream: String, position: UInt64)? {
        guard eventID.utf8.count <= 64, let dot = eventID.lastIndex(of: ".") else { return nil }
        let stream = String(eventID[..<dot])
        guard let position = UInt64(eventID[eventID.index(after: dot)...]), stream.count == 13,
            stream.first == "r" || stream.first == "g",
            stream.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F })
        else { return nil }
        return (stream, position)
    }

    /// The event-log stream name of a session's SSE stream.
    public static func logStream(session: String, stream: String) -> String { StoreKey.eventStream(session: session, stream: stream) }
}
