import Foundation

/// The operating point every judge's defaults are derived from, and what `ripcord validate --explain`
/// reports: a stable version failing 0.5 % of requests, a bad candidate failing 5 % (or 50 % slower), the
/// canary on 10 % of the traffic, at most a 1 % chance per rollout of rolling back a good candidate, and
/// a 5 % chance of affirming a candidate that sits exactly at a tolerance.
public enum JudgeDesign {
    public static let referenceErrorRate = 0.005
    public static let badErrorRate = 0.05
    public static let badLatencyIncrease = 0.5
    /// The power a Kayenta window needs against the bad error rate.
    public static let windowPower = 0.8

    /// The smallest canary window (requests) in which the canaryBaseline judge's exact error test at
    /// two-sided `confidenceLevel` flags `bad` against `reference` with probability `power`, the
    /// reference stream (stable and baseline) being `referenceRatio` times the canary's.
    public static func canaryBaselineWindow(
        confidenceLevel: Double, tolerance: Double, reference: Double = referenceErrorRate,
        bad: Double = badErrorRate, referenceRatio: Double = 9, power: Double = windowPower
    ) -> Int {
        var n = 10
        while n < 100_000 {
            if canaryBaselineWindowPower(
                n, confidenceLevel: confidenceLevel, tolerance: tolerance, reference: reference,
                bad: bad, referenceRatio: referenceRatio) >= power
            {
                return n
            }
            n += n < 200 ? 10 : 50
        }
        return n
    }

    /// The probability that a canary window of `n` requests at the `bad` rate is flagged high.
    public static func canaryBaselineWindowPower(
        _ n: Int, confidenceLevel: Double, tolerance: Double, reference: Double,
        bad: Double, referenceRatio: Double
    ) -> Double {
        let referenceRequests = max(1, Int((Double(n) * referenceRatio).rounded()))
        let share = Double(n) / Double(n + referenceRequests)
        let oneSided = (1 - confidenceLevel) / 2
        var power = 0.0
        for referenceErrors in likelyCounts(trials: referenceRequests, rate: reference) {
            let pReference = binomialProbability(referenceErrors, trials: referenceRequests, rate: reference)
            for canaryErrors in likelyCounts(trials: n, rate: bad) {
                let increase = Double(canaryErrors) / Double(n) - Double(referenceErrors) / Double(referenceRequests)
                guard increase > tolerance else { continue }
                let pValue = ConfidenceBounds.binomialUpperTail(atLeast: canaryErrors, trials: canaryErrors + referenceErrors, probability: share)
                if pValue < oneSided { power += pReference * binomialProbability(canaryErrors, trials: n, rate: bad) }
            }
        }
        return power
    }

    /// Canary requests after which a good canary (its rate and the reference's both `rate`, the counts as
    /// expected) is affirmed less than `tolerance` worse than a reference `referenceRatio` times larger.
    public static func requestsToAffirm(rate: Double = referenceErrorRate, tolerance: Double, referenceRatio: Double = 9) -> Int? {
        firstCount { n in
            let canaryErrors = Int((Double(n) * rate).rounded())
            let referenceRequests = Int(Double(n) * referenceRatio)
            let referenceErrors = Int((Double(referenceRequests) * rate).rounded())
            return ConfidenceBounds.upperBoundOfIncrease(
                errorsA: canaryErrors, trialsA: n, errorsB: referenceErrors, trialsB: referenceRequests,
                z: ConfidenceBounds.affirmationZ) < tolerance
        }
    }

    /// Requests after which a rate `rate` is affirmed below `limit` (Wilson), the counts as expected.
    public static func requestsToAffirmBelow(limit: Double, rate: Double) -> Int? {
        guard rate < limit else { return nil }
        return firstCount { n in
            ConfidenceBounds.wilson(successes: Int((Double(n) * rate).rounded()), trials: n, z: ConfidenceBounds.affirmationZ).upper < limit
        }
    }

    /// Expected requests for a fixed-rate mixture SPRT to reject "rate <= p0" when the rate is `bad`:
    /// log(1/alpha) over the best alternative's drift (Wald's approximation).
    public static func requestsToReject(p0: Double, bad: Double, alpha: Double, minimumEffect: Double, alternatives: Int = 4) -> Int? {
        let judge = SequentialErrorRateJudge(alpha: alpha, minimumEffect: minimumEffect, reference: .fixedRate(p0), alternatives: alternatives)
        let weight = log(Double(judge.alternatives))
        let drifts = judge.fixedRateAlternatives.map { p1 in bad * log(p1 / p0) + (1 - bad) * log((1 - p1) / (1 - p0)) }
        guard let drift = drifts.max(), drift > 0 else { return nil }
        return Int(((log(1 / alpha) + weight) / drift).rounded(.up))
    }

    /// Wald's SPRT expected sample number for p0 against p1 when the truth is p1 (the yardstick the
    /// real-traffic benchmark divides by).
    public static func waldExpectedSamples(p0: Double, p1: Double, alpha: Double, beta: Double = 0.05) -> Double {
        WaldSPRT.expectedSampleNumber(p0: p0, p1: p1, alpha: alpha, beta: beta, trueP: p1)
    }

    private static func firstCount(_ affirmed: (Int) -> Bool) -> Int? {
        var n = 10
        while n <= 10_000_000 {
            if affirmed(n) {
                var low = n / 2
                while low < n {
                    let mid = (low + n) / 2
                    if affirmed(mid) { n = mid } else { low = mid + 1 }
                }
                return n
            }
            n *= 2
        }
        return nil
    }

    private static func likelyCounts(trials: Int, rate: Double) -> ClosedRange<Int> {
        let mean = Double(trials) * rate
        let spread = 8 * (mean * (1 - rate)).squareRoot() + 8
        return max(0, Int(mean - spread))...min(trials, Int(mean + spread))
    }

    private static func binomialProbability(_ k: Int, trials n: Int, rate p: Double) -> Double {
        guard p > 0 else { return k == 0 ? 1 : 0 }
        guard p < 1 else { return k == n ? 1 : 0 }
        return exp(lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) + Double(k) * log(p) + Double(n - k) * log1p(-p))
    }
}
