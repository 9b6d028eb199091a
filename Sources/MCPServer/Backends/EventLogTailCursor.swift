//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The read position of one ``EventLog`` tail on a shared store, for backends whose tails read pages and wait for a
/// wake-up (a notification, or a poll timer) when they are caught up. Reads are pulled by the consumer of the tail's
/// sequence, so at most one page is buffered per tail.
package actor EventLogTailCursor {
    /// Reads the page after a position: its events, and whether the tail is over (the stream closed there, gone or
    /// expired).
    package typealias PageReader = @Sendable (UInt64) async throws -> (events: [LoggedEvent], finished: Bool)

    private let readPage: PageReader
    private var position: UInt64
    private var buffered: [LoggedEvent] = []
    private var nextIndex = 0
    private var finished = false
    private var wakeups: AsyncStream<Void>.Iterator

    /// Creates a cursor after `position`; `wakeups` tells it to read again once it has caught up.
    package init(after position: UInt64, wakeups: AsyncStream<Void>, readPage: @escaping PageReader) {
        self.position = position
        self.readPage = readPage
        self.wakeups = wakeups.makeAsyncIterator()
    }

    /// The next event, waiting for one if caught up; `nil` once the tail is over or the task is cancelled.
    package func next() async throws -> LoggedEvent? {
        while true {
            if nextIndex < buffered.count {
                defer { nextIndex += 1 }
                return buffered[nextIndex]
            }
            if finished || Task.isCancelled { return nil }
            let (events, over) = try await readPage(position)
            buffered = events
            nextIndex = 0
            if let last = events.last { position = last.position }
            if over {
                finished = true
            } else if events.isEmpty {
                var iterator = wakeups
                let woken: Void? = await iterator.next(isolation: self)
                wakeups = iterator
                if woken == nil { return nil }
            }
        }
    }
}

extension EventLogTailCursor {
    /// Runs `body` with a tail's events after `position`: pages read by `readPage`, again whenever `wakeups` yields
    /// and every `pollInterval` (for a notification lost while the backend's connection reconnected).
    /// - Parameters:
    ///   - wakeups: wake-ups from the backend's notifications; `wake` is its continuation, which the poll timer
    ///     also yields to.
    package static func withEvents<Result: Sendable>(
        after position: UInt64,
        pollInterval: Duration,
        wakeups: AsyncStream<Void>,
        wake: AsyncStream<Void>.Continuation,
        readPage: @escaping PageReader,
        _ body: (AsyncThrowingStream<LoggedEvent, any Error>) async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    wake.yield()
                }
            }
            defer { group.cancelAll() }
            let cursor = EventLogTailCursor(after: position, wakeups: wakeups, readPage: readPage)
            return try await body(AsyncThrowingStream { try await cursor.next() })
        }
    }
}
