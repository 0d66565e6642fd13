import NIOCore

/// A connection whose written bytes a `FlushBatch` sends.
protocol BatchFlushed: AnyObject {
    func flushBatched()
}

/// Flushes the router's writes to clients and backends, under load together at the end of the event
/// loop's turn. Each flush is a `write` that may wake its peer (the client, the backend), and in a
/// VM waking another core is a good part of a request's cost: written in one burst, the writes find
/// a peer woken by the first still awake and it reads them in one go. A lightly loaded loop flushes
/// each write at once: with few writes per turn there is little to batch, and holding a response
/// back while the turn's other reads are handled would only delay it.
final class FlushBatch {
    /// A turn with this many writes or more makes the next one batch its flushes.
    let busyTurn: Int
    /// Turns that held flushes to their end.
    private(set) var batchedTurns = 0

    private let eventLoop: any EventLoop
    private var pending: [any BatchFlushed] = []
    private var spare: [any BatchFlushed] = []
    private var writesThisTurn = 0
    private var turnEndScheduled = false
    private(set) var isBatching = false

    init(eventLoop: any EventLoop, busyTurn: Int) {
        self.eventLoop = eventLoop
        self.busyTurn = busyTurn
    }

    /// Flushes `connection`, which wrote without flushing: at once, or at the end of this turn when batching.
    func add(_ connection: any BatchFlushed) {
        writesThisTurn += 1
        if !turnEndScheduled {
            turnEndScheduled = true
            // Tasks run after the turn's I/O events: every read of this turn is handled by then.
            eventLoop.assumeIsolated().execute { self.endTurn() }
        }
        if isBatching {
            pending.append(connection)
        } else {
            connection.flushBatched()
        }
    }

    private func endTurn() {
        turnEndScheduled = false
        isBatching = writesThisTurn >= busyTurn
        writesThisTurn = 0
        if !pending.isEmpty { batchedTurns += 1 }
        swap(&pending, &spare)
        for connection in spare { connection.flushBatched() }
        spare.removeAll(keepingCapacity: true)
    }
}
