import Foundation

/// The standard normal distribution: density, CDF, survival function and quantile (inverse CDF).
public enum Normal {
    /// Density of N(0, 1) at `x`.
    public static func pdf(_ x: Double) -> Double {
        exp(-0.5 * x * x) / (2.0 * Double.pi).squareRoot()
    }

    /// P(Z <= x) for Z ~ N(0, 1), accurate to about 1e-15 relative error in both tails (via `erfc`).
    public static func cdf(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        return 0.5 * erfc(-x / 2.0.squareRoot())
    }

    /// P(Z > x) = 1 - cdf(x), without cancellation for large x.
    public static func survival(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        return 0.5 * erfc(x / 2.0.squareRoot())
    }

    /// The x such that cdf(x) = p. Acklam's rational approximation refined by one Halley step,
    /// accurate to about 1e-15. Returns -inf for p = 0, +inf for p = 1, NaN outside [0, 1].
    public static func quantile(_ p: Double) -> Double {
        if p.isNaN || p < 0 || p > 1 { return .nan }
        if p == 0 { return -.infinity }
        if p == 1 { return .infinity }
        let a = [
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
            1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00,
        ]
        let b = [
            -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
            6.680131188771972e+01, -1.328068155288572e+01,
        ]
        let c = [
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
            -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00,
        ]
        let d = [
            7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
            3.754408661907416e+00,
        ]
        let pLow = 0.02425
        var x: Double
        if p < pLow {
            let q = (-2 * log(p)).squareRoot()
            x =
                (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - pLow {
            let q = p - 0.5
            let r = q * q
            x =
                (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x =
                -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        // One Halley step on f(x) = cdf(x) - p; use the survival function in the upper tail.
        let e = p > 0.5 ? (survival(x) - (1 - p)) * -1 : cdf(x) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x = x - u / (1 + x * u / 2)
        return x
    }
}

// MARK: - Pseudo-random numbers

/// SplitMix64: used to expand a single seed into well-mixed state words.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64: fast, deterministic, good quality.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next()
        s1 = sm.next()
        s2 = sm.next()
        s3 = sm.next()
    }

    /// A generator for sub-stream `stream` of `seed` (e.g. one per simulation cell), independent of thread scheduling.
    public init(seed: UInt64, stream: UInt64) {
        var sm = SplitMix64(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        _ = sm.next()
        self.init(seed: sm.next())
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform in the open interval (0, 1).
    @inline(__always)
    public mutating func nextUniform() -> Double {
        (Double(next() >> 11) + 0.5) * 0x1.0p-53
    }

    private var spareNormal: Double? = nil

    /// Standard normal variate (Marsaglia polar method; caches the second variate).
    public mutating func nextNormal() -> Double {
        if let s = spareNormal {
            spareNormal = nil
            return s
        }
        while true {
            let u = 2 * nextUniform() - 1
            let v = 2 * nextUniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let f = (-2 * log(s) / s).squareRoot()
                spareNormal = v * f
                return u * f
            }
        }
    }

    /// Poisson variate with mean `lambda` (inversion by sequential search; exact; O(lambda), fine below ~700).
    public mutating func nextPoisson(_ lambda: Double) -> Int {
        if lambda <= 0 { return 0 }
        if lambda > 500 {
            // Normal approximation for very large means (not used by the simulation grid).
            return max(0, Int((lambda + lambda.squareRoot() * nextNormal()).rounded()))
        }
        var k = 0
        var p = exp(-lambda)
        var cdf = p
        let u = nextUniform()
        while u > cdf {
            k += 1
            p *= lambda / Double(k)
            cdf += p
            if p == 0 && cdf < u { break }  // numerical tail exhausted
        }
        return k
    }

    /// Log-normal latency with the given median and log-space standard deviation `sigma`.
    public mutating func nextLogNormal(median: Double, sigma: Double) -> Double {
        median * exp(sigma * nextNormal())
    }
}

/// Log-normal latency model: `log(latency) ~ N(log(median), sigma^2)`.
public struct LogNormalLatency: Sendable, Codable, Equatable {
    public var median: Double
    public var sigma: Double
    public init(median: Double, sigma: Double) {
        self.median = median
        self.sigma = sigma
    }
    /// The q-quantile of the latency distribution.
    public func quantile(_ q: Double) -> Double { median * exp(sigma * Normal.quantile(q)) }
    public func sample(using rng: inout SeededGenerator) -> Double { rng.nextLogNormal(median: median, sigma: sigma) }
    public func samples(_ n: Int, using rng: inout SeededGenerator) -> [Double] {
        (0..<n).map { _ in rng.nextLogNormal(median: median, sigma: sigma) }
    }
}

// MARK: - Small helpers

/// log(exp(a) + exp(b)) without overflow.
@inline(__always)
func logAddExp(_ a: Double, _ b: Double) -> Double {
    if a == -.infinity { return b }
    if b == -.infinity { return a }
    let m = max(a, b)
    return m + log1p(exp(-abs(a - b)))
}

/// The q-quantile of already sorted values (linear interpolation, type 7).
public func sortedQuantile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    if sorted.count == 1 { return sorted[0] }
    let h = Double(sorted.count - 1) * q
    let lo = Int(h.rounded(.down))
    let hi = min(lo + 1, sorted.count - 1)
    return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
}

public func formatNumber(_ x: Double, _ digits: Int = 4) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    return String(format: "%.\(digits)g", x)
}
