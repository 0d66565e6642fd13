import Foundation
import RipcordCore
import RipcordJudges

/// Judges the candidate continuously with always-valid sequential tests against the stable version's
/// traffic over the same time, through the same router: error rate (mixture SPRT on where the errors
/// fall) and latency (mixture SPRT on the log-latency shift beyond `minLatencyIncrease`). A measurement
/// fails as soon as either test has enough evidence that the candidate is worse; it passes only when
/// both affirm the candidate is good — the error rate's upper bound less than `minErrorRateIncrease`
/// above stable's, the latency's less than `minLatencyIncrease` above — and is inconclusive in between.
///
/// Only the step's own requests count, on both sides: a reference carried over from before the step
/// (an earlier rollout's baseline, last week's stable traffic) would compare the candidate with a
/// different time.
struct SequentialAnalysis: CandidateAnalysis {
    let spec: AnalysisSpec
    let sequential: SequentialJudgeSpec
    private var errorJudge: SequentialErrorRateJudge
    private var latencyJudge: SequentialLatencyJudge
    /// What the tests have seen.
    private var fed: AnalysisSnapshot
    /// Where the current measurement window began.
    private var windowStart: AnalysisSnapshot
    private var windowOpenedAt: Moment

    /// Half the log width of the widest latency-histogram bucket (1/8 of a power of two): how far recording
    /// alone can move a log mean, so the latency test never counts bucketing as a regression.
    static let latencyRecordingError = log(9.0 / 8.0) / 2

    /// Builds what the error test needs ahead of the first window, off the reconciler's path.
    static func prepare(_ sequential: SequentialJudgeSpec) {
        SequentialErrorRateJudge.prepareBaselineTest(alpha: sequential.errorAlpha)
    }

    init(spec: AnalysisSpec, sequential: SequentialJudgeSpec, at snapshot: AnalysisSnapshot, now: Moment) {
        self.spec = spec
        self.sequential = sequential
        errorJudge = SequentialErrorRateJudge(
            alpha: sequential.errorAlpha, minimumEffect: sequential.minErrorRateIncrease,
            maxCanarySamples: sequential.maxCanaryRequests, reference: .baseline)
        latencyJudge = SequentialLatencyJudge(
            alpha: sequential.latencyAlpha, minimumEffect: sequential.minLatencyIncrease,
            maxCanarySamples: sequential.maxCanaryRequests, measurementError: Self.latencyRecordingError)
        fed = snapshot
        windowStart = snapshot
        windowOpenedAt = now
    }

    /// The tests see every new request at once (they are always valid, whenever one looks), so a failure
    /// is reported the moment the evidence suffices; other measurements wait for the interval and
    /// `minRequests` new canary requests, never a trickle.
    mutating func observe(_ snapshot: AnalysisSnapshot, at now: Moment) -> AnalysisMeasurement? {
        let wasFailed = errorJudge.currentDecision.verdict == .fail || latencyJudge.currentDecision.verdict == .fail
        let new = snapshot - fed
        if new.candidate.requests > 0 || new.errorReference.requests > 0 {
            let reference = new.errorReference
            _ = errorJudge.observeVerdict(
                canaryRequests: Int(clamping: new.candidate.requests), canaryErrors: Int(clamping: new.candidate.errors),
                baselineRequests: Int(clamping: reference.requests), baselineErrors: Int(clamping: reference.errors))
            _ = latencyJudge.observeVerdict(
                canaryLogMoments: Self.logMoments(new.candidate.latency),
                baselineLogMoments: Self.logMoments(new.latencyReference.latency))
            fed = snapshot
        }
        let errors = errorJudge.currentDecision, latency = latencyJudge.currentDecision
        let failedNow = !wasFailed && (errors.verdict == .fail || latency.verdict == .fail)
        let elapsed = now - windowOpenedAt
        let batch = snapshot - windowStart
        guard failedNow || (elapsed >= spec.interval && batch.candidate.requests >= UInt64(max(1, spec.minRequests))) else { return nil }
        windowStart = snapshot
        windowOpenedAt = now
        let latencyAgainst = snapshot.usesBaseline ? "baseline" : "stable"
        var details: [String: String] = [
            "judge": "sequential", "errorRate.reference": "stable and baseline, this step's requests",
            "latency.reference": "\(latencyAgainst), this step's requests",
        ]
        for (prefix, decision) in [("errorRate", errors), ("latency", latency)] {
            details["\(prefix).verdict"] = decision.verdict.rawValue
            details["\(prefix).statistic"] = decision.statistic
            details["\(prefix).logLikelihoodRatio"] = formatDecimal(decision.value, digits: 3)
            if let pValue = decision.pValue { details["\(prefix).pValue"] = String(format: "%.3g", pValue) }
            details["\(prefix).canarySamples"] = String(decision.canarySamples)
            details["\(prefix).referenceSamples"] = String(decision.baselineSamples)
            if let reason = decision.details["reason"] { details["\(prefix).reason"] = reason }
        }
        let errorBound = errorJudge.upperBoundOfIncrease()
        details["errorRate.upperBoundOfIncrease"] = formatRatio(errorBound)
        let latencyBound = latencyJudge.upperBoundOfIncrease()
        details["latency.upperBoundOfIncrease"] = latencyBound.map(formatRatio) ?? "n/a"
        var reasons: [String] = []
        if errors.verdict == .fail {
            reasons.append(
                "error rate higher than stable: \(errors.details["canaryErrors"] ?? "?") canary errors against "
                    + "\(errors.details["baselineErrors"] ?? "?") stable, always-valid p \(String(format: "%.3g", errors.pValue ?? 1)) ≤ α \(formatDecimal(errorJudge.alpha, digits: 4))"
            )
        }
        if latency.verdict == .fail {
            let shift = latency.details["estimatedShift"].flatMap(Double.init).map { formatPercent($0) } ?? "?"
            reasons.append(
                "latency higher than \(latencyAgainst) by about \(shift), beyond the tolerated \(formatPercent(sequential.minLatencyIncrease)), "
                    + "always-valid p \(String(format: "%.3g", latency.pValue ?? 1)) ≤ α \(formatDecimal(latencyJudge.alpha, digits: 4))")
        }
        let verdict: Verdict
        if !reasons.isEmpty {
            verdict = .fail
        } else if errorJudge.affirmsIncreaseBelow(sequential.minErrorRateIncrease), latencyJudge.affirmed {
            verdict = .pass
        } else {
            verdict = .inconclusive
            if !errorJudge.affirmsIncreaseBelow(sequential.minErrorRateIncrease) {
                reasons.append(
                    "error rate not yet shown within \(formatPercent(sequential.minErrorRateIncrease)) of stable's "
                        + "(95 % upper bound of the increase \(formatPercent(errorBound)) over \(errorJudge.canaryRequests) canary requests)")
            }
            if !latencyJudge.affirmed {
                reasons.append(
                    "latency not yet shown within \(formatPercent(sequential.minLatencyIncrease)) of \(latencyAgainst)'s"
                        + (latencyBound.map { " (95 % upper bound of the increase \(formatPercent($0)))" } ?? " (too few latencies)"))
            }
        }
        return AnalysisMeasurement(
            verdict: verdict, requests: batch.candidate.requests, errors: batch.candidate.errors,
            errorRate: batch.candidate.errorRate, latencyMilliseconds: batch.candidate.latency.headlineQuantilesMilliseconds,
            window: elapsed, reasons: reasons, details: details)
    }

    /// Moments of log-latency (milliseconds) from a histogram: each bucket at its geometric midpoint, with
    /// the bucket's own spread added (Sheppard's correction), so recording does not make latencies look
    /// more alike than they are.
    static func logMoments(_ histogram: LatencyHistogram) -> RunningMoments {
        var moments = RunningMoments()
        for (index, count) in histogram.counts.enumerated() where count > 0 {
            let logMilliseconds = log(LatencyHistogram.representativeMilliseconds(ofBucket: index))
            let width = LatencyHistogram.logWidth(ofBucket: index)
            moments.merge(RunningMoments(count: Int(count), mean: logMilliseconds, m2: Double(count) * width * width / 12))
        }
        return moments
    }
}
