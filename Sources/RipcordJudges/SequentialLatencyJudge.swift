import Foundation

/// Sequential test for a shift of the canary's latency distribution against the baseline, fed with batches
/// of latencies; safe under continuous monitoring (always valid).
///
/// Works on log-latency (latencies are roughly log-normal, so a relative shift of the median is a shift of
/// the log mean). With d = mean_c - mean_b of log-latency and V = s^2 (1/n_c + 1/n_b) (s^2 the pooled
/// variance), d/V is a Brownian motion with drift theta in information time 1/V. The judge uses the mSPRT of
/// Johari et al. with a one-sided (half-normal, theta > 0) mixture of scale tau over the shift theta:
///
///     LR = 2 sqrt(V / (V + tau^2)) exp(d^2 tau^2 / (2 V (V + tau^2))) Phi(d tau / sqrt(V (V + tau^2)))
///
/// and decides `fail` when LR >= 1/alpha (always-valid p-value = min over time of 1/LR), after at least
/// `minimumSamplesPerArm` per arm (the variance is a plug-in estimate). `pass` once `maxCanarySamples`
/// canary latencies were seen. tau defaults to log(1 + minimumEffect). A `fail` is final.
///
/// The null hypothesis is practical, not exact equality: "the canary is at most `minimumEffect` slower"
/// (theta <= log(1 + minimumEffect) + measurementError), so d above is taken beyond that margin. A fresh
/// process is always a few per cent slower or faster than a warm one; with an exact null, enough traffic
/// turns that into a certain rollback. `measurementError` is how far the recorded latencies can shift the
/// log mean on their own (half a histogram bucket), so bucketing never counts as a regression.
/// `affirmed` is the other side: the upper confidence bound of the increase, recording error added, is below `minimumEffect`.
public struct SequentialLatencyJudge: Sendable {
    public let alpha: Double
    /// Relative increase of the median latency worth detecting (0.2 = +20 %); sets the mixture scale.
    public let minimumEffect: Double
    public let maxCanarySamples: Int
    public let minimumSamplesPerArm: Int
    /// Mixture scale tau on the log-latency shift.
    public let tau: Double
    /// How far recording alone can shift the log mean (e.g. half a histogram bucket's log width).
    public let measurementError: Double
    /// The null's largest log shift: log(1 + minimumEffect) + measurementError.
    public var margin: Double { log(1 + minimumEffect) + measurementError }

    private var canary = RunningMoments()
    private var baseline = RunningMoments()
    public private(set) var batches = 0
    public private(set) var logLikelihoodRatio = 0.0
    public private(set) var pValue = 1.0
    private var finalDecision: JudgeDecision?

    public init(
        alpha: Double = 0.002, minimumEffect: Double = 0.2, maxCanarySamples: Int = 12_000,
        minimumSamplesPerArm: Int = 20, tau: Double? = nil, measurementError: Double = 0
    ) {
        precondition(alpha > 0 && alpha < 1, "alpha must be in (0, 1)")
        precondition(minimumEffect > 0, "minimumEffect must be > 0")
        self.alpha = alpha
        self.minimumEffect = minimumEffect
        self.maxCanarySamples = max(1, maxCanarySamples)
        self.minimumSamplesPerArm = max(2, minimumSamplesPerArm)
        self.tau = tau ?? log(1 + minimumEffect)
        self.measurementError = max(0, measurementError)
    }

    public var canarySamples: Int { canary.count }
    public var baselineSamples: Int { baseline.count }

    /// Feeds one batch of latencies (any positive unit, e.g. milliseconds).
    public mutating func observe(canaryLatencies: [Double], baselineLatencies: [Double]) -> JudgeDecision {
        if let d = finalDecision { return d }
        for x in canaryLatencies where x.isFinite { canary.add(log(max(x, 1e-9))) }
        for x in baselineLatencies where x.isFinite { baseline.add(log(max(x, 1e-9))) }
        return update()
    }

    /// Feeds one batch already summarised as log-latency moments (count, mean, sum of squared deviations).
    public mutating func observe(canaryLogMoments c: RunningMoments, baselineLogMoments b: RunningMoments) -> JudgeDecision {
        if let d = finalDecision { return d }
        canary.merge(c)
        baseline.merge(b)
        return update()
    }

    /// Same as `observe(canaryLatencies:baselineLatencies:)` without building the decision record (for simulations).
    public mutating func observeVerdict(canaryLatencies: [Double], baselineLatencies: [Double]) -> JudgeVerdict {
        if let d = finalDecision { return d.verdict }
        for x in canaryLatencies where x.isFinite { canary.add(log(max(x, 1e-9))) }
        for x in baselineLatencies where x.isFinite { baseline.add(log(max(x, 1e-9))) }
        return step()
    }

    /// Same as `observe(canaryLogMoments:baselineLogMoments:)` without building the decision record (for simulations).
    public mutating func observeVerdict(canaryLogMoments c: RunningMoments, baselineLogMoments b: RunningMoments) -> JudgeVerdict {
        if let d = finalDecision { return d.verdict }
        canary.merge(c)
        baseline.merge(b)
        return step()
    }

    private mutating func update() -> JudgeDecision {
        let verdict = step()
        return finalDecision ?? decision(verdict, threshold: log(1 / alpha))
    }

    private mutating func step() -> JudgeVerdict {
        batches += 1
        let threshold = log(1 / alpha)
        var verdict = JudgeVerdict.inconclusive
        if canary.count >= minimumSamplesPerArm && baseline.count >= minimumSamplesPerArm {
            let pooled = (canary.m2 + baseline.m2) / Double(canary.count + baseline.count - 2)
            let v = max(pooled, 1e-12) * (1 / Double(canary.count) + 1 / Double(baseline.count))
            let d = canary.mean - baseline.mean - margin
            let t2 = tau * tau
            let arg = d * tau / (v * (v + t2)).squareRoot()
            let logPhi = arg > -30 ? log(Normal.cdf(arg)) : (-0.5 * arg * arg - log(-arg) - 0.5 * log(2 * Double.pi))
            logLikelihoodRatio = log(2) + 0.5 * log(v / (v + t2)) + d * d * t2 / (2 * v * (v + t2)) + logPhi
            pValue = min(pValue, min(1, exp(-logLikelihoodRatio)))
            if logLikelihoodRatio >= threshold { verdict = .fail }
        }
        if verdict == .inconclusive && canary.count >= maxCanarySamples { verdict = .pass }
        if verdict != .inconclusive { finalDecision = decision(verdict, threshold: threshold) }
        return verdict
    }

    public var currentDecision: JudgeDecision {
        finalDecision ?? decision(.inconclusive, threshold: log(1 / alpha))
    }

    /// The upper confidence bound (one-sided, `z`) of the relative latency increase, recording error
    /// included; nil before `minimumSamplesPerArm` per arm.
    public func upperBoundOfIncrease(z: Double = ConfidenceBounds.affirmationZ) -> Double? {
        guard canary.count >= minimumSamplesPerArm, baseline.count >= minimumSamplesPerArm else { return nil }
        let pooled = (canary.m2 + baseline.m2) / Double(canary.count + baseline.count - 2)
        let standardError = (max(pooled, 1e-12) * (1 / Double(canary.count) + 1 / Double(baseline.count))).squareRoot()
        return exp(canary.mean - baseline.mean + measurementError + z * standardError) - 1
    }

    /// Whether the data affirm the canary is at most `minimumEffect` slower (not merely "not shown slower").
    public var affirmed: Bool {
        guard finalDecision?.verdict != .fail, let bound = upperBoundOfIncrease() else { return false }
        return bound < minimumEffect
    }

    private func decision(_ verdict: JudgeVerdict, threshold: Double) -> JudgeDecision {
        let shift = canary.count > 0 && baseline.count > 0 ? exp(canary.mean - baseline.mean) - 1 : .nan
        var details: [String: String] = [
            "test": "mSPRT on log-latency, one-sided half-normal mixture: is the canary slower?",
            "alpha": formatNumber(alpha),
            "threshold": "log LR >= log(1/alpha) = \(formatNumber(threshold))",
            "minimumEffect": formatNumber(minimumEffect),
            "tau": formatNumber(tau),
            "nullHypothesis": "canary latency at most \(formatNumber(minimumEffect * 100, 3)) % higher (+\(formatNumber((exp(measurementError) - 1) * 100, 3)) % recording error)",
            "upperBoundOfIncrease": upperBoundOfIncrease().map { formatNumber($0) } ?? "n/a",
            "canaryGeometricMean": formatNumber(canary.count > 0 ? exp(canary.mean) : .nan),
            "baselineGeometricMean": formatNumber(baseline.count > 0 ? exp(baseline.mean) : .nan),
            "estimatedShift": formatNumber(shift),
            "canaryLogSD": formatNumber(canary.standardDeviation),
            "baselineLogSD": formatNumber(baseline.standardDeviation),
            "batches": "\(batches)",
            "maxCanarySamples": "\(maxCanarySamples)",
        ]
        switch verdict {
        case .fail:
            details["reason"] =
                "canary latency higher by about \(formatNumber(shift * 100, 3)) %, beyond the tolerated \(formatNumber(minimumEffect * 100, 3)) %; always-valid p = \(formatNumber(pValue)) <= \(formatNumber(alpha))"
        case .pass:
            details["reason"] = "\(canary.count) canary latencies (horizon \(maxCanarySamples)) without sufficient evidence of a slower canary"
        case .inconclusive:
            if canary.count < minimumSamplesPerArm || baseline.count < minimumSamplesPerArm {
                details["reason"] = "waiting for \(minimumSamplesPerArm) latencies per arm"
            } else {
                details["reason"] = "collecting evidence: log LR \(formatNumber(logLikelihoodRatio)) < \(formatNumber(threshold))"
            }
        }
        return JudgeDecision(
            verdict: verdict, judge: "sequential", statistic: "mSPRT log-likelihood ratio (log-latency shift)",
            value: logLikelihoodRatio, pValue: pValue,
            canarySamples: canary.count, baselineSamples: baseline.count, details: details)
    }
}

/// Count, mean and sum of squared deviations (Welford), mergeable (Chan et al.).
public struct RunningMoments: Sendable, Codable, Equatable {
    public private(set) var count = 0
    public private(set) var mean = 0.0
    public private(set) var m2 = 0.0
    public init() {}
    public init(count: Int, mean: Double, m2: Double) {
        self.count = count
        self.mean = mean
        self.m2 = m2
    }

    @inline(__always)
    public mutating func add(_ x: Double) {
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
    }

    public mutating func merge(_ o: RunningMoments) {
        guard o.count > 0 else { return }
        guard count > 0 else {
            self = o
            return
        }
        let n = Double(count + o.count)
        let delta = o.mean - mean
        mean += delta * Double(o.count) / n
        m2 += o.m2 + delta * delta * Double(count) * Double(o.count) / n
        count += o.count
    }

    public var variance: Double { count > 1 ? m2 / Double(count - 1) : .nan }
    public var standardDeviation: Double { variance.squareRoot() }
}
