import Foundation

/// What a judge concluded. `fail` means "roll back".
public enum JudgeVerdict: String, Sendable, Codable {
    case pass, fail, inconclusive
}

/// One judge's decision with everything a human needs to answer "why".
public struct JudgeDecision: Sendable, Codable, Equatable {
    public var verdict: JudgeVerdict
    /// "threshold", "canaryVsBaseline" or "sequential".
    public var judge: String
    /// The test statistic, e.g. "mSPRT log-likelihood ratio", "Mann-Whitney U".
    public var statistic: String
    /// The statistic's value.
    public var value: Double
    /// The (always-valid, for sequential judges) p-value where defined.
    public var pValue: Double?
    public var canarySamples: Int
    public var baselineSamples: Int
    public var details: [String: String]

    public init(
        verdict: JudgeVerdict, judge: String, statistic: String, value: Double, pValue: Double?,
        canarySamples: Int, baselineSamples: Int, details: [String: String]
    ) {
        self.verdict = verdict
        self.judge = judge
        self.statistic = statistic
        self.value = value
        self.pValue = pValue
        self.canarySamples = canarySamples
        self.baselineSamples = baselineSamples
        self.details = details
    }
}
