import Foundation

/// Mann-Whitney U (Wilcoxon rank-sum) test with the normal approximation and tie correction.
public enum MannWhitney {
    /// Compares `a` with `b`.
    /// - `u`: U statistic of `a` = number of pairs (a_i, b_j) with a_i > b_j, ties counting 1/2
    ///   (= rank sum of `a` minus n_a(n_a+1)/2, with mid-ranks for ties).
    /// - `z`: (U - n_a n_b / 2) / sigma, sigma^2 = n_a n_b / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1)));
    ///   no continuity correction.
    /// - `pValueTwoSided`: 2 min(Phi(z), 1 - Phi(z)); `pValueGreater`: 1 - Phi(z), small when `a` tends to be larger.
    /// Empty samples or all-tied data give z = 0 and p-values 1 and 0.5.
    public static func test(_ a: [Double], _ b: [Double]) -> (u: Double, z: Double, pValueTwoSided: Double, pValueGreater: Double) {
        let na = a.count, nb = b.count
        guard na > 0, nb > 0 else { return (0, 0, 1, 0.5) }
        let n = na + nb
        // (value, isA) sorted by value; mid-ranks over tie groups.
        var all = [(Double, Bool)]()
        all.reserveCapacity(n)
        for x in a { all.append((x, true)) }
        for x in b { all.append((x, false)) }
        all.sort { $0.0 < $1.0 }
        var rankSumA = 0.0
        var tieTerm = 0.0
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && all[j + 1].0 == all[i].0 { j += 1 }
            let midRank = Double(i + j + 2) / 2  // ranks are 1-based: (i+1 ... j+1)
            let t = Double(j - i + 1)
            if t > 1 { tieTerm += t * t * t - t }
            for k in i...j where all[k].1 { rankSumA += midRank }
            i = j + 1
        }
        let dna = Double(na), dnb = Double(nb), dn = Double(n)
        let u = rankSumA - dna * (dna + 1) / 2
        let mean = dna * dnb / 2
        let variance = dna * dnb / 12 * ((dn + 1) - tieTerm / (dn * (dn - 1)))
        guard variance > 0 else { return (u, 0, 1, 0.5) }
        let z = (u - mean) / variance.squareRoot()
        let greater = Normal.survival(z)
        let twoSided = min(1, 2 * min(Normal.cdf(z), greater))
        return (u, z, twoSided, greater)
    }
}

/// Wald's sequential probability ratio test for a Bernoulli rate, H0: p = p0 against H1: p = p1.
public enum WaldSPRT {
    /// Wald's boundaries in log space: accept H1 when log LR >= log((1 - beta) / alpha),
    /// accept H0 when log LR <= log(beta / (1 - alpha)).
    public static func boundaries(alpha: Double, beta: Double) -> (upper: Double, lower: Double) {
        (log((1 - beta) / alpha), log(beta / (1 - alpha)))
    }

    /// Operating characteristic L(p) = probability of accepting H0 when the true rate is `trueP`
    /// (Wald's approximation, ignoring overshoot).
    public static func operatingCharacteristic(p0: Double, p1: Double, alpha: Double, beta: Double, trueP: Double) -> Double {
        let (logA, logB) = boundaries(alpha: alpha, beta: beta)
        let z1 = log(p1 / p0), z0 = log((1 - p1) / (1 - p0))
        let ez = trueP * z1 + (1 - trueP) * z0
        if abs(ez) < 1e-12 { return logA / (logA - logB) }
        let h = nonZeroRoot(p: trueP, z1: z1, z0: z0, ez: ez)
        // L = (A^h - 1) / (A^h - B^h), computed in log space.
        let ah = h * logA, bh = h * logB
        return expm1(ah) / (exp(ah) - exp(bh))
    }

    /// Wald's approximation of the expected sample number (ASN) of the SPRT of p0 vs p1 with error
    /// probabilities alpha and beta when the true rate is `trueP`:
    /// E[N] = (L log B + (1 - L) log A) / E[z], z = x log(p1/p0) + (1 - x) log((1-p1)/(1-p0)),
    /// and E[N] = -log A log B / E[z^2] where E[z] = 0. At trueP = p1 this is
    /// ((1 - beta) log((1-beta)/alpha) + beta log(beta/(1-alpha))) / KL(p1 || p0).
    public static func expectedSampleNumber(p0: Double, p1: Double, alpha: Double, beta: Double, trueP: Double) -> Double {
        guard p0 > 0, p0 < 1, p1 > 0, p1 < 1, p0 != p1, alpha > 0, beta > 0, alpha + beta < 1 else { return .nan }
        let (logA, logB) = boundaries(alpha: alpha, beta: beta)
        let z1 = log(p1 / p0), z0 = log((1 - p1) / (1 - p0))
        let ez = trueP * z1 + (1 - trueP) * z0
        let ez2 = trueP * z1 * z1 + (1 - trueP) * z0 * z0
        if abs(ez) < 1e-12 * max(1, ez2.squareRoot()) { return -logA * logB / ez2 }
        let l = operatingCharacteristic(p0: p0, p1: p1, alpha: alpha, beta: beta, trueP: trueP)
        return (l * logB + (1 - l) * logA) / ez
    }

    /// The root h != 0 of p e^(h z1) + (1 - p) e^(h z0) = 1 (bisection; the function is convex with g(0) = 0).
    private static func nonZeroRoot(p: Double, z1: Double, z0: Double, ez: Double) -> Double {
        func g(_ h: Double) -> Double { p * exp(h * z1) + (1 - p) * exp(h * z0) - 1 }
        let sign: Double = ez > 0 ? -1 : 1  // the other root lies opposite to the slope at 0
        var far = sign
        var iterations = 0
        while g(far) <= 0 && iterations < 200 {
            far *= 2
            iterations += 1
        }
        var lo = sign * 1e-12, hi = far  // g(lo) < 0 <= g(hi)
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if g(mid) > 0 { hi = mid } else { lo = mid }
            if abs(hi - lo) < 1e-14 * max(1, abs(hi)) { break }
        }
        return (lo + hi) / 2
    }
}
