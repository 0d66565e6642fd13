/// Steady requests Ripcord itself sends to the candidate (through its front door, pinned) while real
/// traffic is too thin to judge it — Flagger's load tester, built in — so a quiet service still gets
/// evidence instead of waiting for it until the progress deadline.
public struct SyntheticTrafficSpec: Sendable, Equatable, Codable {
    public var requestsPerSecond: Double
    public var path: String
    public var method: String
    public var headers: [String: String]

    public init(requestsPerSecond: Double = 5, path: String = "/", method: String = "GET", headers: [String: String] = [:]) {
        self.requestsPerSecond = requestsPerSecond
        self.path = path
        self.method = method
        self.headers = headers
    }

    /// Marks a synthetic request, for the service's own logs and metrics.
    public static let markerHeader = "x-ripcord-synthetic"
    /// The router's pin header: `candidate` reaches the candidate whatever its weight.
    public static let pinHeader = "x-ripcord-route"
}

/// Decides, one analysis interval at a time, whether synthetic requests are needed: only while the
/// candidate's real requests (all it answered minus what was sent synthetically) stay below the
/// window's `minRequests`.
public struct SyntheticTrafficPacer: Sendable, Equatable {
    public let minRequests: UInt64
    private var candidateAtStart: UInt64?
    private var sentAtStart: UInt64 = 0
    public private(set) var sending = true

    public init(minRequests: Int) {
        self.minRequests = UInt64(max(1, minRequests))
    }

    /// Closes an interval: `candidateRequests` is the router's cumulative count for the candidate,
    /// `sent` the cumulative synthetic requests. Returns whether sending changed, with the real
    /// request count of the interval that decided it.
    public mutating func intervalEnded(candidateRequests: UInt64, sent: UInt64) -> (changed: Bool, realRequests: UInt64)? {
        defer {
            candidateAtStart = candidateRequests
            sentAtStart = sent
        }
        guard let start = candidateAtStart else { return nil }
        let answered = candidateRequests >= start ? candidateRequests - start : 0
        let synthetic = sent >= sentAtStart ? sent - sentAtStart : 0
        let real = answered >= synthetic ? answered - synthetic : 0
        let shouldSend = real < minRequests
        defer { sending = shouldSend }
        return (shouldSend != sending, real)
    }
}
