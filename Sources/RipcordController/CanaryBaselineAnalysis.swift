import RipcordCore
import RipcordJudges

/// Judges each window of the candidate's traffic against the same window of the baseline's (or, without
/// a baseline, the stable version's), Kayenta style: Mann-Whitney U on latency, a two-proportion test on
/// the error rate, each classified pass / high / low and combined into a score with pass and marginal
/// thresholds. A window closes once an interval has passed and both sides have `minRequests` requests.
struct CanaryBaselineAnalysis: CandidateAnalysis {
    let spec: AnalysisSpec
    private let judge: CanaryBaselineJudge
    private let referenceRole: InstanceRole
    private var lastCandidate: VersionMetrics
    private var lastReference: VersionMetrics
    private var openedAt: Moment

    init(spec: AnalysisSpec, judge settings: CanaryBaselineJudgeSpec, referenceRole: InstanceRole,
         candidate: VersionMetrics, reference: VersionMetrics, at now: Moment) {
        self.spec = spec
        judge = CanaryBaselineJudge(metrics: [MetricConfig(name: "latency_ms", direction: .increase, tolerance: settings.latencyTolerance)],
                                    errorRateTolerance: settings.errorRateTolerance, confidenceLevel: settings.confidenceLevel,
                                    passThreshold: settings.passScore, marginalThreshold: settings.marginalScore,
                                    minimumSamples: max(1, spec.minRequests))
        self.referenceRole = referenceRole
        lastCandidate = candidate
        lastReference = reference
        openedAt = now
    }

    mutating func observe(candidate: VersionMetrics, stable reference: VersionMetrics, at now: Moment) -> AnalysisMeasurement? {
        let elapsed = now - openedAt
        guard elapsed >= spec.interval else { return nil }
        let candidateWindow = candidate - lastCandidate
        let referenceWindow = reference - lastReference
        let needed = UInt64(max(1, spec.minRequests))
        guard candidateWindow.requests >= needed, referenceWindow.requests >= needed else { return nil }
        lastCandidate = candidate
        lastReference = reference
        openedAt = now
        let (decision, classifications) = judge.judge(canary: Self.sample(candidateWindow), baseline: Self.sample(referenceWindow))
        var details = decision.details
        details["judge"] = decision.judge
        details["statistic"] = decision.statistic
        details["comparedWith"] = referenceRole.rawValue
        details["\(referenceRole.rawValue).requests"] = String(referenceWindow.requests)
        details["\(referenceRole.rawValue).errorRate"] = formatRatio(referenceWindow.errorRate)
        if let pValue = decision.pValue { details["pValue"] = String(format: "%.3g", pValue) }
        let verdict: Verdict = switch decision.verdict {
        case .pass: .pass
        case .fail: .fail
        case .inconclusive: .inconclusive
        }
        let reasons = verdict == .pass ? [] : [details["reason"] ?? "score \(formatDecimal(decision.value))"]
            + classifications.filter(\.failed).map { "\($0.metric) \($0.classification.rawValue): \($0.reason)" }
        return AnalysisMeasurement(verdict: verdict, requests: candidateWindow.requests, errors: candidateWindow.errors,
                                   errorRate: candidateWindow.errorRate, latencyMilliseconds: candidateWindow.latency.headlineQuantilesMilliseconds, window: elapsed,
                                   reasons: reasons, details: details)
    }

    static func sample(_ window: VersionMetrics) -> MetricSample {
        MetricSample(requests: Int(window.requests), errors: Int(window.errors), distributions: ["latency_ms": window.latency.valuesMilliseconds])
    }
}
