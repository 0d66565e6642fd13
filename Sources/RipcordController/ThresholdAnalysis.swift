import Foundation
import RipcordCore
import RipcordJudges

/// Judges the candidate against fixed limits (`maxErrorRate`, `maxLatency`) with tests that account for
/// chance. Each limit is a rate: the share of failed requests, or the share slower than a latency limit
/// (p99 ≤ 500 ms means at most 1 % of requests slower than 500 ms). For each, on all of the step's
/// requests so far, an always-valid sequential test fails the candidate once the rate is shown above the
/// limit (at `alpha` split between the limits), and a window passes only once the rate is shown below it
/// (Wilson's upper bound). A quiet canary, or one close to a limit, stays inconclusive: it waits for
/// evidence and is never passed on a handful of lucky requests.
struct ThresholdAnalysis: CandidateAnalysis {
    let spec: AnalysisSpec
    private var tests: [LimitTest]
    private var start: VersionMetrics
    /// What the tests have seen.
    private var fed: VersionMetrics
    /// Where the current measurement window began.
    private var windowStart: VersionMetrics
    private var windowOpenedAt: Moment

    init(spec: AnalysisSpec, candidate: VersionMetrics, at now: Moment) {
        self.spec = spec
        var limits: [(String, Double, LimitTest.Measure)] = []
        if let maxErrorRate = spec.maxErrorRate { limits.append(("error rate", maxErrorRate, .errors)) }
        for limit in spec.maxLatency {
            limits.append(("\(limit.label) latency", 1 - limit.quantile, .slowerThan(limit)))
        }
        let alpha = spec.alpha / Double(max(1, limits.count))
        tests = limits.map { LimitTest(name: $0.0, limit: $0.1, measure: $0.2, alpha: alpha) }
        start = candidate
        fed = candidate
        windowStart = candidate
        windowOpenedAt = now
    }

    /// The tests see every new request at once (they are valid at any number of looks), so a failure is
    /// reported the moment the evidence suffices; a pass or an inconclusive measurement waits for the
    /// interval and `minRequests`.
    mutating func observe(_ snapshot: AnalysisSnapshot, at now: Moment) -> AnalysisMeasurement? {
        let wasFailed = tests.contains(where: \.failed)
        let new = snapshot.candidate - fed
        if new.requests > 0 {
            for index in tests.indices { tests[index].observe(new) }
            fed = snapshot.candidate
        }
        let elapsed = now - windowOpenedAt
        let batch = snapshot.candidate - windowStart
        let failedNow = !wasFailed && tests.contains(where: \.failed)
        guard failedNow || (elapsed >= spec.interval && batch.requests >= UInt64(max(1, spec.minRequests))) else { return nil }
        windowStart = snapshot.candidate
        windowOpenedAt = now
        let step = snapshot.candidate - start
        var reasons: [String] = []
        var details: [String: String] = ["judge": "threshold", "stepRequests": String(step.requests), "stepErrors": String(step.errors)]
        for test in tests {
            details.merge(test.details) { ours, _ in ours }
            if test.failed { reasons.append(test.failure) }
        }
        var latencies: [String: Double] = [:]
        for limit in spec.maxLatency {
            if let observed = step.latency.quantileMilliseconds(limit.quantile) { latencies[limit.label] = observed }
        }
        let verdict: Verdict
        if !reasons.isEmpty {
            verdict = .fail
        } else if tests.allSatisfy(\.affirmed) {
            verdict = .pass
        } else {
            verdict = .inconclusive
            reasons = tests.filter { !$0.affirmed }.map(\.waiting)
        }
        return AnalysisMeasurement(
            verdict: verdict, requests: batch.requests, errors: batch.errors, errorRate: batch.errorRate,
            latencyMilliseconds: latencies, window: elapsed, reasons: reasons, details: details)
    }
}

/// One limit on a rate, tested sequentially on the candidate's requests.
struct LimitTest: Sendable {
    enum Measure: Sendable {
        case errors
        /// Requests slower than the limit's latency (the histogram bucket holding the limit counts as slower).
        case slowerThan(LatencyLimit)
    }

    let name: String
    let limit: Double
    let measure: Measure
    private var judge: SequentialErrorRateJudge

    init(name: String, limit: Double, measure: Measure, alpha: Double) {
        self.name = name
        self.limit = limit
        self.measure = measure
        // Alternatives from 1.5× the limit upwards (clear of 100 %): a rate just over the limit is not
        // worth many requests, a rate several times over it is caught in a few.
        let effect = max(1e-4, min(limit / 2, (0.95 - limit) / 2))
        judge = SequentialErrorRateJudge(alpha: alpha, minimumEffect: effect, maxCanarySamples: .max, reference: .fixedRate(limit))
    }

    mutating func observe(_ batch: VersionMetrics) {
        let (hits, trials) = counts(batch)
        _ = judge.observeVerdict(canaryRequests: trials, canaryErrors: hits, baselineRequests: 0, baselineErrors: 0)
    }

    private func counts(_ batch: VersionMetrics) -> (hits: Int, trials: Int) {
        switch measure {
        case .errors:
            return (Int(clamping: batch.errors), Int(clamping: batch.requests))
        case let .slowerThan(limit):
            let answered = batch.latency.total
            let fastEnough = batch.latency.count(atMost: UInt64(max(0, limit.limit.milliseconds)) * 1000)
            return (Int(clamping: answered - min(answered, fastEnough)), Int(clamping: answered))
        }
    }

    var failed: Bool { judge.currentDecision.verdict == .fail }
    /// The data show the rate below the limit.
    var affirmed: Bool { judge.affirmsIncreaseBelow(0) }

    private var observed: String { "\(judge.canaryErrors)/\(judge.canaryRequests)" }
    private var upperBound: Double { judge.upperBoundOfIncrease() + limit }

    var failure: String {
        "\(name) above its limit: \(observed) requests (\(formatPercent(Double(judge.canaryErrors) / Double(max(1, judge.canaryRequests)))) "
            + "against at most \(formatPercent(limit)), always-valid p \(String(format: "%.3g", judge.pValue)) ≤ α \(formatDecimal(judge.alpha, digits: 4))"
    }

    var waiting: String {
        "\(name): \(observed) requests, not yet shown below \(formatPercent(limit)) (95 % upper bound \(formatPercent(upperBound)))"
    }

    var details: [String: String] {
        let key =
            switch measure {
            case .errors: "errorRate"
            case let .slowerThan(limit): "latency.\(limit.label)"
            }
        return [
            "\(key).observed": observed, "\(key).limit": formatRatio(limit), "\(key).upperBound": formatRatio(upperBound),
            "\(key).pValue": String(format: "%.3g", judge.pValue), "\(key).verdict": failed ? "fail" : affirmed ? "pass" : "inconclusive",
        ]
    }
}
