import Foundation
import RipcordCore
import RipcordJudges

/// Judges the candidate continuously with always-valid sequential tests against the stable version's
/// concurrent traffic through the same router: error rate (mixture SPRT) and latency (mixture SPRT on
/// log-latency). Every interval it feeds the new requests of both versions to the tests and reports
/// `fail` as soon as either has enough evidence that the candidate is worse, `pass` otherwise.
struct SequentialAnalysis: CandidateAnalysis {
    let spec: AnalysisSpec
    private var errorJudge: SequentialErrorRateJudge
    private var latencyJudge: SequentialLatencyJudge
    private var lastCandidate: VersionMetrics
    private var lastStable: VersionMetrics
    private var lastAt: Moment
    private let reference: String

    /// Stable traffic below this is too little to estimate a reference error rate from.
    static let minimumStableHistory: UInt64 = 200

    init(spec: AnalysisSpec, sequential: SequentialJudgeSpec, candidate: VersionMetrics, stable: VersionMetrics, at now: Moment) {
        self.spec = spec
        // The error test needs a reference rate. The stable version's history gives one: its 99 %
        // upper confidence bound, so an unlucky quiet stretch of stable does not make the candidate
        // look worse. Without enough history the test compares the two live streams instead.
        let errorReference: ErrorRateReference
        if stable.requests >= Self.minimumStableHistory {
            let bound = Self.upperConfidenceBound(errors: stable.errors, requests: stable.requests)
            errorReference = .fixedRate(bound)
            reference = "stable \(formatRatio(stable.errorRate)) over \(stable.requests) requests (99 % upper bound \(formatRatio(bound)))"
        } else {
            errorReference = .baseline
            reference = "stable's concurrent requests"
        }
        errorJudge = SequentialErrorRateJudge(alpha: sequential.alpha * 0.8, minimumEffect: sequential.minErrorRateIncrease,
                                              maxCanarySamples: sequential.maxCanaryRequests, reference: errorReference)
        latencyJudge = SequentialLatencyJudge(alpha: sequential.alpha * 0.2, minimumEffect: sequential.minLatencyIncrease,
                                              maxCanarySamples: sequential.maxCanaryRequests)
        lastCandidate = candidate
        lastStable = stable
        lastAt = now
    }

    mutating func observe(candidate: VersionMetrics, stable: VersionMetrics, at now: Moment) -> AnalysisMeasurement? {
        let elapsed = now - lastAt
        guard elapsed >= spec.interval else { return nil }
        let newCandidate = candidate - lastCandidate
        let newStable = stable - lastStable
        // Like a threshold window: a window passes on enough requests, never on a trickle.
        guard newCandidate.requests >= UInt64(max(1, spec.minRequests)) else { return nil }
        lastCandidate = candidate
        lastStable = stable
        lastAt = now
        let errors = errorJudge.observe(canaryRequests: Int(newCandidate.requests), canaryErrors: Int(newCandidate.errors),
                                        baselineRequests: Int(newStable.requests), baselineErrors: Int(newStable.errors))
        let latency = latencyJudge.observe(canaryLogMoments: Self.logMoments(newCandidate.latency),
                                           baselineLogMoments: Self.logMoments(newStable.latency))
        var details: [String: String] = ["judge": "sequential", "reference": reference]
        for (prefix, decision) in [("errorRate", errors), ("latency", latency)] {
            details["\(prefix).verdict"] = decision.verdict.rawValue
            details["\(prefix).statistic"] = decision.statistic
            details["\(prefix).logLikelihoodRatio"] = formatDecimal(decision.value, digits: 3)
            if let pValue = decision.pValue { details["\(prefix).pValue"] = String(format: "%.3g", pValue) }
            details["\(prefix).canarySamples"] = String(decision.canarySamples)
            details["\(prefix).stableSamples"] = String(decision.baselineSamples)
            if let reason = decision.details["reason"] { details["\(prefix).reason"] = reason }
        }
        var reasons: [String] = []
        if errors.verdict == .fail {
            reasons.append("error rate higher than stable: \(errors.details["canaryErrors"] ?? "?") canary errors, "
                           + "always-valid p \(String(format: "%.3g", errors.pValue ?? 1)) ≤ α \(formatDecimal(errorJudge.alpha, digits: 4))")
        }
        if latency.verdict == .fail {
            let shift = latency.details["estimatedShift"].flatMap(Double.init).map { formatPercent($0) } ?? "?"
            reasons.append("latency higher than stable by about \(shift), "
                           + "always-valid p \(String(format: "%.3g", latency.pValue ?? 1)) ≤ α \(formatDecimal(latencyJudge.alpha, digits: 4))")
        }
        return AnalysisMeasurement(verdict: reasons.isEmpty ? .pass : .fail, requests: newCandidate.requests, errors: newCandidate.errors,
                                   errorRate: newCandidate.errorRate, latencyMilliseconds: newCandidate.latency.headlineQuantilesMilliseconds, window: elapsed,
                                   reasons: reasons, details: details)
    }

    /// Wilson score upper bound at 99 % for an error rate.
    static func upperConfidenceBound(errors: UInt64, requests: UInt64) -> Double {
        let n = Double(requests)
        let p = Double(errors) / n
        let z = 2.326
        let center = p + z * z / (2 * n)
        let margin = z * ((p * (1 - p) + z * z / (4 * n)) / n).squareRoot()
        return min(0.9, (center + margin) / (1 + z * z / n))
    }

    /// Moments of log-latency (milliseconds) from a histogram, each bucket at its geometric midpoint.
    static func logMoments(_ histogram: LatencyHistogram) -> RunningMoments {
        var moments = RunningMoments()
        for (index, count) in histogram.counts.enumerated() where count > 0 {
            let logMilliseconds = log(LatencyHistogram.representativeMilliseconds(ofBucket: index))
            moments.merge(RunningMoments(count: Int(count), mean: logMilliseconds, m2: 0))
        }
        return moments
    }
}
