import Foundation
import RipcordCore

/// Time that moves only when a test says so. Sleepers wake in deadline order when `advance` passes
/// their deadline; a cancelled sleeper throws `CancellationError` at once, as `Task.sleep` does.
public final class TestClock: RipcordClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Moment
    private var sleepers: [UInt64: (deadline: Moment, continuation: CheckedContinuation<Void, any Error>)] = [:]
    private var lastSleeperID: UInt64 = 0

    public init(start: Moment = Moment(millisecondsSinceEpoch: 1_800_000_000_000)) { current = start }

    public var now: Moment { lock.withLock { current } }

    /// How many tasks wait for time to pass.
    public var sleeperCount: Int { lock.withLock { sleepers.count } }

    public func sleep(for span: TimeSpan) async throws {
        let id = lock.withLock { () -> UInt64 in
            lastSleeperID += 1
            return lastSleeperID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = lock.withLock { () -> Result<Void, any Error>? in
                    // Cancelled before it could register: the cancellation handler found nothing to wake.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if span <= .zero { return .success(()) }
                    sleepers[id] = (current + span, continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = lock.withLock { sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time on by `span`, waking every sleeper whose deadline has come.
    public func advance(by span: TimeSpan) {
        let due = lock.withLock { () -> [CheckedContinuation<Void, any Error>] in
            current = current + span
            let woken = sleepers.filter { $0.value.deadline <= current }.sorted { $0.value.deadline < $1.value.deadline }
            for (id, _) in woken { sleepers[id] = nil }
            return woken.map(\.value.continuation)
        }
        for continuation in due { continuation.resume() }
    }
}
