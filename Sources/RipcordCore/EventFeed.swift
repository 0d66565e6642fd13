/// Tells listeners which events were just stored: the event stream API (`GET /api/v1/events`), the
/// controller's metrics and its decision log. The store publishes each committed write's events once.
/// A listener that must miss nothing subscribes first and reads the stored history after: what lands
/// between the two arrives twice, and event ids tell the copies apart.
public actor EventFeed {
    public enum Buffering: Sendable {
        /// Every batch is kept until read (an in-process listener that counts each event).
        case everything
        /// Only the newest batch is kept: a wake-up call for a listener that reads the store itself, so
        /// a slow client costs memory for one batch at most.
        case latest
    }

    private var listeners: [Int: AsyncStream<[Event]>.Continuation] = [:]
    private var nextListener = 0

    public init() {}

    /// Batches of stored events until the listener stops or `finish` is called; with `heartbeat`, an
    /// empty batch every `heartbeat` as well (an idle stream that shows it is alive).
    public func subscribe(_ buffering: Buffering, heartbeat: Duration? = nil) -> AsyncStream<[Event]> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: [Event].self, bufferingPolicy: buffering == .everything ? .unbounded : .bufferingNewest(1))
        let id = nextListener
        nextListener += 1
        let beats = heartbeat.map { interval in
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    continuation.yield([])
                }
            }
        }
        continuation.onTermination = { _ in
            beats?.cancel()
            Task { await self.remove(id) }
        }
        listeners[id] = continuation
        return stream
    }

    public func publish(_ events: [Event]) {
        guard !events.isEmpty else { return }
        for listener in listeners.values { listener.yield(events) }
    }

    /// Ends every stream (on shutdown, so the server can stop).
    public func finish() {
        for listener in listeners.values { listener.finish() }
        listeners.removeAll()
    }

    private func remove(_ id: Int) { listeners.removeValue(forKey: id) }
}
