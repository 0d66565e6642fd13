public enum Verdict: String, Sendable, Codable, Equatable {
    case pass, fail, inconclusive
}

/// One judged window of candidate traffic, with the numbers behind the verdict.
public struct AnalysisMeasurement: Sendable, Codable, Equatable {
    public var verdict: Verdict
    public var requests: UInt64
    public var errors: UInt64
    public var errorRate: Double
    /// Observed latency per checked quantile label ("p99") in milliseconds.
    public var latencyMilliseconds: [String: Double]
    public var window: TimeSpan
    /// Human-readable reasons for a fail or an inconclusive verdict.
    public var reasons: [String]
    /// The judge's own numbers (judge, statistic, p-value, samples, reference), merged into the evidence.
    public var details: [String: String]

    public init(
        verdict: Verdict, requests: UInt64, errors: UInt64, errorRate: Double,
        latencyMilliseconds: [String: Double], window: TimeSpan, reasons: [String], details: [String: String] = [:]
    ) {
        self.verdict = verdict
        self.requests = requests
        self.errors = errors
        self.errorRate = errorRate
        self.latencyMilliseconds = latencyMilliseconds
        self.window = window
        self.reasons = reasons
        self.details = details
    }

    public var evidence: [String: String] {
        var evidence = [
            "verdict": verdict.rawValue,
            "requests": String(requests),
            "errors": String(errors),
            "errorRate": formatRatio(errorRate),
            "window": window.description,
        ]
        for (label, value) in latencyMilliseconds { evidence["latency.\(label)Ms"] = formatDecimal(value) }
        if !reasons.isEmpty { evidence["reasons"] = reasons.joined(separator: "; ") }
        evidence.merge(details) { ours, _ in ours }
        return evidence
    }

    public var summary: String {
        var parts = ["\(requests) requests", "\(errors) errors (\(formatPercent(errorRate)))"]
        for (label, value) in latencyMilliseconds.sorted(by: { $0.key < $1.key }) {
            parts.append("\(label) \(formatDecimal(value))ms")
        }
        return parts.joined(separator: ", ")
    }
}

/// Judges a window of the candidate's router measurements against fixed thresholds.
public enum ThresholdJudge {
    public static func judge(_ window: VersionMetrics, spec: AnalysisSpec, duration: TimeSpan) -> AnalysisMeasurement {
        var latencies: [String: Double] = [:]
        var reasons: [String] = []
        var failed = false
        if let maxErrorRate = spec.maxErrorRate, window.errorRate > maxErrorRate {
            failed = true
            reasons.append("error rate \(formatPercent(window.errorRate)) above \(formatPercent(maxErrorRate))")
        }
        for limit in spec.maxLatency {
            guard let observed = window.latency.quantileMilliseconds(limit.quantile) else { continue }
            latencies[limit.label] = observed
            if observed > Double(limit.limit.milliseconds) {
                failed = true
                reasons.append("\(limit.label) latency \(formatDecimal(observed))ms above \(limit.limit)")
            }
        }
        var verdict: Verdict = failed ? .fail : .pass
        if window.requests < UInt64(max(0, spec.minRequests)) {
            verdict = .inconclusive
            reasons = ["\(window.requests) requests, fewer than the \(spec.minRequests) needed to judge"]
        }
        return AnalysisMeasurement(
            verdict: verdict, requests: window.requests, errors: window.errors, errorRate: window.errorRate,
            latencyMilliseconds: latencies, window: duration, reasons: reasons)
    }
}

/// The router's cumulative measurements an analysis reads: the candidate and what it is compared with.
public struct AnalysisSnapshot: Sendable, Equatable, Codable {
    public var candidate: VersionMetrics
    /// The long-running instances of the stable version.
    public var stable: VersionMetrics
    /// Fresh instances of the stable version started beside the candidate (empty when none run).
    public var baseline: VersionMetrics
    public var usesBaseline: Bool

    public init(candidate: VersionMetrics, stable: VersionMetrics, baseline: VersionMetrics = VersionMetrics(), usesBaseline: Bool = false) {
        self.candidate = candidate
        self.stable = stable
        self.baseline = baseline
        self.usesBaseline = usesBaseline
    }

    /// What the candidate's latency is compared with: fresh baseline instances when they run (a fresh
    /// process against a fresh one), else the stable ones.
    public var latencyReference: VersionMetrics { usesBaseline ? baseline : stable }
    /// What the candidate's error rate is compared with: every instance of the stable version over the
    /// same time. A process's age moves its latency, not the share of requests it fails, and the pooled
    /// stream is about nine times the canary's, so the comparison needs far fewer canary requests.
    public var errorReference: VersionMetrics { stable + baseline }

    public static func - (lhs: AnalysisSnapshot, rhs: AnalysisSnapshot) -> AnalysisSnapshot {
        AnalysisSnapshot(
            candidate: lhs.candidate - rhs.candidate, stable: lhs.stable - rhs.stable,
            baseline: lhs.baseline - rhs.baseline, usesBaseline: lhs.usesBaseline)
    }
}

/// Judges the candidate from cumulative router snapshots.
public protocol CandidateAnalysis: Sendable {
    /// Returns a measurement when one is due.
    mutating func observe(_ snapshot: AnalysisSnapshot, at now: Moment) -> AnalysisMeasurement?
}

/// Turns cumulative router snapshots into windows judged against thresholds, each on its own: a guard
/// window and a flag rollout watch the stable version for a regression that starts later, which
/// cumulative numbers would dilute. A window closes once an interval has passed and it holds at least
/// `minRequests` requests, so quiet services are judged on enough data rather than passed on none.
/// (A rollout's candidate is judged by `ThresholdAnalysis` instead, with tests that account for chance.)
public struct AnalysisWindow: Sendable {
    public let spec: AnalysisSpec
    private var baseline: VersionMetrics
    private var openedAt: Moment

    public init(spec: AnalysisSpec, baseline: VersionMetrics, at now: Moment) {
        self.spec = spec
        self.baseline = baseline
        self.openedAt = now
    }

    /// Returns a measurement when the window is ready to be judged, and opens the next one.
    public mutating func observe(cumulative: VersionMetrics, at now: Moment) -> AnalysisMeasurement? {
        let elapsed = now - openedAt
        guard elapsed >= spec.interval else { return nil }
        let window = cumulative - baseline
        guard window.requests >= UInt64(max(1, spec.minRequests)) else { return nil }
        baseline = cumulative
        openedAt = now
        return ThresholdJudge.judge(window, spec: spec, duration: elapsed)
    }
}

extension LatencyHistogram {
    /// The median and p99 in milliseconds, labelled as in `maxLatency` ("p50", "p99"), for evidence.
    public var headlineQuantilesMilliseconds: [String: Double] {
        var quantiles: [String: Double] = [:]
        for quantile in [0.5, 0.99] {
            if let value = quantileMilliseconds(quantile) { quantiles[LatencyLimit(quantile: quantile, limit: .zero).label] = value }
        }
        return quantiles
    }
}

public func formatPercent(_ ratio: Double) -> String { formatDecimal(ratio * 100) + "%" }
public func formatRatio(_ ratio: Double) -> String { formatDecimal(ratio, digits: 4) }

public func formatDecimal(_ value: Double, digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if rounded == rounded.rounded() { return String(Int64(rounded)) }
    return String(rounded)
}
