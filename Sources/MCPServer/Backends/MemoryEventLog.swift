//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle
import Synchronization

/// The embedded event log: streams kept in memory, expired streams removed by a tidy loop.
public final class MemoryEventLog: EventLog {
    struct Stream {
        /// The events kept, oldest first; `events[i]` is at position `dropped + i + 1`.
        var events: [LoggedEvent] = []
        /// How many of the oldest events ``trim(stream:keepingLast:)`` dropped.
        var dropped: UInt64 = 0
        var closed = false
        var expiresAt: Int64 = 0
        var tails: [Int: AsyncThrowingStream<LoggedEvent, any Error>.Continuation] = [:]
    }

    struct State {
        var streams: [String: Stream] = [:]
        var nextTailID = 0
    }

    private let state = Mutex(State())
    private let clock: WallClock
    private let tidyInterval: Duration

    /// Creates a log.
    public init(clock: WallClock = .system, tidyInterval: Duration = .seconds(30)) {
        self.clock = clock
        self.tidyInterval = tidyInterval
    }

    public func append(stream: String, data: [UInt8], ttl: Duration) async throws -> UInt64 {
        let now = clock.millis()
        let (event, tails) = state.withLock { s -> (LoggedEvent, [AsyncThrowingStream<LoggedEvent, any Error>.Continuation]) in
            var st = s.streams[stream] ?? Stream()
            if st.expiresAt != 0 && st.expiresAt <= now { st = Stream() }
            let event = LoggedEvent(position: st.dropped + UInt64(st.events.count) + 1, data: data)
            st.events.append(event)
            st.expiresAt = now + ttl.wholeMilliseconds
            s.streams[stream] = st
            return (event, Array(st.tails.values))
        }
        for t in tails { t.yield(event) }
        return event.position
    }

    public func read(stream: String, after position: UInt64, limit: Int) async throws -> [LoggedEvent] {
        let now = clock.millis()
        return state.withLock { s in
            guard let st = s.streams[stream], st.expiresAt > now else { return [] }
            let start = st.index(after: position)
            return Array(st.events[start..<min(st.events.count, start + max(0, limit))])
        }
    }

    public func tail<Result: Sendable>(
        stream: String,
        after position: UInt64,
        _ body: (AsyncThrowingStream<LoggedEvent, any Error>) async throws -> Result
    ) async throws -> Result {
        let (seq, continuation) = AsyncThrowingStream<LoggedEvent, any Error>.makeStream()
        let now = clock.millis()
        let id = state.withLock { s -> Int in
            let id = s.nextTailID
            s.nextTailID += 1
            guard var st = s.streams[stream], st.expiresAt > now else {
                continuation.finish()
                return id
            }
            for e in st.events[st.index(after: position)...] { continuation.yield(e) }
            if st.closed {
                continuation.finish()
            } else {
                st.tails[id] = continuation
                s.streams[stream] = st
            }
            return id
        }
        defer {
            state.withLock { s in _ = s.streams[stream]?.tails.removeValue(forKey: id) }
            continuation.finish()
        }
        return try await body(seq)
    }

    public func lastPosition(stream: String) async throws -> UInt64 {
        let now = clock.millis()
        return state.withLock { s in
            guard let st = s.streams[stream], st.expiresAt > now else { return 0 }
            return st.dropped + UInt64(st.events.count)
        }
    }

    public func trim(stream: String, keepingLast count: Int) async throws {
        state.withLock { s in
            guard var st = s.streams[stream], st.events.count > max(0, count) else { return }
            let drop = st.events.count - max(0, count)
            st.events.removeFirst(drop)
            st.dropped += UInt64(drop)
            s.streams[stream] = st
        }
    }

    public func close(stream: String, ttl: Duration) async throws {
        let now = clock.millis()
        let tails = state.withLock { s -> [AsyncThrowingStream<LoggedEvent, any Error>.Continuation] in
            guard var st = s.streams[stream] else { return [] }
            st.closed = true
            st.expiresAt = now + ttl.wholeMilliseconds
            let t = Array(st.tails.values)
            st.tails = [:]
            s.streams[stream] = st
            return t
        }
        for t in tails { t.finish() }
    }

    public func exists(stream: String) async throws -> Bool {
        let now = clock.millis()
        return state.withLock { s in
            guard let st = s.streams[stream] else { return false }
            return st.expiresAt > now && !st.events.isEmpty
        }
    }

    public func delete(stream: String) async throws {
        let tails = state.withLock { s in Array((s.streams.removeValue(forKey: stream)?.tails ?? [:]).values) }
        for t in tails { t.finish() }
    }

    /// Removes expired streams now.
    public func tidy() {
        let now = clock.millis()
        let finished = state.withLock { s -> [AsyncThrowingStream<LoggedEvent, any Error>.Continuation] in
            var out: [AsyncThrowingStream<LoggedEvent, any Error>.Continuation] = []
            for (k, st) in s.streams where st.expiresAt <= now {
                out.append(contentsOf: st.tails.values)
                s.streams[k] = nil
            }
            return out
        }
        for t in finished { t.finish() }
    }

    /// Tidies expired entries every `tidyInterval` until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.tidyInterval)
                self.tidy()
            }
        }
    }
}

extension MemoryEventLog.Stream {
    /// The index of the first kept event after `position`.
    func index(after position: UInt64) -> Int {
        guard position > dropped else { return 0 }
        return Int(min(position - dropped, UInt64(events.count)))
    }
}
