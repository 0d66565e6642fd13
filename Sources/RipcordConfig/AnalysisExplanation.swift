import Foundation
import RipcordCore
import RipcordJudges

/// What a service's analysis can and cannot tell, in numbers: how many canary requests it needs to catch
/// a bad candidate and to affirm a good one, how long that takes at the service's traffic, and the chance
/// of a false rollback or a missed regression. `ripcord validate --explain` prints it; `warnings` are
/// the settings whose per-rollout false-rollback or miss probability exceeds 5 %.
public struct AnalysisExplanation: Sendable {
    public var service: String
    public var lines: [String] = []
    public var warnings: [String] = []

    /// Typical spread of a service's log-latency, for how long the latency bound takes (stated in the output).
    static let assumedLogLatencySpread = 0.3
    static let limit = 0.05

    public init(service: ServiceSpec, requestsPerSecond override: Double? = nil) {
        self.service = service.name
        guard let analysis = service.analysis else {
            lines.append("no analysis: nothing judges this service's candidates")
            return
        }
        let rate = override ?? analysis.expectedRequestsPerSecond
        let weights = Self.judgedWeights(service.strategy)
        lines.append(
            "design point: stable failing \(formatPercent(JudgeDesign.referenceErrorRate)) of requests; a bad candidate fails "
                + "\(formatPercent(JudgeDesign.badErrorRate)) or is \(formatPercent(JudgeDesign.badLatencyIncrease)) slower")
        var evidenceRequests: Int?
        switch analysis.judge {
        case .threshold: evidenceRequests = explainThreshold(analysis)
        case let .sequential(sequential): evidenceRequests = explainSequential(analysis, sequential)
        case let .canaryBaseline(settings): evidenceRequests = explainCanaryBaseline(analysis, settings)
        }
        guard let rate else {
            lines.append("traffic unknown: give `analysis.expectedRequestsPerSecond` (or --rps) for times and warnings at the service's traffic")
            return
        }
        for weight in weights {
            let canaryRate = rate * Double(weight) / 100
            guard let needed = evidenceRequests else { continue }
            let seconds = Double(needed) / max(canaryRate, 1e-9)
            let deadline = Double(service.progressDeadline.milliseconds) / 1000
            lines.append(
                "at \(formatDecimal(rate)) req/s, \(weight) % to the candidate (\(formatDecimal(canaryRate)) req/s): "
                    + "a good candidate shows its evidence in about \(formatDecimal(seconds)) s (progressDeadline \(service.progressDeadline))")
            if seconds > deadline {
                warnings.append(
                    "\(service.name): at \(weight) % a good candidate needs about \(formatDecimal(seconds)) s of traffic to show it is good, "
                        + "longer than progressDeadline \(service.progressDeadline): most healthy rollouts would end with `noEvidence` "
                        + "(raise progressDeadline, the step's weight, or use analysis.syntheticTraffic)")
            }
        }
    }

    /// The weights at which a canary is judged (every setWeight; blue-green judges at 100 %).
    static func judgedWeights(_ strategy: Strategy) -> [Int] {
        guard case let .canary(canary) = strategy else { return [100] }
        let weights = canary.steps.compactMap { step -> Int? in if case let .setWeight(weight) = step, weight > 0 { return weight } else { return nil } }
        return Array(Set(weights)).sorted()
    }

    private mutating func explainThreshold(_ analysis: AnalysisSpec) -> Int? {
        let limits = (analysis.maxErrorRate.map { [("error rate", $0)] } ?? []) + analysis.maxLatency.map { ("share slower than \($0.limit) (\($0.label))", 1 - $0.quantile) }
        guard !limits.isEmpty else {
            lines.append("threshold judge without maxErrorRate or maxLatency: it cannot fail a candidate")
            warnings.append("\(service): the threshold judge has no limits: every candidate would be promoted once it has traffic")
            return nil
        }
        let alpha = analysis.alpha / Double(limits.count)
        lines.append(
            "judge threshold: each limit an always-valid test on the step's requests; false rollback of a candidate within its limits ≤ "
                + "\(formatPercent(analysis.alpha)) per rollout (\(formatPercent(alpha)) per limit)")
        var slowest = 0
        for (name, limit) in limits {
            let healthy = name == "error rate" ? JudgeDesign.referenceErrorRate : limit / 2
            let affirm = JudgeDesign.requestsToAffirmBelow(limit: limit, rate: healthy)
            let bad = name == "error rate" ? JudgeDesign.badErrorRate : min(0.99, limit * 2 + 0.1)
            let reject = bad > limit ? JudgeDesign.requestsToReject(p0: limit, bad: bad, alpha: alpha, minimumEffect: max(1e-4, min(limit / 2, (0.95 - limit) / 2))) : nil
            lines.append(
                "  \(name) ≤ \(formatPercent(limit)): fails a candidate at \(formatPercent(bad)) after ~\(reject.map(String.init) ?? "never") canary requests; "
                    + "shows one at \(formatPercent(healthy)) below the limit after ~\(affirm.map(String.init) ?? "never")")
            if name == "error rate", limit >= JudgeDesign.badErrorRate {
                warnings.append(
                    "\(service): maxErrorRate \(formatPercent(limit)) lets a candidate failing \(formatPercent(JudgeDesign.badErrorRate)) of requests through "
                        + "(miss probability ~100 % at the design point)")
            }
            slowest = max(slowest, affirm ?? Int.max / 2)
        }
        return slowest
    }

    private mutating func explainSequential(_ analysis: AnalysisSpec, _ sequential: SequentialJudgeSpec) -> Int? {
        lines.append(
            "judge sequential: always-valid tests against stable's requests over the same time; false rollback ≤ \(formatPercent(sequential.alpha)) per rollout "
                + "(errors \(formatPercent(sequential.errorAlpha)), latency \(formatPercent(sequential.latencyAlpha)))")
        let reference = JudgeDesign.referenceErrorRate
        let bad = JudgeDesign.badErrorRate
        let referenceRatio = 9.0
        if reference + sequential.minErrorRateIncrease >= bad {
            warnings.append(
                "\(service): minErrorRateIncrease \(formatPercent(sequential.minErrorRateIncrease)) tolerates a candidate failing \(formatPercent(bad)) "
                    + "against \(formatPercent(reference)) (miss probability ~100 % at the design point)")
        }
        // The error test weighs where errors fall: each one is the canary's with probability pi1 under the bad rate.
        let pi0 = 1 / (1 + referenceRatio)
        let ratio = bad / reference
        let pi1 = ratio / (ratio + referenceRatio)
        let errorsPerCanaryRequest = bad + referenceRatio * reference
        let drift = errorsPerCanaryRequest * (pi1 * log(pi1 / pi0) + (1 - pi1) * log((1 - pi1) / (1 - pi0)))
        let reject = Int(((log(1 / (sequential.errorAlpha)) + log(4)) / drift).rounded(.up))
        let wald = JudgeDesign.waldExpectedSamples(p0: reference, p1: bad, alpha: sequential.errorAlpha)
        lines.append("  errors: fails a candidate at \(formatPercent(bad)) after ~\(reject) canary requests (Wald's SPRT, knowing both rates: \(Int(wald.rounded())))")
        let affirmErrors = JudgeDesign.requestsToAffirm(tolerance: sequential.minErrorRateIncrease, referenceRatio: referenceRatio)
        lines.append(
            "  errors: shows a good candidate within \(formatPercent(sequential.minErrorRateIncrease)) of stable after ~\(affirmErrors.map(String.init) ?? "never") canary requests"
        )
        let margin = log(1 + sequential.minLatencyIncrease) - log(9.0 / 8.0) / 2
        let spread = Self.assumedLogLatencySpread
        let affirmLatency = margin > 0 ? Int((pow(ConfidenceBounds.affirmationZ * spread / margin, 2) * (1 + 1 / referenceRatio)).rounded(.up)) : nil
        let shift = log(1 + JudgeDesign.badLatencyIncrease) - log(1 + sequential.minLatencyIncrease) - log(9.0 / 8.0) / 2
        let rejectLatency = shift > 0 ? Int((2 * log(1 / (sequential.latencyAlpha)) * spread * spread * (1 + 1 / referenceRatio) / (shift * shift)).rounded(.up)) : nil
        lines.append(
            "  latency (log-sd \(spread) assumed): fails a candidate \(formatPercent(JudgeDesign.badLatencyIncrease)) slower after ~\(rejectLatency.map(String.init) ?? "never") "
                + "canary requests; shows one within \(formatPercent(sequential.minLatencyIncrease)) after ~\(affirmLatency.map(String.init) ?? "never")")
        if rejectLatency == nil {
            warnings.append(
                "\(service): minLatencyIncrease \(formatPercent(sequential.minLatencyIncrease)) tolerates a candidate \(formatPercent(JudgeDesign.badLatencyIncrease)) slower")
        }
        guard let affirmErrors, let affirmLatency else { return nil }
        return max(affirmErrors, affirmLatency)
    }

    private mutating func explainCanaryBaseline(_ analysis: AnalysisSpec, _ settings: CanaryBaselineJudgeSpec) -> Int? {
        let window = max(1, analysis.minRequests)
        let power = JudgeDesign.canaryBaselineWindowPower(
            window, confidenceLevel: settings.confidenceLevel, tolerance: settings.errorRateTolerance,
            reference: JudgeDesign.referenceErrorRate, bad: JudgeDesign.badErrorRate, referenceRatio: 9)
        let derived = JudgeDesign.canaryBaselineWindow(confidenceLevel: settings.confidenceLevel, tolerance: settings.errorRateTolerance)
        lines.append(
            "judge canaryBaseline: windows of \(window) canary requests (at \(formatPercent(JudgeDesign.windowPower)) power the design point needs \(derived)), "
                + "each judged on its own at \(formatPercent(settings.confidenceLevel)) confidence")
        lines.append(
            "  a window catches a candidate at \(formatPercent(JudgeDesign.badErrorRate)) errors with probability \(formatPercent(power)); "
                + "expected canary requests to fail it ~\(power > 0 ? String(Int((Double(window) / power).rounded())) : "never")")
        let affirm = JudgeDesign.requestsToAffirm(tolerance: settings.errorRateTolerance)
        lines.append(
            "  windows pass once the step's requests show the error rate within \(formatPercent(settings.errorRateTolerance)): ~\(affirm.map(String.init) ?? "never") canary requests"
        )
        // Each window risks a false "high" in either metric; a good rollout sees about this many windows.
        let windows = Double(max(affirm ?? window, window)) / Double(window) + Double(analysis.minPassedWindows)
        let perWindow = 1 - settings.confidenceLevel
        let failuresAllowed = analysis.failureLimit
        let falseRollback = Self.probabilityOfMoreThan(failuresAllowed, trials: Int(windows.rounded(.up)), probability: perWindow)
        lines.append(
            "  false rollback per rollout: at most ~\(formatPercent(falseRollback)) (\(Int(windows.rounded(.up))) windows, \(formatPercent(perWindow)) each at most, failureLimit \(failuresAllowed))"
        )
        if falseRollback > Self.limit {
            warnings.append("\(service): about \(formatPercent(falseRollback)) of good candidates could be rolled back (many small windows): raise minRequests or confidenceLevel")
        }
        if 1 - power > Self.limit, power < 0.5 {
            warnings.append(
                "\(service): a window of \(window) requests catches a candidate failing \(formatPercent(JudgeDesign.badErrorRate)) only \(formatPercent(power)) of the time; "
                    + "\(derived) requests would give \(formatPercent(JudgeDesign.windowPower))")
        }
        return affirm.map { max($0, window) }
    }

    static func probabilityOfMoreThan(_ allowed: Int, trials: Int, probability p: Double) -> Double {
        ConfidenceBounds.binomialUpperTail(atLeast: allowed + 1, trials: max(trials, allowed + 1), probability: p)
    }
}
