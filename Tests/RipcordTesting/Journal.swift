import Foundation

/// What the fakes did to the world, in the order they did it, across all of them: "start checkout-2.0.0-20001",
/// "backends checkout stable=90 candidate=10 baseline=0", "stop checkout-2.0.0-20001". Lets a test say that
/// traffic left the candidate before its instances stopped.
public final class Journal: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    public init() {}

    public func append(_ line: String) { lock.withLock { lines.append(line) } }

    public var entries: [String] { lock.withLock { lines } }

    /// The index of the first entry after `start` that satisfies `matches`.
    public func firstIndex(after start: Int = -1, where matches: (String) -> Bool) -> Int? {
        let all = entries
        return all.indices.first { $0 > start && matches(all[$0]) }
    }
}
