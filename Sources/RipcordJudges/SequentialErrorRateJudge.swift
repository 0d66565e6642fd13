import Foundation

/// What the canary's error rate is compared with.
public enum ErrorRateReference: Sendable, Codable, Equatable {
    /// The baseline stream observed side by side (no prior knowledge). The test conditions on where the
    /// errors fall: given a batch's errors, each is the canary's with probability n_c / (n_c + n_b) if the
    /// canary is no worse, so evidence is error allocation, which needs several canary errors at small rates.
    /// Most of α goes to bets chosen to decide within seconds (`AllocationBettingTable`), the rest to the
    /// mixture below, which keeps smaller increases detectable.
    case baseline
    /// A known rate, e.g. the stable version's long-run error rate or an SLO: H0 is "canary rate <= rate".
    /// Much faster than `.baseline` because the null's noise is the small known rate, not an estimate.
    case fixedRate(Double)
}

/// Sequential test of error rates, fed batch by batch; safe under continuous monitoring (always valid).
///
/// H0: the canary is no worse than the reference (rate <= p0, or rate ratio <= 1 against the baseline).
/// The statistic is a mixture likelihood ratio (mSPRT) over a grid of alternatives, equally weighted:
/// - fixed rate p0: Bernoulli alternatives p1_k = p0 + minimumEffect * 2^k (k = 0..<alternatives, default 4, p1 < 0.95);
/// - baseline: rate ratios rho_k = rho_min * 2^k, rho_min = 1 + minimumEffect / p_b, where p_b is the baseline
///   rate estimated from earlier batches only (0.5 pseudo-errors in 50 pseudo-requests), so each factor stays
///   a likelihood ratio chosen before its batch is seen. Against the baseline this mixture holds 1/8 of the
///   wealth; 7/8 bets batch by batch as `AllocationBettingTable` says (each bet chosen before the batch's
///   allocation is seen, so the sum of the two stays a test supermartingale).
/// Under H0 the mixture is a non-negative (super)martingale with mean <= 1, so by Ville's inequality
/// P(it ever reaches 1/alpha) <= alpha: `fail` when log LR >= log(1/alpha), whenever one looks.
/// The always-valid p-value is min over time of 1/LR. `pass` once `maxCanarySamples` canary requests
/// were seen without such evidence; `inconclusive` before. A `fail` is final.
///
/// Defaults: alpha 0.008 (with the latency judge's 0.002, a 1 % false-rollback budget by the union bound),
/// minimumEffect 0.01, 4 alternatives (1x to 8x the minimum effect; larger increases are still caught fast).
/// With a known reference rate this needs about 1.2-1.6x the samples of Wald's SPRT that knows the true rates.
public struct SequentialErrorRateJudge: Sendable {
    public let alpha: Double
    /// Smallest increase of the error rate worth detecting, absolute (0.01 = one percentage point).
    public let minimumEffect: Double
    public let maxCanarySamples: Int
    public let reference: ErrorRateReference
    public let alternatives: Int

    public private(set) var canaryRequests = 0
    public private(set) var canaryErrors = 0
    public private(set) var baselineRequests = 0
    public private(set) var baselineErrors = 0
    public private(set) var batches = 0
    /// log of the mixture likelihood ratio now.
    public private(set) var logLikelihoodRatio = 0.0
    /// Always-valid p-value: min(1, 1 / max LR so far).
    public private(set) var pValue = 1.0
    private var logLR: [Double]
    private var lastRatios: [Double]
    /// Against the baseline: log-wealth of the betting part, its table and its last bet.
    private var bettingLogWealth = 0.0
    private let betting: AllocationBettingTable?
    private var lastBet = 1.0
    private var finalDecision: JudgeDecision?

    /// The betting part's share of α against the baseline (the research's 0.007 of 0.008).
    static let bettingShare = 0.875

    /// Builds the table the test against the baseline bets from (a quarter second in a release build), so
    /// the first rollout does not wait for it; optional, as the table is otherwise built on first use.
    public static func prepareBaselineTest(alpha: Double) {
        _ = bettingTable(alpha: alpha)
    }

    /// The betting part alone must reach 1/(α·share) for the whole to reach 1/α.
    private static func bettingTable(alpha: Double) -> AllocationBettingTable {
        AllocationBettingTable.forThreshold(log(1 / (alpha * bettingShare)))
    }

    public init(
        alpha: Double = 0.008, minimumEffect: Double = 0.01, maxCanarySamples: Int = 12_000,
        reference: ErrorRateReference = .baseline, alternatives: Int = 4
    ) {
        precondition(alpha > 0 && alpha < 1, "alpha must be in (0, 1)")
        precondition(minimumEffect > 0 && minimumEffect < 1, "minimumEffect must be in (0, 1)")
        self.alpha = alpha
        self.minimumEffect = minimumEffect
        self.maxCanarySamples = max(1, maxCanarySamples)
        self.reference = reference
        var k = max(1, alternatives)
        if case .fixedRate(let p0) = reference {
            let base = min(max(p0, 1e-9), 0.9)
            // Drop alternatives at or above 0.95.
            while k > 1 && base + minimumEffect * pow(2, Double(k - 1)) >= 0.95 { k -= 1 }
        }
        self.alternatives = k
        betting = reference == .baseline ? Self.bettingTable(alpha: alpha) : nil
        logLR = Array(repeating: 0, count: k)
        lastRatios = Array(repeating: .nan, count: k)
    }

    /// The fixed-rate alternatives p1_k (empty for `.baseline`).
    public var fixedRateAlternatives: [Double] {
        guard case .fixedRate(let p0) = reference else { return [] }
        let base = min(max(p0, 1e-9), 0.9)
        return (0..<alternatives).map { base + minimumEffect * pow(2, Double($0)) }
    }

    /// Feeds one batch (e.g. one second of requests) and returns the decision so far.
    public mutating func observe(canaryRequests cr: Int, canaryErrors ce: Int, baselineRequests br: Int, baselineErrors be: Int) -> JudgeDecision {
        if let d = finalDecision { return d }
        let verdict = observeVerdict(canaryRequests: cr, canaryErrors: ce, baselineRequests: br, baselineErrors: be)
        if let d = finalDecision { return d }
        return decision(verdict, threshold: log(1 / alpha))
    }

    /// Same as `observe` without building the decision record (for simulations); `currentDecision` has it.
    public mutating func observeVerdict(canaryRequests cr: Int, canaryErrors ce: Int, baselineRequests br: Int, baselineErrors be: Int) -> JudgeVerdict {
        if let d = finalDecision { return d.verdict }
        let cr = max(0, cr), br = max(0, br)
        let ce = min(max(0, ce), cr), be = min(max(0, be), br)
        batches += 1
        switch reference {
        case .fixedRate(let rate):
            let p0 = min(max(rate, 1e-9), 0.9)
            let failures = Double(ce), successes = Double(cr - ce)
            for k in 0..<alternatives {
                let p1 = p0 + minimumEffect * pow(2, Double(k))
                logLR[k] += failures * log(p1 / p0) + successes * log((1 - p1) / (1 - p0))
            }
        case .baseline:
            // Predictable estimate of the baseline rate (earlier batches only).
            let pb = (Double(baselineErrors) + 0.5) / (Double(baselineRequests) + 50)
            let rhoMin = 1 + minimumEffect / max(pb, 1e-4)
            let errors = ce + be
            if errors > 0 && cr > 0 && br > 0 {
                let pi0 = Double(cr) / Double(cr + br)
                if let betting {
                    let bet = betting.ratio(batch: batches - 1, logWealth: bettingLogWealth, canaryShare: pi0, errors: errors)
                    bettingLogWealth += Double(ce) * log(bet) - Double(errors) * log1p((bet - 1) * pi0)
                    lastBet = bet
                }
                for k in 0..<alternatives {
                    let rho = rhoMin * pow(2, Double(k))
                    let pi1 = rho * Double(cr) / (rho * Double(cr) + Double(br))
                    logLR[k] += Double(ce) * log(pi1 / pi0) + Double(be) * log((1 - pi1) / (1 - pi0))
                    lastRatios[k] = rho
                }
            }
        }
        canaryRequests += cr
        canaryErrors += ce
        baselineRequests += br
        baselineErrors += be
        let logWeight = -log(Double(alternatives))
        var mix = -Double.infinity
        for v in logLR { mix = logAddExp(mix, v + logWeight) }
        if betting != nil { mix = logAddExp(log(Self.bettingShare) + bettingLogWealth, log(1 - Self.bettingShare) + mix) }
        logLikelihoodRatio = mix
        pValue = min(pValue, min(1, exp(-mix)))

        let threshold = log(1 / alpha)
        let verdict: JudgeVerdict
        if mix >= threshold {
            verdict = .fail
        } else if canaryRequests >= maxCanarySamples {
            verdict = .pass
        } else {
            verdict = .inconclusive
        }
        if verdict != .inconclusive { finalDecision = decision(verdict, threshold: threshold) }
        return verdict
    }

    /// The upper confidence bound (one-sided, `z`) of how much higher the canary's error rate is than the
    /// reference: Newcombe's bound on the difference against the baseline stream, Wilson's against a fixed rate.
    public func upperBoundOfIncrease(z: Double = ConfidenceBounds.affirmationZ) -> Double {
        switch reference {
        case .fixedRate(let rate):
            return ConfidenceBounds.wilson(successes: canaryErrors, trials: canaryRequests, z: z).upper - rate
        case .baseline:
            return ConfidenceBounds.upperBoundOfIncrease(
                errorsA: canaryErrors, trialsA: canaryRequests,
                errorsB: baselineErrors, trialsB: baselineRequests, z: z)
        }
    }

    /// Whether the data affirm the canary's error rate is less than `tolerance` above the reference.
    public func affirmsIncreaseBelow(_ tolerance: Double) -> Bool {
        finalDecision?.verdict != .fail && upperBoundOfIncrease() < tolerance
    }

    /// The current decision without feeding data.
    public var currentDecision: JudgeDecision {
        finalDecision ?? decision(.inconclusive, threshold: log(1 / alpha))
    }

    private func decision(_ verdict: JudgeVerdict, threshold: Double) -> JudgeDecision {
        let canaryRate = canaryRequests > 0 ? Double(canaryErrors) / Double(canaryRequests) : .nan
        let baselineRate = baselineRequests > 0 ? Double(baselineErrors) / Double(baselineRequests) : .nan
        var details: [String: String] = [
            "test": "mixture SPRT (mSPRT), one-sided: is the canary's error rate higher?",
            "alpha": formatNumber(alpha),
            "threshold": "log LR >= log(1/alpha) = \(formatNumber(threshold))",
            "minimumEffect": formatNumber(minimumEffect),
            "canaryErrors": "\(canaryErrors)/\(canaryRequests)",
            "canaryErrorRate": formatNumber(canaryRate),
            "baselineErrors": "\(baselineErrors)/\(baselineRequests)",
            "baselineErrorRate": formatNumber(baselineRate),
            "batches": "\(batches)",
            "maxCanarySamples": "\(maxCanarySamples)",
            "upperBoundOfIncrease": formatNumber(upperBoundOfIncrease()),
        ]
        switch reference {
        case .fixedRate(let p):
            details["reference"] = "fixed rate \(formatNumber(p))"
            details["nullHypothesis"] = "canary error rate <= \(formatNumber(p))"
        case .baseline:
            details["reference"] = "baseline stream"
            details["nullHypothesis"] = "canary error rate <= baseline error rate"
            details["test"] = "bets on where errors fall (7/8 of the wealth, table-chosen ratios) and a mixture SPRT (1/8): is the canary's error rate higher?"
            details["betting"] = "log wealth \(formatNumber(bettingLogWealth)), last bet rate ratio \(formatNumber(lastBet, 3))"
        }
        if let best = logLR.indices.max(by: { logLR[$0] < logLR[$1] }), batches > 0 {
            let alternatives = fixedRateAlternatives
            let label = alternatives.isEmpty ? "rate ratio \(formatNumber(lastRatios[best], 3))" : "rate \(formatNumber(alternatives[best]))"
            details["strongestAlternative"] = "\(label) (log LR \(formatNumber(logLR[best])))"
        }
        switch verdict {
        case .fail:
            details["reason"] = "evidence that the canary's error rate is higher reached 1/alpha (always-valid p = \(formatNumber(pValue)) <= \(formatNumber(alpha)))"
        case .pass:
            details["reason"] = "\(canaryRequests) canary requests (horizon \(maxCanarySamples)) without sufficient evidence of a higher error rate"
        case .inconclusive:
            details["reason"] =
                "collecting evidence: log LR \(formatNumber(logLikelihoodRatio)) < \(formatNumber(threshold)); \(canaryRequests)/\(maxCanarySamples) canary requests"
        }
        let refName: String
        if case .fixedRate = reference { refName = "fixed rate" } else { refName = "baseline" }
        return JudgeDecision(
            verdict: verdict, judge: "sequential",
            statistic: "mSPRT log-likelihood ratio (error rate, canary vs \(refName))",
            value: logLikelihoodRatio, pValue: pValue,
            canarySamples: canaryRequests, baselineSamples: baselineRequests, details: details)
    }
}
