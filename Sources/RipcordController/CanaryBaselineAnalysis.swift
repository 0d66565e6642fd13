import Foundation
import RipcordCore
import RipcordJudges

/// Judges each window of the candidate's traffic against the same window of the baseline's (or, without
/// a baseline, the stable version's), Kayenta style: Mann-Whitney U on latency, an exact test of where the
/// window's errors fell on the error rate, each classified pass / high / low and combined into a score
/// with pass and marginal thresholds. A window closes once an interval has passed and both sides have
/// `minRequests` requests.
///
/// A window whose score passes is only "nothing significant in this window"; it counts as a pass once
/// the step's requests so far also affirm the candidate is within the tolerances (upper bounds of the
/// error-rate and latency increases below them). Otherwise it is inconclusive, so a quiet canary waits
/// for evidence instead of passing on small windows.
struct CanaryBaselineAnalysis: CandidateAnalysis {
    let spec: AnalysisSpec
    private let settings: CanaryBaselineJudgeSpec
    private let judge: CanaryBaselineJudge
    private let referenceRole: InstanceRole
    private var last: AnalysisSnapshot
    private var openedAt: Moment
    /// The step's requests so far, for the affirmation.
    private var errorsSoFar: SequentialErrorRateJudge
    private var latencySoFar: SequentialLatencyJudge

    init(spec: AnalysisSpec, judge settings: CanaryBaselineJudgeSpec, at snapshot: AnalysisSnapshot, now: Moment) {
        self.spec = spec
        self.settings = settings
        judge = CanaryBaselineJudge(
            metrics: [MetricConfig(name: "latency_ms", direction: .increase, tolerance: settings.latencyTolerance)],
            errorRateTolerance: settings.errorRateTolerance, confidenceLevel: settings.confidenceLevel,
            passThreshold: settings.passScore, marginalThreshold: settings.marginalScore,
            minimumSamples: max(1, spec.minRequests))
        referenceRole = snapshot.usesBaseline ? .baseline : .stable
        last = snapshot
        openedAt = now
        errorsSoFar = SequentialErrorRateJudge(minimumEffect: settings.errorRateTolerance, reference: .baseline)
        latencySoFar = SequentialLatencyJudge(minimumEffect: settings.latencyTolerance, measurementError: SequentialAnalysis.latencyRecordingError)
    }

    mutating func observe(_ snapshot: AnalysisSnapshot, at now: Moment) -> AnalysisMeasurement? {
        let elapsed = now - openedAt
        guard elapsed >= spec.interval else { return nil }
        let window = snapshot - last
        let needed = UInt64(max(1, spec.minRequests))
        guard window.candidate.requests >= needed, window.latencyReference.requests >= needed else { return nil }
        last = snapshot
        openedAt = now
        let errorReference = window.errorReference
        let (decision, classifications) = judge.judge(
            canary: Self.sample(window.candidate),
            baseline: MetricSample(
                requests: Int(clamping: errorReference.requests), errors: Int(clamping: errorReference.errors),
                distributions: ["latency_ms": window.latencyReference.latency.valuesMilliseconds]))
        _ = errorsSoFar.observeVerdict(
            canaryRequests: Int(clamping: window.candidate.requests), canaryErrors: Int(clamping: window.candidate.errors),
            baselineRequests: Int(clamping: errorReference.requests), baselineErrors: Int(clamping: errorReference.errors))
        _ = latencySoFar.observeVerdict(
            canaryLogMoments: SequentialAnalysis.logMoments(window.candidate.latency),
            baselineLogMoments: SequentialAnalysis.logMoments(window.latencyReference.latency))
        var details = decision.details
        details["judge"] = decision.judge
        details["statistic"] = decision.statistic
        details["comparedWith"] = referenceRole.rawValue
        details["errorRate.comparedWith"] = "stable and baseline"
        details["\(referenceRole.rawValue).requests"] = String(window.latencyReference.requests)
        details["reference.errorRate"] = formatRatio(errorReference.errorRate)
        if let pValue = decision.pValue { details["pValue"] = String(format: "%.3g", pValue) }
        let errorBound = errorsSoFar.upperBoundOfIncrease()
        let latencyBound = latencySoFar.upperBoundOfIncrease()
        details["step.errorRate.upperBoundOfIncrease"] = formatRatio(errorBound)
        details["step.latency.upperBoundOfIncrease"] = latencyBound.map(formatRatio) ?? "n/a"
        let affirmed = errorBound < settings.errorRateTolerance && (latencyBound.map { $0 < settings.latencyTolerance } ?? false)
        var verdict: Verdict =
            switch decision.verdict {
            case .pass: .pass
            case .fail: .fail
            case .inconclusive: .inconclusive
            }
        var reasons =
            verdict == .pass
            ? []
            : [details["reason"] ?? "score \(formatDecimal(decision.value))"]
                + classifications.filter(\.failed).map { "\($0.metric) \($0.classification.rawValue): \($0.reason)" }
        if verdict == .pass, !affirmed {
            verdict = .inconclusive
            reasons = [
                "score passes, but the step's \(errorsSoFar.canaryRequests) canary requests do not yet show the candidate within the tolerances "
                    + "(upper bounds: error rate +\(formatPercent(errorBound)) of \(formatPercent(settings.errorRateTolerance)), "
                    + "latency +\(latencyBound.map(formatPercent) ?? "?") of \(formatPercent(settings.latencyTolerance)))"
            ]
        }
        return AnalysisMeasurement(
            verdict: verdict, requests: window.candidate.requests, errors: window.candidate.errors,
            errorRate: window.candidate.errorRate, latencyMilliseconds: window.candidate.latency.headlineQuantilesMilliseconds, window: elapsed,
            reasons: reasons, details: details)
    }

    static func sample(_ window: VersionMetrics) -> MetricSample {
        MetricSample(requests: Int(clamping: window.requests), errors: Int(clamping: window.errors), distributions: ["latency_ms": window.latency.valuesMilliseconds])
    }
}
