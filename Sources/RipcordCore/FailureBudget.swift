/// Failed analysis windows counted against a limit (`AnalysisSpec.failureLimit`, `MetricSpec.failureLimit`):
/// up to `limit` failures are tolerated, one more exhausts the budget. Rollouts, flag rollouts,
/// provider metrics and guard windows all count this way. The limit is passed in rather than kept,
/// because it is configuration while the count is state: a budget encodes as the bare count, the
/// shape rollouts stored before it existed.
public struct FailureBudget: Sendable, Equatable, Codable {
    public private(set) var count: Int

    public init(count: Int = 0) { self.count = count }

    /// Counts a failed verdict (passes and inconclusive verdicts cost nothing); true when the
    /// failures now exceed `limit`.
    public mutating func record(_ verdict: Verdict, limit: Int) -> Bool {
        guard verdict == .fail else { return false }
        count += 1
        return count > limit
    }

    /// Counts a router measurement; the analysis trigger (its reasons, `evidence` or else the
    /// measurement's evidence, and the count against the limit) when it exhausts the budget.
    public mutating func record(_ measurement: AnalysisMeasurement, limit: Int, evidence: [String: String]? = nil) -> Trigger? {
        guard record(measurement.verdict, limit: limit) else { return nil }
        return Trigger(
            kind: .analysis, message: measurement.reasons.joined(separator: "; "),
            evidence: (evidence ?? measurement.evidence).merging(self.evidence(limit: limit)) { _, budget in budget })
    }

    /// The count and the limit, as events and triggers show them.
    public func evidence(limit: Int) -> [String: String] {
        ["failures": String(count), "failureLimit": String(limit)]
    }

    public init(from decoder: any Decoder) throws {
        count = try decoder.singleValueContainer().decode(Int.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(count)
    }
}
