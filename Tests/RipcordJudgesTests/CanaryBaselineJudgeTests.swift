import Foundation
import RipcordTestSupport
import Testing
@testable import RipcordJudges
import RipcordBenchmarks

@Suite(.tags(.unit)) struct CanaryBaselineJudgeTests {
    private func sample(errors: Int, requests: Int, median: Double, seed: UInt64) -> MetricSample {
        var rng = SeededGenerator(seed: seed)
        let lat = LogNormalLatency(median: median, sigma: 0.5).samples(requests, using: &rng)
        return MetricSample(requests: requests, errors: errors, distributions: ["latency_ms": lat])
    }

    @Test func clearlyWorseCanaryFails() {
        let judge = CanaryBaselineJudge()
        let (d, metrics) = judge.judge(
            canary: sample(errors: 50, requests: 1000, median: 180, seed: 1),
            baseline: sample(errors: 5, requests: 1000, median: 100, seed: 2))
        #expect(d.verdict == .fail)
        #expect(d.judge == "canaryVsBaseline")
        #expect(d.value == 0)  // critical error-rate metric failed
        #expect(d.canarySamples == 1000 && d.baselineSamples == 1000)
        #expect(d.pValue != nil)
        #expect(metrics.first { $0.metric == "error_rate" }?.classification == .high)
        let latency = metrics.first { $0.metric == "latency_ms" }
        #expect(latency?.classification == .high)
        #expect(latency?.failed == true)
        #expect(latency?.test == "Mann-Whitney U")
        #expect(d.details["criticalFailure"] == "error_rate")
    }

    @Test func identicalCanaryPasses() {
        let judge = CanaryBaselineJudge()
        let s = sample(errors: 5, requests: 1000, median: 100, seed: 3)
        let (d, metrics) = judge.judge(canary: s, baseline: s)
        #expect(d.verdict == .pass)
        #expect(d.value == 100)
        #expect(metrics.allSatisfy { $0.classification == .pass })
        // Same distribution, different draws: still a pass.
        let (d2, _) = judge.judge(
            canary: sample(errors: 6, requests: 1000, median: 100, seed: 4),
            baseline: sample(errors: 5, requests: 1000, median: 100, seed: 5))
        #expect(d2.verdict == .pass)
    }

    @Test func directionAndScoreThresholds() {
        // Latency only (non-critical), faster canary: classified low, which is fine for an "increase is bad" metric.
        let faster = CanaryBaselineJudge(metrics: [MetricConfig(name: "latency_ms", direction: .increase)])
        let (d, m) = faster.judge(
            canary: sample(errors: 5, requests: 1000, median: 60, seed: 6),
            baseline: sample(errors: 5, requests: 1000, median: 100, seed: 7))
        #expect(m.first { $0.metric == "latency_ms" }?.classification == .low)
        #expect(m.first { $0.metric == "latency_ms" }?.failed == false)
        #expect(d.verdict == .pass)
        // "either": the same change fails the metric; 1 of 2 equally weighted metrics failing -> score 50 -> fail.
        let either = CanaryBaselineJudge(metrics: [MetricConfig(name: "latency_ms", direction: .either)])
        let (d2, _) = either.judge(
            canary: sample(errors: 5, requests: 1000, median: 60, seed: 6),
            baseline: sample(errors: 5, requests: 1000, median: 100, seed: 7))
        #expect(d2.value == 50)
        #expect(d2.verdict == .fail)
        // Marginal: 1 failing metric out of 5 (score 80) is between 75 and 95.
        let five = CanaryBaselineJudge(
            metrics: ["a", "b", "c", "d"].map { MetricConfig(name: $0) } + [MetricConfig(name: "latency_ms")],
            errorRateCritical: false, errorRateWeight: 0)
        var canary = sample(errors: 5, requests: 1000, median: 200, seed: 8)
        var baseline = sample(errors: 5, requests: 1000, median: 100, seed: 9)
        for n in ["a", "b", "c", "d"] {
            canary.distributions[n] = baseline.distributions["latency_ms"]
            baseline.distributions[n] = baseline.distributions["latency_ms"]
        }
        let (d3, _) = five.judge(canary: canary, baseline: baseline)
        #expect(d3.value == 80)
        #expect(d3.verdict == .inconclusive)
    }

    @Test func missingDataIsNoData() {
        let (d, m) = CanaryBaselineJudge().judge(canary: MetricSample(requests: 3, errors: 0), baseline: MetricSample(requests: 3, errors: 0))
        #expect(m.allSatisfy { $0.classification == .nodata })
        #expect(d.verdict == .inconclusive)
        // Everything encodes as plain JSON (no NaN or infinity).
        #expect(throws: Never.self) {
            _ = try JSONEncoder().encode(d)
            _ = try JSONEncoder().encode(m)
        }
    }
}

@Suite(.tags(.unit)) struct ThresholdJudgeTests {
    @Test func rollsBackAfterTheConfiguredNumberOfFailedChecks() {
        var judge = ThresholdJudge(intervalSeconds: 60, maxErrorRate: 0.015, maxP99Latency: 400, failureLimit: 2, maxChecks: 10)
        #expect(judge.check(requests: 1200, errors: 30, p99Latency: 300).verdict == .inconclusive)  // 2.5 % > 1.5 %
        #expect(judge.check(requests: 1200, errors: 6, p99Latency: 300).verdict == .inconclusive)
        let d = judge.check(requests: 1200, errors: 6, p99Latency: 450)
        #expect(d.verdict == .fail)
        #expect(d.judge == "threshold")
        #expect(d.value == 2)
        #expect(d.details["lastCheck"]?.contains("p99") == true)
    }
}

@Suite(.tags(.unit)) struct SimulationTests {
    @Test func smallSimulationIsDeterministicAndReportsBars() {
        var settings = SimulationSettings()
        settings.horizonSeconds = 120
        settings.flaggerIntervalSeconds = 20
        settings.baselineErrorRates = [0.005]
        settings.canaryErrorRates = [nil, 0.05]
        settings.latencyShifts = [0, 0.5]
        settings.requestsPerSecond = [20]
        let a = runJudgeSimulation(runsPerCell: 20, seed: 11, settings: settings)
        let b = runJudgeSimulation(runsPerCell: 20, seed: 11, settings: settings)
        #expect(a == b)
        #expect(a.cells.count == 4)
        let bad = a.cells.first { $0.canaryErrorRate == 0.05 && $0.latencyShift == 0 }!
        #expect(bad.sequential.rolledBack == 1)
        #expect((bad.sequential.medianSeconds ?? 99) <= 6)
        #expect(bad.waldExpectedSamples != nil && bad.sampleRatio != nil)
        let aa = a.cells.first { $0.isErrorAA && $0.latencyShift == 0 }!
        #expect(aa.sequential.rolledBack <= 0.1)
        let json = try! JSONEncoder().encode(a)
        #expect(try! JSONDecoder().decode(SimulationReport.self, from: json) == a)
        let text = formatSimulationReport(a)
        #expect(text.contains("Bars:"))
        #expect(text.contains("A/A"))
    }
}
