import Foundation

/// A fixed-sample observation window of one version: request and error counts plus named distributions
/// (e.g. "latency_ms").
public struct MetricSample: Sendable, Codable, Equatable {
    public var requests: Int
    public var errors: Int
    public var distributions: [String: [Double]]
    public init(requests: Int, errors: Int, distributions: [String: [Double]] = [:]) {
        self.requests = requests
        self.errors = errors
        self.distributions = distributions
    }
}

/// Which direction of change is bad for a metric.
public enum MetricDirection: String, Sendable, Codable {
    /// Higher is bad (latency, errors): a `low` classification counts as pass.
    case increase
    /// Lower is bad (throughput): a `high` classification counts as pass.
    case decrease
    /// Any significant change is bad.
    case either
}

/// Kayenta's per-metric classification labels.
public enum MetricClassificationLabel: String, Sendable, Codable {
    case pass, high, low, nodata
}

/// How one metric compared.
public struct MetricClassification: Sendable, Codable, Equatable {
    public var metric: String
    public var classification: MetricClassificationLabel
    /// Whether the classification counts against the canary (given the metric's direction).
    public var failed: Bool
    public var critical: Bool
    public var test: String
    /// nil when there was not enough data.
    public var statistic: Double?
    public var pValue: Double?
    /// Error rate, or median of the distribution; nil without data.
    public var canaryValue: Double?
    public var baselineValue: Double?
    /// canaryValue / baselineValue (nil when undefined).
    public var ratio: Double?
    public var reason: String
}

/// Per-metric configuration of the canary-vs-baseline judge.
public struct MetricConfig: Sendable, Codable, Equatable {
    public var name: String
    public var direction: MetricDirection
    public var weight: Double
    /// A failing critical metric fails the whole analysis (score 0).
    public var critical: Bool
    /// Relative change of the median (distributions) that must also be exceeded to classify high/low,
    /// e.g. 0.1 = 10 %; keeps tiny but significant shifts from failing canaries on big samples.
    public var tolerance: Double
    public init(name: String, direction: MetricDirection = .increase, weight: Double = 1, critical: Bool = false, tolerance: Double = 0.1) {
        self.name = name
        self.direction = direction
        self.weight = weight
        self.critical = critical
        self.tolerance = tolerance
    }
}

/// Kayenta-style fixed-sample canary analysis (after Netflix's ACA judge): every distribution metric is
/// compared with Mann-Whitney U, the error rate with an exact binomial test conditional on the window's errors; each metric is classified
/// high / low / pass at `confidenceLevel` (two-sided) and only when the effect also exceeds the metric's
/// tolerance; metrics classified in their bad direction fail. Score = 100 x weight of non-failing metrics /
/// total weight (metrics without data are left out); a failing critical metric makes the score 0.
/// Verdict: score >= passThreshold -> pass, >= marginalThreshold -> inconclusive (marginal), else fail.
public struct CanaryBaselineJudge: Sendable {
    public var metrics: [MetricConfig]
    /// Error rate metric: absolute tolerance in error-rate points (0.005 = half a percentage point).
    public var errorRateTolerance: Double
    public var errorRateCritical: Bool
    public var errorRateWeight: Double
    public var confidenceLevel: Double
    public var passThreshold: Double
    public var marginalThreshold: Double
    /// Fewer samples than this in either version classifies the metric as `nodata`.
    public var minimumSamples: Int

    public init(
        metrics: [MetricConfig] = [MetricConfig(name: "latency_ms")],
        errorRateTolerance: Double = 0.005, errorRateCritical: Bool = true, errorRateWeight: Double = 1,
        confidenceLevel: Double = 0.98, passThreshold: Double = 95, marginalThreshold: Double = 75,
        minimumSamples: Int = 10
    ) {
        self.metrics = metrics
        self.errorRateTolerance = errorRateTolerance
        self.errorRateCritical = errorRateCritical
        self.errorRateWeight = errorRateWeight
        self.confidenceLevel = confidenceLevel
        self.passThreshold = passThreshold
        self.marginalThreshold = marginalThreshold
        self.minimumSamples = minimumSamples
    }

    public func judge(canary: MetricSample, baseline: MetricSample) -> (JudgeDecision, [MetricClassification]) {
        let significance = 1 - confidenceLevel
        var results: [MetricClassification] = []
        var weights: [Double] = []

        // Error rate: high = canary worse.
        do {
            let name = "error_rate"
            let cr = canary.requests > 0 ? Double(canary.errors) / Double(canary.requests) : .nan
            let br = baseline.requests > 0 ? Double(baseline.errors) / Double(baseline.requests) : .nan
            if canary.requests < minimumSamples || baseline.requests < minimumSamples {
                results.append(
                    MetricClassification(
                        metric: name, classification: .nodata, failed: false, critical: errorRateCritical,
                        test: "exact conditional binomial", statistic: nil, pValue: nil, canaryValue: finite(cr),
                        baselineValue: finite(br), ratio: br > 0 ? finite(cr / br) : nil,
                        reason: "fewer than \(minimumSamples) requests"))
            } else {
                // Exact, conditional on the window's errors: were they the canary's more often than its share
                // of the requests? (A z-test on two proportions claims significance from 2 errors in 50.)
                let errors = canary.errors + baseline.errors
                let share = Double(canary.requests) / Double(canary.requests + baseline.requests)
                let greater = ConfidenceBounds.binomialUpperTail(atLeast: canary.errors, trials: errors, probability: share)
                let less = 1 - ConfidenceBounds.binomialUpperTail(atLeast: canary.errors + 1, trials: errors, probability: share)
                let twoSided = min(1, 2 * min(greater, less))
                var label = MetricClassificationLabel.pass
                if twoSided < significance && abs(cr - br) > errorRateTolerance { label = cr > br ? .high : .low }
                let failed = label == .high
                let reason =
                    label == .pass
                    ? "error rate \(pct(cr)) vs \(pct(br)): not significantly different beyond \(pct(errorRateTolerance)) (p = \(formatNumber(twoSided)))"
                    : "error rate \(pct(cr)) vs \(pct(br)): \(label.rawValue) (\(canary.errors) of \(errors) errors where \(formatNumber(share * 100, 3)) % were expected, p = \(formatNumber(twoSided)))"
                results.append(
                    MetricClassification(
                        metric: name, classification: label, failed: failed, critical: errorRateCritical,
                        test: "exact conditional binomial", statistic: Double(canary.errors), pValue: twoSided, canaryValue: cr,
                        baselineValue: br, ratio: br > 0 ? cr / br : nil, reason: reason))
            }
            weights.append(errorRateWeight)
        }

        for m in metrics {
            let a = canary.distributions[m.name] ?? []
            let b = baseline.distributions[m.name] ?? []
            let ca = median(a), cb = median(b)
            if a.count < minimumSamples || b.count < minimumSamples {
                results.append(
                    MetricClassification(
                        metric: m.name, classification: .nodata, failed: false, critical: m.critical,
                        test: "Mann-Whitney U", statistic: nil, pValue: nil, canaryValue: finite(ca),
                        baselineValue: finite(cb), ratio: cb != 0 ? finite(ca / cb) : nil,
                        reason: "fewer than \(minimumSamples) values"))
                weights.append(m.weight)
                continue
            }
            let t = MannWhitney.test(a, b)
            let ratio = cb != 0 ? ca / cb : .nan
            let relative = cb != 0 ? ca / cb - 1 : (ca == cb ? 0 : .infinity)
            var label = MetricClassificationLabel.pass
            if t.pValueTwoSided < significance && abs(relative) > m.tolerance { label = t.z > 0 ? .high : .low }
            let failed: Bool
            switch m.direction {
            case .increase: failed = label == .high
            case .decrease: failed = label == .low
            case .either: failed = label == .high || label == .low
            }
            let reason =
                "median \(formatNumber(ca)) vs \(formatNumber(cb)) (\(relative >= 0 ? "+" : "")\(formatNumber(relative * 100, 3)) %), "
                + "U = \(formatNumber(t.u, 6)), z = \(formatNumber(t.z)), p = \(formatNumber(t.pValueTwoSided)); "
                + (label == .pass ? "pass" : "\(label.rawValue)\(failed ? " (bad direction)" : " (allowed direction)")")
            results.append(
                MetricClassification(
                    metric: m.name, classification: label, failed: failed, critical: m.critical,
                    test: "Mann-Whitney U", statistic: t.u, pValue: t.pValueTwoSided, canaryValue: ca,
                    baselineValue: cb, ratio: finite(ratio), reason: reason))
            weights.append(m.weight)
        }

        var total = 0.0, good = 0.0
        var criticalFailure: String?
        for (r, w) in zip(results, weights) where r.classification != .nodata {
            total += w
            if !r.failed { good += w }
            if r.failed && r.critical && criticalFailure == nil { criticalFailure = r.metric }
        }
        let score: Double
        if criticalFailure != nil { score = 0 } else { score = total > 0 ? 100 * good / total : .nan }
        let verdict: JudgeVerdict
        if score.isNaN {
            verdict = .inconclusive
        } else if score >= passThreshold {
            verdict = .pass
        } else if score >= marginalThreshold {
            verdict = .inconclusive
        } else {
            verdict = .fail
        }

        var details: [String: String] = [
            "score": formatNumber(score),
            "passThreshold": formatNumber(passThreshold),
            "marginalThreshold": formatNumber(marginalThreshold),
            "confidenceLevel": formatNumber(confidenceLevel),
        ]
        for r in results { details["metric." + r.metric] = "\(r.classification.rawValue)\(r.failed ? " FAIL" : ""): \(r.reason)" }
        if let c = criticalFailure { details["criticalFailure"] = c }
        details["reason"] = {
            switch verdict {
            case .pass: return "score \(formatNumber(score)) >= pass threshold \(formatNumber(passThreshold))"
            case .inconclusive:
                return score.isNaN
                    ? "no metric had enough data"
                    : "marginal: score \(formatNumber(score)) between \(formatNumber(marginalThreshold)) and \(formatNumber(passThreshold))"
            case .fail:
                if let c = criticalFailure { return "critical metric \(c) failed: score 0" }
                return "score \(formatNumber(score)) < marginal threshold \(formatNumber(marginalThreshold))"
            }
        }()
        let minP = results.compactMap { $0.pValue }.min()
        let decision = JudgeDecision(
            verdict: verdict, judge: "canaryVsBaseline",
            statistic: "Kayenta-style score (Mann-Whitney U, exact binomial on errors)",
            value: score.isNaN ? 0 : score, pValue: minP, canarySamples: canary.requests, baselineSamples: baseline.requests,
            details: details)
        return (decision, results)
    }

    private func median(_ x: [Double]) -> Double { sortedQuantile(x.sorted(), 0.5) }
    private func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
    private func pct(_ x: Double) -> String { formatNumber(x * 100, 3) + " %" }
}

/// Flagger/Argo-style threshold analysis: every `interval` seconds the window's metrics are checked against
/// fixed thresholds; a failed check counts, and the canary is rolled back when `failureLimit` checks failed
/// (Flagger's `threshold`; failures are counted in total, not reset by a passing check).
/// `pass` after `maxChecks` checks with fewer failures.
public struct ThresholdJudge: Sendable {
    public var intervalSeconds: Double
    /// Check fails when the window's error rate is above this.
    public var maxErrorRate: Double
    /// Check fails when the window's p99 latency is above this (nil: no latency check).
    public var maxP99Latency: Double?
    public var failureLimit: Int
    public var maxChecks: Int
    public private(set) var checks = 0
    public private(set) var failedChecks = 0
    public private(set) var canarySamples = 0
    private var finalDecision: JudgeDecision?
    private var lastDetails: [String: String] = [:]

    public init(intervalSeconds: Double = 60, maxErrorRate: Double, maxP99Latency: Double? = nil, failureLimit: Int = 5, maxChecks: Int = 10) {
        self.intervalSeconds = intervalSeconds
        self.maxErrorRate = maxErrorRate
        self.maxP99Latency = maxP99Latency
        self.failureLimit = failureLimit
        self.maxChecks = maxChecks
    }

    /// One check over an interval's window: canary requests, errors and p99 latency (if measured).
    public mutating func check(requests: Int, errors: Int, p99Latency: Double?) -> JudgeDecision {
        if let d = finalDecision { return d }
        checks += 1
        canarySamples += requests
        let rate = requests > 0 ? Double(errors) / Double(requests) : 0
        var failures: [String] = []
        if rate > maxErrorRate { failures.append("error rate \(formatNumber(rate * 100, 3)) % > \(formatNumber(maxErrorRate * 100, 3)) %") }
        if let limit = maxP99Latency, let p99 = p99Latency, p99 > limit { failures.append("p99 \(formatNumber(p99)) > \(formatNumber(limit))") }
        if !failures.isEmpty { failedChecks += 1 }
        let verdict: JudgeVerdict = failedChecks >= failureLimit ? .fail : (checks >= maxChecks ? .pass : .inconclusive)
        lastDetails = [
            "rule": "every \(formatNumber(intervalSeconds)) s: fail the check if error rate > \(formatNumber(maxErrorRate * 100, 3)) %"
                + (maxP99Latency.map { " or p99 > \(formatNumber($0))" } ?? "") + "; roll back after \(failureLimit) failed checks",
            "check": "\(checks)",
            "failedChecks": "\(failedChecks)",
            "lastCheck": failures.isEmpty ? "passed (error rate \(formatNumber(rate * 100, 3)) %)" : "failed: " + failures.joined(separator: ", "),
        ]
        let d = JudgeDecision(
            verdict: verdict, judge: "threshold", statistic: "failed checks", value: Double(failedChecks),
            pValue: nil, canarySamples: canarySamples, baselineSamples: 0, details: lastDetails)
        if verdict != .inconclusive { finalDecision = d }
        return d
    }
}
