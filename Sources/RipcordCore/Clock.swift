import Foundation

/// The controller's time: what moment it is, and waiting. Injected so the controller's tests move time
/// by hand (`TestClock` in RipcordTesting) instead of sleeping; every wait in the controller goes through it.
public protocol RipcordClock: Sendable {
    var now: Moment { get }
    /// Returns after `span`, or throws `CancellationError` once the waiting task is cancelled.
    func sleep(for span: TimeSpan) async throws
}

/// Wall-clock time, for production.
public struct WallClock: RipcordClock {
    public init() {}

    public var now: Moment { Moment(millisecondsSinceEpoch: Int64((Date().timeIntervalSince1970 * 1000).rounded())) }

    public func sleep(for span: TimeSpan) async throws {
        try await Task.sleep(for: span.duration)
    }
}
