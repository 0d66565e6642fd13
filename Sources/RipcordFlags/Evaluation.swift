/// The variant a flag resolves to, in the shape Unleash SDKs return (and the client
/// specification's `variantTests` expect): `{name, payload?, enabled, feature_enabled}`.
public struct VariantResult: Sendable, Equatable, Hashable, Codable {
    public var name: String
    public var payload: VariantPayload?
    /// False for the built-in "disabled" variant.
    public var enabled: Bool
    /// Whether the flag itself evaluated to enabled.
    public var featureEnabled: Bool

    public init(name: String, payload: VariantPayload? = nil, enabled: Bool, featureEnabled: Bool) {
        self.name = name
        self.payload = payload
        self.enabled = enabled
        self.featureEnabled = featureEnabled
    }

    /// The built-in variant returned when the flag is off or has no variant to give.
    public static func disabled(featureEnabled: Bool) -> VariantResult {
        VariantResult(name: "disabled", payload: nil, enabled: false, featureEnabled: featureEnabled)
    }

    enum CodingKeys: String, CodingKey {
        case name, payload, enabled
        case featureEnabled = "feature_enabled"
        case featureEnabledCamel = "featureEnabled"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        payload = try c.decodeIfPresent(VariantPayload.self, forKey: .payload)
        enabled = try c.decode(Bool.self, forKey: .enabled)
        featureEnabled =
            try c.decodeIfPresent(Bool.self, forKey: .featureEnabled)
            ?? c.decodeIfPresent(Bool.self, forKey: .featureEnabledCamel) ?? false
    }

    /// Encodes `feature_enabled` (the client specification's spelling); the payload is omitted
    /// when absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(payload, forKey: .payload)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(featureEnabled, forKey: .featureEnabled)
    }
}

/// Why a flag evaluated the way it did.
public enum EvaluationReason: String, Sendable, Codable, CaseIterable {
    /// The flag's kill switch (`enabled: false`) is off.
    case disabled
    /// A parent flag did not have the required state or variant (or is missing).
    case dependencyNotSatisfied
    /// The flag is on and has no strategies: on for everyone.
    case staticValue = "static"
    /// A strategy (with its constraints and segments) matched the context.
    case targetingMatch
    /// The flag is on but no strategy matched: it evaluates to off.
    case defaultValue = "default"
    /// The flag could not be evaluated; see `FlagEvaluation.errorCode`.
    case error

    /// The OpenFeature / OFREP reason string.
    public var openFeatureReason: String {
        switch self {
        case .disabled: "DISABLED"
        case .dependencyNotSatisfied: "DEFAULT"
        case .staticValue: "STATIC"
        case .targetingMatch: "TARGETING_MATCH"
        case .defaultValue: "DEFAULT"
        case .error: "ERROR"
        }
    }
}

/// OpenFeature / OFREP error codes.
public enum EvaluationErrorCode: String, Sendable, Codable, CaseIterable {
    case flagNotFound = "FLAG_NOT_FOUND"
    case parseError = "PARSE_ERROR"
    case typeMismatch = "TYPE_MISMATCH"
    case targetingKeyMissing = "TARGETING_KEY_MISSING"
    case invalidContext = "INVALID_CONTEXT"
    case general = "GENERAL"
}

/// The full result of evaluating one flag for one context.
public struct FlagEvaluation: Sendable, Equatable {
    public let flag: String
    public let enabled: Bool
    public let variant: VariantResult
    public let reason: EvaluationReason
    public let errorCode: EvaluationErrorCode?
    /// Index in `FeatureDefinition.strategies` of the strategy that matched, if one did.
    public let strategyIndex: Int?
    /// Whether the flag asks for impression events.
    public let impressionData: Bool

    public init(
        flag: String, enabled: Bool, variant: VariantResult, reason: EvaluationReason,
        errorCode: EvaluationErrorCode? = nil, strategyIndex: Int? = nil, impressionData: Bool = false
    ) {
        self.flag = flag
        self.enabled = enabled
        self.variant = variant
        self.reason = reason
        self.errorCode = errorCode
        self.strategyIndex = strategyIndex
        self.impressionData = impressionData
    }
}

/// A problem found while compiling a state; the affected constraint or strategy never matches.
public struct CompileWarning: Sendable, Equatable, CustomStringConvertible {
    public let feature: String
    public let message: String

    public var description: String { "\(feature): \(message)" }
}
