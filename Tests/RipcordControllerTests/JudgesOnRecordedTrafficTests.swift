import Foundation
import RipcordTestSupport
import Testing
@testable import RipcordController
import RipcordCore
import RipcordJudges

/// The router's measurements once a second over 30 s of real traffic through the router (200 req/s, the
/// canary at 10 %, baseline instances beside it; stable failing 0.5 % at ~20 ms), recorded by
/// `benchmarks/judges-real-traffic.py --fixtures`: `aa` a fresh process of the same build, `err5` a
/// candidate failing 5 %, `lat50` one 50 % slower, `low5` 2 req/s with a candidate failing 5 %.
struct RecordedTraffic {
    var snapshots: [(at: Moment, snapshot: AnalysisSnapshot)]

    init(_ name: String, usesBaseline: Bool = true) throws {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "jsonl", subdirectory: "Fixtures"))
        let text = try String(contentsOf: url, encoding: .utf8)
        snapshots = try text.split(separator: "\n").map { line in
            let row = try JSONDecoder().decode(Row.self, from: Data(line.utf8))
            return (
                try Self.moment(row.at),
                AnalysisSnapshot(
                    candidate: row.candidate.metrics, stable: row.stable.metrics,
                    baseline: row.baseline.metrics, usesBaseline: usesBaseline)
            )
        }
    }

    /// Every measurement a judge made on the recording, fed one snapshot after another.
    func replay(_ makeAnalysis: (AnalysisSnapshot, Moment) -> any CandidateAnalysis) -> [AnalysisMeasurement] {
        guard let first = snapshots.first else { return [] }
        var analysis = makeAnalysis(first.snapshot, first.at)
        return snapshots.dropFirst().compactMap { analysis.observe($0.snapshot, at: $0.at) }
    }

    private struct Row: Decodable {
        var at: String
        var candidate: CompactMetrics
        var stable: CompactMetrics
        var baseline: CompactMetrics
    }

    /// VersionMetrics with only the non-empty latency buckets written out.
    private struct CompactMetrics: Decodable {
        var responsesByClass: [UInt64]
        var connectionFailures: UInt64
        var latency: [String: UInt64]
        var sumMicroseconds: UInt64

        var metrics: VersionMetrics {
            var counts = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
            for (index, count) in latency { if let i = Int(index), counts.indices.contains(i) { counts[i] = count } }
            var metrics = VersionMetrics()
            metrics.responsesByClass = responsesByClass
            metrics.connectionFailures = connectionFailures
            metrics.latency = LatencyHistogram(counts: counts, sumMicroseconds: sumMicroseconds)
            return metrics
        }
    }

    private static func moment(_ text: String) throws -> Moment {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(formatter.date(from: text))
        return Moment(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }
}

/// Each judge with its default settings (the threshold judge with the benchmark's p50 limit of 25 ms).
enum Judge: String, CaseIterable, CustomTestStringConvertible {
    case threshold, sequential, sequentialAgainstStable, canaryBaseline

    var testDescription: String { rawValue }
    var usesBaseline: Bool { self != .sequentialAgainstStable }

    func analysis(_ snapshot: AnalysisSnapshot, _ now: Moment) -> any CandidateAnalysis {
        switch self {
        case .threshold:
            ThresholdAnalysis(spec: AnalysisSpec(maxLatency: [LatencyLimit(quantile: 0.5, limit: .milliseconds(25))]), candidate: snapshot.candidate, at: now)
        case .sequential, .sequentialAgainstStable:
            SequentialAnalysis(spec: AnalysisSpec(judge: .sequential(SequentialJudgeSpec())), sequential: SequentialJudgeSpec(), at: snapshot, now: now)
        case .canaryBaseline:
            CanaryBaselineAnalysis(
                spec: AnalysisSpec(
                    minRequests: JudgeDesign.canaryBaselineWindow(confidenceLevel: 0.99, tolerance: 0.01),
                    judge: .canaryBaseline(CanaryBaselineJudgeSpec())),
                judge: CanaryBaselineJudgeSpec(), at: snapshot, now: now)
        }
    }

    func replay(_ fixture: String) throws -> [AnalysisMeasurement] {
        try RecordedTraffic(fixture, usesBaseline: usesBaseline).replay(analysis)
    }
}

@Suite(.tags(.unit)) struct JudgesOnRecordedTrafficTests {
    @Test(arguments: Judge.allCases)
    func aFreshProcessOfTheSameBuildPassesAndNeverFails(judge: Judge) throws {
        let measurements = try judge.replay("aa")
        #expect(!measurements.contains { $0.verdict == .fail }, "\(measurements.filter { $0.verdict == .fail }.map(\.reasons))")
        #expect(measurements.contains { $0.verdict == .pass })
        // Evidence first: the first measurement cannot already affirm a candidate seen for one second.
        #expect(measurements.first?.verdict == .inconclusive)
    }

    @Test(arguments: Judge.allCases)
    func aCandidateFailingFivePercentFails(judge: Judge) throws {
        let measurements = try judge.replay("err5")
        let failure = try #require(measurements.first { $0.verdict == .fail })
        #expect(failure.reasons.joined().contains("error"), "\(failure.reasons)")
        #expect(!measurements.contains { $0.verdict == .pass })
    }

    @Test(arguments: Judge.allCases)
    func aCandidateFiftyPercentSlowerFailsOnLatency(judge: Judge) throws {
        let measurements = try judge.replay("lat50")
        let failure = try #require(measurements.first { $0.verdict == .fail })
        #expect(failure.reasons.joined().contains("latency"), "\(failure.reasons)")
        #expect(!measurements.contains { $0.verdict == .pass })
    }

    @Test(arguments: Judge.allCases)
    func scarceTrafficStaysInconclusive(judge: Judge) throws {
        // 15 canary requests in 70 s, none failed: not enough to tell a 5 % candidate from a good one.
        let measurements = try judge.replay("low5")
        if judge != .canaryBaseline { #expect(!measurements.isEmpty, "10 new canary requests make a measurement") }
        #expect(measurements.allSatisfy { $0.verdict == .inconclusive }, "\(measurements.map(\.verdict))")
    }

    @Test func theSequentialLatencyTestToleratesWhatAFreshProcessCosts() throws {
        // A fresh process against warm ones: its latency may differ a little, never beyond the 20 % tolerance.
        let measurements = try Judge.sequentialAgainstStable.replay("aa")
        let last = try #require(measurements.last)
        #expect(last.details["latency.verdict"] != "fail", "\(last.details["latency.reason"] ?? "")")
        #expect(Double(last.details["latency.upperBoundOfIncrease"] ?? "1")! < 0.2)
    }
}
