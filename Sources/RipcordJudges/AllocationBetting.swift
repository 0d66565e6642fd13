import Foundation
import Synchronization

/// How the error test against the stable stream bets on where a batch's errors fall.
///
/// Under H0 (the canary fails no more often than stable) a batch's canary errors, given the batch's
/// request counts and its error total `e`, are dominated by Binomial(e, π0), π0 = n_c / (n_c + n_s).
/// So for any ρ ≥ 1 chosen before the allocation is seen, `ρ^e_c / (1 + (ρ − 1) π0)^e` has expectation
/// at most 1, and the product over batches is a test supermartingale whatever rule picks ρ: the rule is
/// only a strategy, and a wrong design point costs speed, never validity.
///
/// The rule: growth-optimal (Kelly) bets cannot decide a 5 % canary against a 0.5 % stable within 4.5 s
/// at 200 req/s (their median is 4.8 s even when tuned to the exact point); betting each batch to
/// maximise the probability of reaching 1/α within the horizon does (4.2 s, 3.7 s through the router's
/// round-robin). That probability is a value table V[t](w), computed once by dynamic programming over
/// a design distribution of batches (research: benchmarks/judges-research/REPORT.md).
struct AllocationBettingTable: Sendable {
    /// What the table is built for; a different point only changes which bets are made.
    struct Design: Hashable, Sendable {
        /// ln(1/α₁): the log-wealth at which the betting part alone rejects.
        var logThreshold: Double
        /// Batches within which the table tries to decide (45 batches of the controller's 100 ms ticks).
        var horizon = 45
        var canaryErrorRate = 0.05
        var stableErrorRate = 0.005
        /// Mean requests per batch on each side (20 and 180 req/s in 100 ms batches).
        var canaryRequestsPerBatch = 2.0
        var stableRequestsPerBatch = 18.0
        /// Log-wealth grid: from `lowestLogWealth` up to the threshold in steps of `step`.
        var lowestLogWealth = -10.0
        var step = 0.02
        var shareBins = 16
        var maxErrorsPerBatch = 3
    }

    static let ratios: [Double] = [1, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 50, 100, 250, 1e3, 1e4]
    /// The bet after the horizon: the design's rate ratio.
    static let ratioAfterHorizon = 10.0
    /// Errors beyond this in one batch are bet on as if there were this many (any bet is valid).
    static let maxErrorsPriced = 12

    let design: Design
    /// values[t][i]: probability of reaching the threshold by the horizon from log-wealth w_i before batch t.
    private let values: [[Double]]
    private let logRatios: [Double]

    init(_ design: Design) {
        self.design = design
        logRatios = Self.ratios.map { log($0) }
        let points = Int(((design.logThreshold - design.lowestLogWealth) / design.step).rounded(.down)) + 1
        let wealth = (0..<points).map { design.lowestLogWealth + Double($0) * design.step }
        let components = Self.batchDistribution(design)
        let noErrors = max(0, 1 - components.reduce(0) { $0 + $1.probability })
        var table = [[Double]](repeating: [], count: design.horizon + 1)
        table[design.horizon] = wealth.map { $0 >= design.logThreshold - 1e-12 ? 1 : 0 }
        var best = [Double](repeating: 0, count: points)
        var expected = [Double](repeating: 0, count: points)
        for t in stride(from: design.horizon - 1, through: 0, by: -1) {
            let next = table[t + 1]
            var current = next.map { noErrors * $0 }
            for component in components {
                let outcomes = Self.binomial(component.errors, component.canaryShareOfErrors)
                for i in 0..<points { best[i] = 0 }
                for logRatio in logRatios {
                    let cost = Double(component.errors) * log1p((exp(logRatio) - 1) * component.share)
                    for i in 0..<points { expected[i] = 0 }
                    for (k, p) in outcomes.enumerated() {
                        Self.addShifted(next, by: Double(k) * logRatio - cost, weight: p, design: design, into: &expected)
                    }
                    for i in 0..<points where expected[i] > best[i] { best[i] = expected[i] }
                }
                for i in 0..<points { current[i] += component.probability * best[i] }
            }
            for i in 0..<points where wealth[i] >= design.logThreshold - 1e-12 { current[i] = 1 }
            table[t] = current
        }
        values = table
    }

    /// The bet for batch `batch` (0-based) with this share of requests on the canary and `errors` errors in
    /// all, before their allocation is looked at. Ties go to the smaller ratio (1: no bet).
    func ratio(batch: Int, logWealth: Double, canaryShare: Double, errors: Int) -> Double {
        guard batch < design.horizon else { return Self.ratioAfterHorizon }
        let priced = min(errors, Self.maxErrorsPriced)
        let designRatio = design.canaryErrorRate / design.stableErrorRate
        let canaryShareOfErrors = designRatio * canaryShare / (designRatio * canaryShare + 1 - canaryShare)
        let outcomes = Self.binomial(priced, canaryShareOfErrors)
        let next = values[batch + 1]
        var best = (ratio: 1.0, value: -Double.infinity)
        for (index, ratio) in Self.ratios.enumerated() {
            let cost = Double(priced) * log1p((ratio - 1) * canaryShare)
            var expected = 0.0
            for (k, p) in outcomes.enumerated() {
                expected += p * Self.interpolate(next, design, logWealth + Double(k) * logRatios[index] - cost)
            }
            if expected > best.value { best = (ratio, expected) }
        }
        return best.ratio
    }

    /// Adds `weight` × V(w_i + shift) for every grid point w_i: the shift is the same for all, so the
    /// interpolation offset and fraction are computed once (this loop is most of the table's cost).
    private static func addShifted(_ values: [Double], by shift: Double, weight: Double, design: Design, into sum: inout [Double]) {
        let count = values.count
        let steps = shift / design.step
        let whole = Int(steps.rounded(.down))
        let fraction = steps - Double(whole)
        // Grid points at or past this index land on or beyond the threshold: V = 1 there.
        let reaching = Int(((design.logThreshold - 1e-12 - design.lowestLogWealth - shift) / design.step).rounded(.up))
        values.withUnsafeBufferPointer { v in
            sum.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    let value: Double
                    if i >= reaching {
                        value = 1
                    } else {
                        let lower = i + whole
                        if lower < 0 || (lower == 0 && fraction <= 0) {
                            value = v[0]
                        } else if lower + 1 >= count {
                            value = v[count - 1]
                        } else {
                            value = v[lower] * (1 - fraction) + v[lower + 1] * fraction
                        }
                    }
                    out[i] += weight * value
                }
            }
        }
    }

    /// V(x) between grid points; 1 at or past the threshold, the lowest point's value below the grid.
    private static func interpolate(_ values: [Double], _ design: Design, _ x: Double) -> Double {
        if x >= design.logThreshold - 1e-12 { return 1 }
        let position = (x - design.lowestLogWealth) / design.step
        guard position > 0 else { return values[0] }
        let lower = Int(position)
        guard lower + 1 < values.count else { return values[values.count - 1] }
        let fraction = position - Double(lower)
        return values[lower] * (1 - fraction) + values[lower + 1] * fraction
    }

    /// P(k of n errors are the canary's), k = 0...n.
    private static func binomial(_ n: Int, _ p: Double) -> [Double] {
        (0...n).map { k in exp(logChoose(n, k) + Double(k) * log(max(p, 1e-300)) + Double(n - k) * log(max(1 - p, 1e-300))) }
    }

    private static func logChoose(_ n: Int, _ k: Int) -> Double { lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) }

    private static func poisson(_ k: Int, _ mean: Double) -> Double {
        mean > 0 ? exp(-mean + Double(k) * log(mean) - lgamma(Double(k + 1))) : (k == 0 ? 1 : 0)
    }

    /// Batches with errors under the design, grouped by the canary's share of requests (binned) and the
    /// error count: probability, mean share, mean probability that an error is the canary's.
    private static func batchDistribution(_ design: Design) -> [(probability: Double, share: Double, errors: Int, canaryShareOfErrors: Double)] {
        struct Sum { var probability = 0.0, share = 0.0, canaryShareOfErrors = 0.0 }
        var sums: [Int: Sum] = [:]
        let mc = design.canaryRequestsPerBatch, ms = design.stableRequestsPerBatch
        let canaryMax = Int(mc + 10 * mc.squareRoot() + 10), stableMax = Int(ms + 10 * ms.squareRoot() + 10)
        for nc in 1..<canaryMax {
            let pc = poisson(nc, mc)
            for ns in 0..<stableMax {
                let pn = pc * poisson(ns, ms)
                guard pn >= 1e-12 else { continue }
                let share = Double(nc) / Double(nc + ns)
                let errorRate = Double(nc) * design.canaryErrorRate + Double(ns) * design.stableErrorRate
                let q = Double(nc) * design.canaryErrorRate / errorRate
                let bin = min(Int(share * Double(design.shareBins)), design.shareBins - 1)
                for e in 1...design.maxErrorsPerBatch {
                    let p = pn * poisson(e, errorRate)
                    sums[bin * 100 + e, default: Sum()].probability += p
                    sums[bin * 100 + e]!.share += p * share
                    sums[bin * 100 + e]!.canaryShareOfErrors += p * q
                }
            }
        }
        return sums.sorted { $0.key < $1.key }.compactMap { key, sum in
            guard sum.probability > 1e-10 else { return nil }
            return (sum.probability, sum.share / sum.probability, key % 100, sum.canaryShareOfErrors / sum.probability)
        }
    }

    /// One table per threshold, built on first use (about 0.25 s in a release build, 2 s in debug) and shared.
    static func forThreshold(_ logThreshold: Double) -> AllocationBettingTable {
        let design = Design(logThreshold: logThreshold)
        return cache.withLock { tables in
            if let table = tables[design] { return table }
            let table = AllocationBettingTable(design)
            tables[design] = table
            return table
        }
    }

    private static let cache = Mutex<[Design: AllocationBettingTable]>([:])
}
