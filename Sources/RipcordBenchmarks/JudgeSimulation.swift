import Foundation
import RipcordJudges

/// Settings of the judge simulation (the benchmark). Defaults are the documented default settings.
public struct SimulationSettings: Sendable, Codable, Equatable {
    /// Each run lasts at most this long (10 Flagger-style intervals); undecided judges pass at the horizon.
    public var horizonSeconds = 600
    /// Baseline latency: log-normal with this median (ms) and log-space sigma (p99 = median x e^(2.326 sigma)).
    public var latencyMedianMs = 100.0
    public var latencySigma = 0.5
    /// A fresh canary process against warm baseline ones: each run, the canary's median is this much slower
    /// at most (drawn uniformly from 0 to it), on top of the cell's shift. Real traffic showed +1.7 to +7.5 %.
    public var freshInstanceSlowdown = 0.08
    /// Sequential error-rate judge. The two alphas add up to the 1 % false-rollback budget (union bound).
    /// Error-judge mixture size (see `SequentialErrorRateJudge.alternatives`).
    public var errorAlpha = 0.008
    public var errorMinimumEffect = 0.01
    public var errorAlternatives = 4
    /// Sequential latency judge.
    public var latencyAlpha = 0.002
    public var latencyMinimumEffect = 0.2
    /// Flagger-style check: every `flaggerIntervalSeconds` the canary fails the check if its error rate over
    /// the interval > baseline rate + `flaggerErrorMargin`, or its p99 latency over the interval (from a
    /// histogram with 1 % wide log buckets) > `flaggerLatencyFactor` x the baseline's true p99;
    /// roll back at `flaggerFailureLimit` failed checks.
    public var flaggerIntervalSeconds = 60
    public var flaggerErrorMargin = 0.01
    public var flaggerLatencyFactor = 1.25
    public var flaggerFailureLimit = 5
    /// Grid. A canary error rate of nil means "same as baseline" (A/A).
    public var baselineErrorRates: [Double] = [0.005, 0.01]
    public var canaryErrorRates: [Double?] = [nil, 0.02, 0.05, 0.10]
    public var latencyShifts: [Double] = [0, 0.2, 0.5, 1.0]
    public var requestsPerSecond: [Double] = [5, 20, 100]
    public init() {}
}

/// How often and how fast one judge (or combination) rolled back within the horizon, over all runs of a cell.
public struct SimulationOutcome: Sendable, Codable, Equatable {
    /// Fraction of runs rolled back (on A/A cells: the false-rollback rate).
    public var rolledBack: Double
    /// Median and 95th percentile of the time to a rollback decision (s) over all runs; nil when more than
    /// half (resp. 5 %) of the runs were not rolled back within the horizon.
    public var medianSeconds: Double?
    public var p95Seconds: Double?
    /// Mean canary requests seen at the decision (rollback, or the horizon if none).
    public var meanCanarySamples: Double
}

public struct SimulationCell: Sendable, Codable, Equatable {
    public var baselineErrorRate: Double
    public var canaryErrorRate: Double
    public var latencyShift: Double
    public var requestsPerSecond: Double
    /// Default sequential setup: error judge against the baseline's known rate, or latency judge, whichever fires first.
    public var sequential: SimulationOutcome
    /// Same with the error judge against the baseline stream only (no prior knowledge of its rate).
    public var sequentialTwoStream: SimulationOutcome
    public var errorJudge: SimulationOutcome
    public var errorJudgeTwoStream: SimulationOutcome
    public var latencyJudge: SimulationOutcome
    public var flagger: SimulationOutcome
    /// Wald's SPRT ASN for p0 = baseline, p1 = canary rate, the same alpha and beta = the error judge's miss
    /// rate in this cell (clamped to [0.001, 0.5]); nil on A/A error cells.
    public var waldExpectedSamples: Double?
    /// errorJudge.meanCanarySamples / waldExpectedSamples (and the same for the two-stream judge).
    public var sampleRatio: Double?
    public var sampleRatioTwoStream: Double?
    /// The same ratio for an oracle: Wald's SPRT knowing p1 (beta 0.05), evaluated once per batch like the judges.
    /// It shows the floor that one-second batches impose (a batch can hold more samples than the ASN).
    public var sampleRatioBatchedWald: Double?
    public var isErrorAA: Bool { canaryErrorRate == baselineErrorRate }
}

public struct SimulationBar: Sendable, Codable, Equatable {
    public var name: String
    public var target: String
    public var measured: String
    public var met: Bool
}

public struct SimulationReport: Sendable, Codable, Equatable {
    public var runsPerCell: Int
    public var seed: UInt64
    public var settings: SimulationSettings
    public var cells: [SimulationCell]
    public var bars: [SimulationBar]
}

/// Runs the judges on synthetic request streams over the grid (deterministic for a given seed; cells run in
/// parallel, each from its own random sub-stream). Prints nothing.
public func runJudgeSimulation(runsPerCell: Int, seed: UInt64) -> SimulationReport {
    runJudgeSimulation(runsPerCell: runsPerCell, seed: seed, settings: SimulationSettings())
}

public func runJudgeSimulation(runsPerCell: Int, seed: UInt64, settings: SimulationSettings) -> SimulationReport {
    struct Spec {
        var pb: Double
        var pc: Double
        var shift: Double
        var rate: Double
    }
    var specs: [Spec] = []
    for pb in settings.baselineErrorRates {
        for pc in settings.canaryErrorRates {
            for shift in settings.latencyShifts {
                for rate in settings.requestsPerSecond {
                    specs.append(Spec(pb: pb, pc: pc ?? pb, shift: shift, rate: rate))
                }
            }
        }
    }
    let runs = max(1, runsPerCell)
    let grid = specs
    let results = ResultSlots(count: specs.count)
    DispatchQueue.concurrentPerform(iterations: specs.count) { i in
        let s = grid[i]
        let cell = simulateCell(
            baselineErrorRate: s.pb, canaryErrorRate: s.pc, latencyShift: s.shift, requestsPerSecond: s.rate,
            runs: runs, seed: seed, stream: UInt64(i), settings: settings)
        results.set(i, cell)
    }
    let cells = results.values()
    return SimulationReport(runsPerCell: runs, seed: seed, settings: settings, cells: cells, bars: evaluateBars(cells, settings: settings))
}

private final class ResultSlots: @unchecked Sendable {
    private var slots: [SimulationCell?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ c: SimulationCell) {
        lock.lock()
        slots[i] = c
        lock.unlock()
    }
    func values() -> [SimulationCell] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0! }
    }
}

/// Simulates one grid cell: `runs` independent runs of up to `horizonSeconds` seconds; each second the canary and
/// the baseline each receive Poisson(rate) requests (errors and successes as independent Poisson thinnings),
/// with log-normal latencies; the sequential judges observe one batch per second, the Flagger-style check runs
/// every interval.
public func simulateCell(
    baselineErrorRate pb: Double, canaryErrorRate pc: Double, latencyShift: Double, requestsPerSecond rate: Double,
    runs: Int, seed: UInt64, stream: UInt64, settings: SimulationSettings
) -> SimulationCell {
    var rng = SeededGenerator(seed: seed, stream: stream)
    let horizon = settings.horizonSeconds
    let maxSamples = max(1, Int(rate * Double(horizon)))
    let lnBase = log(settings.latencyMedianMs)
    let lnShifted = lnBase + log(1 + latencyShift)
    let sigma = settings.latencySigma
    let baselineP99 = settings.latencyMedianMs * exp(sigma * Normal.quantile(0.99))
    // Flagger-style latency histogram: 1 % wide buckets of log(latency in ms) over [0, 12).
    let bucketWidth = 0.01
    let bucketCount = 1200

    let never = Double.infinity
    var tFixed = [Double](), tTwo = [Double](), tLat = [Double](), tFlag = [Double]()
    var sFixed = [Double](), sTwo = [Double](), sLat = [Double](), sFlag = [Double]()
    var sSeq = [Double](), sSeqTwo = [Double]()
    var histogram = [Int](repeating: 0, count: bucketCount)
    // Oracle: Wald's SPRT of p0 = pb vs p1 = pc (beta 0.05), evaluated per batch.
    let waldBounds = WaldSPRT.boundaries(alpha: settings.errorAlpha, beta: 0.05)
    let waldUp = pc > pb ? log(pc / pb) : 0, waldDown = pc > pb ? log((1 - pc) / (1 - pb)) : 0
    var waldTotal = 0.0

    for _ in 0..<runs {
        let lnCanary = lnShifted + log(1 + rng.nextUniform() * settings.freshInstanceSlowdown)
        var errFixed = SequentialErrorRateJudge(
            alpha: settings.errorAlpha, minimumEffect: settings.errorMinimumEffect,
            maxCanarySamples: maxSamples, reference: .fixedRate(pb), alternatives: settings.errorAlternatives)
        var errTwo = SequentialErrorRateJudge(
            alpha: settings.errorAlpha, minimumEffect: settings.errorMinimumEffect,
            maxCanarySamples: maxSamples, reference: .baseline, alternatives: settings.errorAlternatives)
        var waldLLR = 0.0, waldDone = !(pc > pb), waldSamples = 0
        var lat = SequentialLatencyJudge(
            alpha: settings.latencyAlpha, minimumEffect: settings.latencyMinimumEffect,
            maxCanarySamples: maxSamples)
        var flagger = ThresholdJudge(
            intervalSeconds: Double(settings.flaggerIntervalSeconds), maxErrorRate: pb + settings.flaggerErrorMargin,
            maxP99Latency: baselineP99 * settings.flaggerLatencyFactor,
            failureLimit: settings.flaggerFailureLimit,
            maxChecks: horizon / max(1, settings.flaggerIntervalSeconds))
        var fixedDone = false, twoDone = false, latDone = false, flagDone = false
        var tf = never, tt = never, tl = never, tg = never
        var nf = 0, nt = 0, nl = 0, ng = 0
        var canaryTotal = 0
        var windowRequests = 0, windowErrors = 0
        for i in 0..<bucketCount { histogram[i] = 0 }

        for second in 1...horizon {
            let cErr = rng.nextPoisson(rate * pc), cOk = rng.nextPoisson(rate * (1 - pc))
            let bErr = rng.nextPoisson(rate * pb), bOk = rng.nextPoisson(rate * (1 - pb))
            let cn = cErr + cOk, bn = bErr + bOk
            canaryTotal += cn
            let t = Double(second)
            if !waldDone {
                waldLLR += Double(cErr) * waldUp + Double(cOk) * waldDown
                if waldLLR >= waldBounds.upper || waldLLR <= waldBounds.lower {
                    waldDone = true
                    waldSamples = canaryTotal
                }
            }
            if !fixedDone {
                let v = errFixed.observeVerdict(canaryRequests: cn, canaryErrors: cErr, baselineRequests: bn, baselineErrors: bErr)
                if v != .inconclusive {
                    fixedDone = true
                    nf = errFixed.canaryRequests
                    if v == .fail { tf = t }
                }
            }
            if !twoDone {
                let v = errTwo.observeVerdict(canaryRequests: cn, canaryErrors: cErr, baselineRequests: bn, baselineErrors: bErr)
                if v != .inconclusive {
                    twoDone = true
                    nt = errTwo.canaryRequests
                    if v == .fail { tt = t }
                }
            }
            if !latDone || !flagDone {
                var cm = RunningMoments(), bm = RunningMoments()
                for _ in 0..<cn {
                    let l = lnCanary + sigma * rng.nextNormal()
                    cm.add(l)
                    if !flagDone {
                        let b = Int(l / bucketWidth)
                        histogram[min(max(b, 0), bucketCount - 1)] += 1
                    }
                }
                if !latDone {
                    for _ in 0..<bn { bm.add(lnBase + sigma * rng.nextNormal()) }
                    let v = lat.observeVerdict(canaryLogMoments: cm, baselineLogMoments: bm)
                    if v != .inconclusive {
                        latDone = true
                        nl = lat.canarySamples
                        if v == .fail { tl = t }
                    }
                }
            }
            if !flagDone {
                windowRequests += cn
                windowErrors += cErr
                if second % settings.flaggerIntervalSeconds == 0 {
                    let p99 = histogramQuantile(histogram, q: 0.99, bucketWidth: bucketWidth)
                    let d = flagger.check(requests: windowRequests, errors: windowErrors, p99Latency: p99)
                    if d.verdict != .inconclusive {
                        flagDone = true
                        ng = canaryTotal
                        if d.verdict == .fail { tg = t }
                    }
                    windowRequests = 0
                    windowErrors = 0
                    for i in 0..<bucketCount { histogram[i] = 0 }
                }
            }
            if fixedDone && twoDone && latDone && flagDone && waldDone { break }
        }
        if !waldDone { waldSamples = canaryTotal }
        waldTotal += Double(waldSamples)
        if !fixedDone { nf = canaryTotal }
        if !twoDone { nt = canaryTotal }
        if !latDone { nl = canaryTotal }
        if !flagDone { ng = canaryTotal }
        tFixed.append(tf)
        tTwo.append(tt)
        tLat.append(tl)
        tFlag.append(tg)
        sFixed.append(Double(nf))
        sTwo.append(Double(nt))
        sLat.append(Double(nl))
        sFlag.append(Double(ng))
        // Combined: canary requests at the first rollback (approximated by the judge that fired first).
        sSeq.append(tf <= tl ? Double(nf) : Double(nl))
        sSeqTwo.append(tt <= tl ? Double(nt) : Double(nl))
    }

    let seqTimes = zip(tFixed, tLat).map { min($0, $1) }
    let seqTwoTimes = zip(tTwo, tLat).map { min($0, $1) }
    let errorOutcome = outcome(tFixed, sFixed)
    let twoOutcome = outcome(tTwo, sTwo)
    var wald: Double?
    var ratio: Double?, ratioTwo: Double?, ratioWald: Double?
    if pc > pb {
        let beta = min(max(1 - errorOutcome.rolledBack, 0.001), 0.5)
        let asn = WaldSPRT.expectedSampleNumber(p0: pb, p1: pc, alpha: settings.errorAlpha, beta: beta, trueP: pc)
        if asn.isFinite && asn > 0 {
            wald = asn
            ratio = errorOutcome.meanCanarySamples / asn
            ratioTwo = twoOutcome.meanCanarySamples / asn
            let oracleASN = WaldSPRT.expectedSampleNumber(p0: pb, p1: pc, alpha: settings.errorAlpha, beta: 0.05, trueP: pc)
            ratioWald = waldTotal / Double(runs) / oracleASN
        }
    }
    return SimulationCell(
        baselineErrorRate: pb, canaryErrorRate: pc, latencyShift: latencyShift, requestsPerSecond: rate,
        sequential: outcome(seqTimes, sSeq), sequentialTwoStream: outcome(seqTwoTimes, sSeqTwo),
        errorJudge: errorOutcome, errorJudgeTwoStream: twoOutcome,
        latencyJudge: outcome(tLat, sLat), flagger: outcome(tFlag, sFlag),
        waldExpectedSamples: wald, sampleRatio: ratio, sampleRatioTwoStream: ratioTwo, sampleRatioBatchedWald: ratioWald)
}

/// Prometheus-style histogram_quantile over log-latency buckets (linear interpolation inside the bucket).
private func histogramQuantile(_ h: [Int], q: Double, bucketWidth: Double) -> Double? {
    let total = h.reduce(0, +)
    guard total > 0 else { return nil }
    let rank = q * Double(total)
    var cumulative = 0.0
    for (i, c) in h.enumerated() where c > 0 {
        let next = cumulative + Double(c)
        if next >= rank {
            let fraction = (rank - cumulative) / Double(c)
            return exp((Double(i) + fraction) * bucketWidth)
        }
        cumulative = next
    }
    return exp(Double(h.count) * bucketWidth)
}

private func outcome(_ times: [Double], _ samples: [Double]) -> SimulationOutcome {
    let n = times.count
    guard n > 0 else { return SimulationOutcome(rolledBack: 0, medianSeconds: nil, p95Seconds: nil, meanCanarySamples: 0) }
    let sorted = times.sorted()
    let rolled = times.filter { $0.isFinite }.count
    func q(_ p: Double) -> Double? {
        // Nearest-rank quantile over all runs; runs not rolled back count as +infinity.
        let idx = min(n - 1, max(0, Int((p * Double(n)).rounded(.up)) - 1))
        return sorted[idx].isFinite ? sorted[idx] : nil
    }
    return SimulationOutcome(
        rolledBack: Double(rolled) / Double(n), medianSeconds: q(0.5), p95Seconds: q(0.95),
        meanCanarySamples: samples.reduce(0, +) / Double(n))
}

private func evaluateBars(_ cells: [SimulationCell], settings: SimulationSettings) -> [SimulationBar] {
    var bars: [SimulationBar] = []
    func secs(_ x: Double?) -> String { x.map { formatNumber($0, 4) + " s" } ?? "> \(settings.horizonSeconds) s" }
    if let c = cells.first(where: { $0.requestsPerSecond == 20 && $0.baselineErrorRate == 0.005 && $0.canaryErrorRate == 0.05 && $0.latencyShift == 0 }) {
        let m = c.sequential.medianSeconds
        bars.append(
            SimulationBar(
                name: "20 req/s, errors 0.5 % -> 5 %: median time to rollback (sequential)",
                target: "<= 4 s", measured: secs(m), met: (m ?? .infinity) <= 4))
        let m2 = c.sequentialTwoStream.medianSeconds
        bars.append(
            SimulationBar(
                name: "  same, error judge vs baseline stream only (no known baseline rate)",
                target: "<= 4 s", measured: secs(m2), met: (m2 ?? .infinity) <= 4))
    }
    let aa = cells.filter { $0.isErrorAA && $0.latencyShift == 0 }
    if !aa.isEmpty {
        let worst = aa.map(\.sequential.rolledBack).max()!
        let mean = aa.map(\.sequential.rolledBack).reduce(0, +) / Double(aa.count)
        bars.append(
            SimulationBar(
                name: "A/A false-rollback rate (sequential, worst of \(aa.count) cells; mean \(formatNumber(mean * 100, 3)) %)",
                target: "<= 1 %", measured: formatNumber(worst * 100, 3) + " %", met: worst <= 0.01))
        let worstTwo = aa.map(\.sequentialTwoStream.rolledBack).max()!
        bars.append(
            SimulationBar(
                name: "  same, with the two-stream error judge",
                target: "<= 1 %", measured: formatNumber(worstTwo * 100, 3) + " %", met: worstTwo <= 0.01))
        let worstFlagger = aa.map(\.flagger.rolledBack).max()!
        bars.append(
            SimulationBar(
                name: "  (for comparison) Flagger-style A/A rollback rate, worst cell",
                target: "-", measured: formatNumber(worstFlagger * 100, 3) + " %", met: true))
    }
    let shift50 = cells.filter { $0.isErrorAA && $0.latencyShift == 0.5 }
    for c in shift50.filter({ $0.requestsPerSecond == 20 }) {
        let m = c.latencyJudge.medianSeconds
        bars.append(
            SimulationBar(
                name: "20 req/s, baseline errors \(formatNumber(c.baselineErrorRate * 100, 2)) %: +50 % median latency, median time to detection",
                target: "<= 15 s", measured: secs(m), met: (m ?? .infinity) <= 15))
    }
    if !shift50.isEmpty {
        let worst = shift50.map { $0.latencyJudge.medianSeconds ?? .infinity }.max()!
        bars.append(
            SimulationBar(
                name: "  +50 % latency at any rate (worst cell)", target: "<= 15 s",
                measured: worst.isFinite ? secs(worst) : secs(nil), met: worst <= 15))
    }
    let ratioCells = cells.filter { $0.sampleRatio != nil && $0.errorJudge.rolledBack >= 0.95 && $0.latencyShift == 0 }
    if !ratioCells.isEmpty {
        // "Where achievable": cells where Wald's own SPRT, evaluated once per batch like the judge, stays within 1.5x
        // of its theoretical ASN (at high rates one 1-s batch already holds more samples than the ASN).
        let achievable = ratioCells.filter { ($0.sampleRatioBatchedWald ?? .infinity) <= 1.5 }
        if !achievable.isEmpty {
            let ratios = achievable.map { $0.sampleRatio! }
            let worst = ratios.max()!
            bars.append(
                SimulationBar(
                    name: "sequential/Wald SPRT sample ratio, error cells detected >= 95 % where batching allows (floor <= 1.5; \(achievable.count) cells)",
                    target: "<= 2", measured: "worst " + formatNumber(worst, 3) + ", median " + formatNumber(sortedQuantile(ratios.sorted(), 0.5), 3),
                    met: worst <= 2))
        }
        let ratios = ratioCells.map { $0.sampleRatio! }
        let within = ratios.filter { $0 <= 2 }.count
        bars.append(
            SimulationBar(
                name:
                    "  all error cells detected >= 95 % (\(within)/\(ratios.count) cells <= 2; worst floor \(formatNumber(ratioCells.compactMap { $0.sampleRatioBatchedWald }.max() ?? .nan, 3)))",
                target: "-", measured: "worst " + formatNumber(ratios.max()!, 3) + ", median " + formatNumber(sortedQuantile(ratios.sorted(), 0.5), 3),
                met: true))
    }
    return bars
}

/// Human-readable table of a simulation report.
public func formatSimulationReport(_ report: SimulationReport) -> String {
    let s = report.settings
    var out = ""
    out += "Judge simulation: \(report.runsPerCell) runs per cell, seed \(report.seed), horizon \(s.horizonSeconds) s, one batch per second\n"
    out +=
        "Streams: canary and baseline each Poisson(rate) requests/s; latency log-normal, median \(formatNumber(s.latencyMedianMs)) ms, sigma \(formatNumber(s.latencySigma)) (canary median x (1 + shift))\n"
    out +=
        "seq   = sequential error judge vs the baseline's known rate (mSPRT, alpha \(formatNumber(s.errorAlpha)), min effect \(formatNumber(s.errorMinimumEffect * 100, 3)) pp) OR sequential latency judge (mSPRT on log-latency, alpha \(formatNumber(s.latencyAlpha)), min effect +\(formatNumber(s.latencyMinimumEffect * 100, 3)) %); rollback at the first fail\n"
    out += "seq2  = same with the error judge against the baseline stream only (no known baseline rate)\n"
    out +=
        "err/err2/lat = each sequential judge alone; ratio = mean canary samples at decision / Wald SPRT ASN (p0 = baseline, p1 = canary rate, same alpha, beta = miss rate);\n       floor = the same ratio for Wald's SPRT itself (knowing p1, beta 0.05) evaluated once per 1-s batch: what batching alone costs\n"
    out +=
        "flagger = every \(s.flaggerIntervalSeconds) s: check fails if canary error rate > baseline + \(formatNumber(s.flaggerErrorMargin * 100, 3)) pp or canary p99 > \(formatNumber(s.flaggerLatencyFactor)) x baseline p99; rollback after \(s.flaggerFailureLimit) failed checks\n"
    out += "rb = fraction of runs rolled back (A/A rows: false rollbacks); med/p95 = time to rollback (s) over all runs, '-' = beyond the horizon\n\n"
    func pad(_ x: String, _ w: Int) -> String { x.count >= w ? x : String(repeating: " ", count: w - x.count) + x }
    func t(_ x: Double?) -> String { x.map { formatNumber($0, 4) } ?? "-" }
    func r(_ x: Double) -> String { formatNumber(x * 100, 3) }
    let header = [
        pad("base%", 6), pad("can%", 5), pad("lat+", 5), pad("rps", 4), " |", pad("seq rb%", 8), pad("med", 5), pad("p95", 5),
        " |", pad("seq2 rb%", 9), pad("med", 5), " |", pad("err rb%", 8), pad("med", 5), pad("ratio", 6), pad("floor", 6),
        " |", pad("err2 rb%", 9), pad("med", 5), pad("ratio", 6), " |", pad("lat rb%", 8), pad("med", 5),
        " |", pad("flagger rb%", 12), pad("med", 5), pad("p95", 5),
    ].joined(separator: " ")
    out += header + "\n" + String(repeating: "-", count: header.count) + "\n"
    for c in report.cells {
        let row = [
            pad(formatNumber(c.baselineErrorRate * 100, 2), 6),
            pad(c.isErrorAA ? "A/A" : formatNumber(c.canaryErrorRate * 100, 2), 5),
            pad(formatNumber(c.latencyShift * 100, 3) + "%", 5), pad(formatNumber(c.requestsPerSecond, 3), 4), " |",
            pad(r(c.sequential.rolledBack), 8), pad(t(c.sequential.medianSeconds), 5), pad(t(c.sequential.p95Seconds), 5), " |",
            pad(r(c.sequentialTwoStream.rolledBack), 9), pad(t(c.sequentialTwoStream.medianSeconds), 5), " |",
            pad(r(c.errorJudge.rolledBack), 8), pad(t(c.errorJudge.medianSeconds), 5), pad(c.sampleRatio.map { formatNumber($0, 3) } ?? "", 6),
            pad(c.sampleRatioBatchedWald.map { formatNumber($0, 3) } ?? "", 6), " |",
            pad(r(c.errorJudgeTwoStream.rolledBack), 9), pad(t(c.errorJudgeTwoStream.medianSeconds), 5),
            pad(c.sampleRatioTwoStream.map { formatNumber($0, 3) } ?? "", 6), " |",
            pad(r(c.latencyJudge.rolledBack), 8), pad(t(c.latencyJudge.medianSeconds), 5), " |",
            pad(r(c.flagger.rolledBack), 12), pad(t(c.flagger.medianSeconds), 5), pad(t(c.flagger.p95Seconds), 5),
        ].joined(separator: " ")
        out += row + "\n"
    }
    out += "\nBars:\n"
    for b in report.bars {
        out += "  [\(b.target == "-" ? "info" : (b.met ? "MET " : "MISS"))] \(b.name): \(b.measured) (target \(b.target))\n"
    }
    return out
}
