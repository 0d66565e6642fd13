import Foundation

/// Confidence bounds on proportions, for the other half of every judge: a window passes only when the
/// data affirm the candidate is good (its bound on "how much worse" is below the tolerance), never
/// merely because nothing bad was seen yet.
public enum ConfidenceBounds {
    /// One-sided 95 %: a bound on "how much worse" that a candidate exactly at the tolerance stays above
    /// 19 times in 20 (the judges' power: at most a 5 % chance to affirm a candidate that is not good).
    public static let affirmationZ = 1.645

    /// Wilson score bounds of a proportion; good at small counts and rates near 0, where the normal
    /// approximation would claim certainty from zero errors.
    public static func wilson(successes: Int, trials: Int, z: Double) -> (lower: Double, upper: Double) {
        guard trials > 0 else { return (0, 1) }
        let n = Double(trials), p = Double(min(max(successes, 0), trials)) / n
        let z2 = z * z
        let center = p + z2 / (2 * n)
        let margin = z * ((p * (1 - p) + z2 / (4 * n)) / n).squareRoot()
        let scale = 1 + z2 / n
        return (max(0, (center - margin) / scale), min(1, (center + margin) / scale))
    }

    /// Newcombe's hybrid score bound on the increase p_a - p_b (one-sided upper), from the two Wilson intervals.
    public static func upperBoundOfIncrease(errorsA: Int, trialsA: Int, errorsB: Int, trialsB: Int, z: Double) -> Double {
        guard trialsA > 0 else { return 1 }
        let pa = Double(errorsA) / Double(trialsA)
        let a = wilson(successes: errorsA, trials: trialsA, z: z)
        guard trialsB > 0 else { return a.upper }
        let pb = Double(errorsB) / Double(trialsB)
        let b = wilson(successes: errorsB, trials: trialsB, z: z)
        let spread = ((a.upper - pa) * (a.upper - pa) + (pb - b.lower) * (pb - b.lower)).squareRoot()
        return pa - pb + spread
    }

    /// P(X >= k) for X ~ Binomial(n, p), exact (summed in log space).
    public static func binomialUpperTail(atLeast k: Int, trials n: Int, probability p: Double) -> Double {
        guard k > 0 else { return 1 }
        guard k <= n else { return 0 }
        guard p > 0 else { return 0 }
        guard p < 1 else { return 1 }
        let logP = log(p), logQ = log1p(-p)
        var total = -Double.infinity
        for i in k...n {
            let term = lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1)) + Double(i) * logP + Double(n - i) * logQ
            total = logAddExp(total, term)
            if term < total - 40 { break }
        }
        return min(1, exp(total))
    }
}
