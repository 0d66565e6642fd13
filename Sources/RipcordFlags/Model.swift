import Foundation

// The feature-flag document model. It mirrors the JSON of Unleash's `GET /api/client/features`
// response so such documents decode directly; fields this module does not know are ignored,
// and scalar values that Unleash usually sends as strings are also accepted as numbers or booleans.

/// A complete flag state: the `/api/client/features` response body.
public struct ClientFeatures: Codable, Sendable, Equatable {
    public var version: Int
    public var features: [FeatureDefinition]
    /// Segments referenced by id from `StrategyDefinition.segments`.
    public var segments: [Segment]?

    public init(version: Int = 2, features: [FeatureDefinition], segments: [Segment]? = nil) {
        self.version = version
        self.features = features
        self.segments = segments
    }

    enum CodingKeys: String, CodingKey { case version, features, segments }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(LenientInt.self, forKey: .version)?.value ?? 1
        features = try c.decodeIfPresent([FeatureDefinition].self, forKey: .features) ?? []
        segments = try c.decodeIfPresent([Segment].self, forKey: .segments)
    }
}

/// One feature flag ("toggle" in Unleash).
public struct FeatureDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    /// Unleash flag type: release, experiment, operational, kill-switch, permission.
    public var type: String?
    public var project: String?
    /// The kill switch: when false the flag is off whatever its strategies say.
    public var enabled: Bool
    public var stale: Bool?
    public var impressionData: Bool?
    /// Activation strategies, OR-ed together. An empty list means "on for everyone" when `enabled`.
    public var strategies: [StrategyDefinition]
    /// Feature-level variants, used when the matching strategy has none of its own.
    public var variants: [VariantDefinition]?
    /// Parent flags this flag depends on.
    public var dependencies: [FeatureDependency]?
    /// Labels for people (`{type, value}`, as Unleash's tags); evaluation never reads them.
    public var tags: [FlagTag]?

    public init(
        name: String, enabled: Bool, strategies: [StrategyDefinition] = [],
        variants: [VariantDefinition]? = nil, dependencies: [FeatureDependency]? = nil,
        description: String? = nil, type: String? = nil, project: String? = nil,
        stale: Bool? = nil, impressionData: Bool? = nil, tags: [FlagTag]? = nil
    ) {
        self.tags = tags
        self.name = name
        self.enabled = enabled
        self.strategies = strategies
        self.variants = variants
        self.dependencies = dependencies
        self.description = description
        self.type = type
        self.project = project
        self.stale = stale
        self.impressionData = impressionData
    }

    enum CodingKeys: String, CodingKey {
        case name, description, type, project, enabled, stale, impressionData, strategies, variants, dependencies, tags
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        type = try c.decodeIfPresent(String.self, forKey: .type)
        project = try c.decodeIfPresent(String.self, forKey: .project)
        enabled = try c.decodeIfPresent(LenientBool.self, forKey: .enabled)?.value ?? false
        stale = try c.decodeIfPresent(LenientBool.self, forKey: .stale)?.value
        impressionData = try c.decodeIfPresent(LenientBool.self, forKey: .impressionData)?.value
        strategies = try c.decodeIfPresent([StrategyDefinition].self, forKey: .strategies) ?? []
        variants = try c.decodeIfPresent([VariantDefinition].self, forKey: .variants)
        dependencies = try c.decodeIfPresent([FeatureDependency].self, forKey: .dependencies)
        tags = try c.decodeIfPresent([FlagTag].self, forKey: .tags)
    }
}

/// A tag on a flag: `simple: checkout`, `team: payments`.
public struct FlagTag: Codable, Sendable, Equatable, Hashable {
    public var type: String
    public var value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }
}

extension FeatureDefinition {
    /// The flag as Unleash's server hands it to SDKs: disabled strategies left out (SDKs do not read
    /// `disabled` and would evaluate them as active), and a flag whose strategies are all disabled
    /// off — what Ripcord's evaluator answers, and what Unleash does when the last one is disabled.
    public var servedToSDKs: FeatureDefinition {
        guard strategies.contains(where: { $0.disabled == true }) else { return self }
        var served = self
        served.strategies = strategies.filter { $0.disabled != true }
        if served.strategies.isEmpty { served.enabled = false }
        return served
    }

    /// The project a flag belongs to (`default` when it names none, as in Unleash).
    public var projectName: String { project ?? "default" }
}

/// An activation strategy: a named rule with string parameters, constraints, segments and
/// optional strategy-level variants.
public struct StrategyDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var id: String?
    public var title: String?
    public var parameters: [String: String]
    public var constraints: [Constraint]
    /// Ids of `ClientFeatures.segments`; every constraint of every listed segment must pass.
    public var segments: [Int]
    /// Strategy-level variants; when this strategy is the first to match and the list is not
    /// empty, they take precedence over the feature's variants.
    public var variants: [VariantDefinition]?
    public var sortOrder: Int?
    /// A disabled strategy is kept in the definition but never evaluated.
    public var disabled: Bool?

    public init(
        name: String, parameters: [String: String] = [:], constraints: [Constraint] = [],
        segments: [Int] = [], variants: [VariantDefinition]? = nil, sortOrder: Int? = nil,
        disabled: Bool? = nil, id: String? = nil, title: String? = nil
    ) {
        self.name = name
        self.parameters = parameters
        self.constraints = constraints
        self.segments = segments
        self.variants = variants
        self.sortOrder = sortOrder
        self.disabled = disabled
        self.id = id
        self.title = title
    }

    enum CodingKeys: String, CodingKey {
        case name, id, title, parameters, constraints, segments, variants, sortOrder, disabled
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        id = try c.decodeIfPresent(LenientString.self, forKey: .id)?.value
        title = try c.decodeIfPresent(String.self, forKey: .title)
        let rawParameters = try c.decodeIfPresent([String: LenientOptionalString].self, forKey: .parameters) ?? [:]
        parameters = rawParameters.compactMapValues(\.value)
        constraints = try c.decodeIfPresent([Constraint].self, forKey: .constraints) ?? []
        segments = try c.decodeIfPresent([LenientInt].self, forKey: .segments)?.map(\.value) ?? []
        variants = try c.decodeIfPresent([VariantDefinition].self, forKey: .variants)
        sortOrder = try c.decodeIfPresent(LenientInt.self, forKey: .sortOrder)?.value
        disabled = try c.decodeIfPresent(LenientBool.self, forKey: .disabled)?.value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(title, forKey: .title)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(constraints, forKey: .constraints)
        if !segments.isEmpty { try c.encode(segments, forKey: .segments) }
        try c.encodeIfPresent(variants, forKey: .variants)
        try c.encodeIfPresent(sortOrder, forKey: .sortOrder)
        try c.encodeIfPresent(disabled, forKey: .disabled)
    }
}

/// A reusable, named list of constraints.
public struct Segment: Codable, Sendable, Equatable {
    public var id: Int
    public var name: String?
    public var constraints: [Constraint]

    public init(id: Int, name: String? = nil, constraints: [Constraint]) {
        self.id = id
        self.name = name
        self.constraints = constraints
    }

    enum CodingKeys: String, CodingKey { case id, name, constraints }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(LenientInt.self, forKey: .id).value
        name = try c.decodeIfPresent(String.self, forKey: .name)
        constraints = try c.decodeIfPresent([Constraint].self, forKey: .constraints) ?? []
    }
}

/// The constraint operators Unleash defines (plus the GTE/LTE semver forms some servers send).
public enum ConstraintOperator: String, Sendable, CaseIterable, Codable {
    case `in` = "IN"
    case notIn = "NOT_IN"
    case strContains = "STR_CONTAINS"
    case strStartsWith = "STR_STARTS_WITH"
    case strEndsWith = "STR_ENDS_WITH"
    case numEq = "NUM_EQ"
    case numGt = "NUM_GT"
    case numGte = "NUM_GTE"
    case numLt = "NUM_LT"
    case numLte = "NUM_LTE"
    case dateAfter = "DATE_AFTER"
    case dateBefore = "DATE_BEFORE"
    case semverEq = "SEMVER_EQ"
    case semverGt = "SEMVER_GT"
    case semverGte = "SEMVER_GTE"
    case semverLt = "SEMVER_LT"
    case semverLte = "SEMVER_LTE"
    case regex = "REGEX"
    case inCIDR = "IN_CIDR"
}

/// A condition on one context field. `operator` keeps the raw string so documents with
/// operators this version does not know still decode (such constraints never match).
public struct Constraint: Codable, Sendable, Equatable {
    public var contextName: String
    public var `operator`: String
    /// Single operand (numeric, date, semver and regex operators).
    public var value: String?
    /// List operand (IN, NOT_IN, string and CIDR operators).
    public var values: [String]?
    public var inverted: Bool
    public var caseInsensitive: Bool

    public init(
        contextName: String, operator op: ConstraintOperator, value: String? = nil, values: [String]? = nil,
        inverted: Bool = false, caseInsensitive: Bool = false
    ) {
        self.init(
            contextName: contextName, rawOperator: op.rawValue, value: value, values: values,
            inverted: inverted, caseInsensitive: caseInsensitive)
    }

    public init(
        contextName: String, rawOperator: String, value: String? = nil, values: [String]? = nil,
        inverted: Bool = false, caseInsensitive: Bool = false
    ) {
        self.contextName = contextName
        self.operator = rawOperator
        self.value = value
        self.values = values
        self.inverted = inverted
        self.caseInsensitive = caseInsensitive
    }

    /// The operator, or nil when this version does not know it.
    public var knownOperator: ConstraintOperator? { ConstraintOperator(rawValue: `operator`) }

    enum CodingKeys: String, CodingKey { case contextName, `operator`, value, values, inverted, caseInsensitive }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contextName = try c.decode(String.self, forKey: .contextName)
        `operator` = try c.decode(String.self, forKey: .operator)
        value = try c.decodeIfPresent(LenientOptionalString.self, forKey: .value)?.value
        values = try c.decodeIfPresent([LenientOptionalString].self, forKey: .values)?.compactMap(\.value)
        inverted = try c.decodeIfPresent(LenientBool.self, forKey: .inverted)?.value ?? false
        caseInsensitive = try c.decodeIfPresent(LenientBool.self, forKey: .caseInsensitive)?.value ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(contextName, forKey: .contextName)
        try c.encode(`operator`, forKey: .operator)
        try c.encodeIfPresent(value, forKey: .value)
        try c.encodeIfPresent(values, forKey: .values)
        try c.encode(inverted, forKey: .inverted)
        try c.encode(caseInsensitive, forKey: .caseInsensitive)
    }
}

/// How a variant's weight is set: `fix` keeps it, `variable` shares what the fixed ones leave.
public enum WeightType: String, Codable, Sendable {
    case fix
    case variable
}

/// A variant definition, at feature or strategy level.
public struct VariantDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var weight: Int
    public var weightType: WeightType?
    /// Context field used to hash the variant: "default" (userId, then sessionId, then random),
    /// "random", or any context field name.
    public var stickiness: String?
    public var payload: VariantPayload?
    /// Force this variant when a context field has one of the listed values (feature level only).
    public var overrides: [VariantOverride]?

    public init(
        name: String, weight: Int, weightType: WeightType? = nil, stickiness: String? = nil,
        payload: VariantPayload? = nil, overrides: [VariantOverride]? = nil
    ) {
        self.name = name
        self.weight = weight
        self.weightType = weightType
        self.stickiness = stickiness
        self.payload = payload
        self.overrides = overrides
    }

    enum CodingKeys: String, CodingKey { case name, weight, weightType, stickiness, payload, overrides }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        weight = try c.decodeIfPresent(LenientInt.self, forKey: .weight)?.value ?? 0
        weightType = (try? c.decodeIfPresent(String.self, forKey: .weightType)).flatMap { $0.flatMap(WeightType.init(rawValue:)) }
        stickiness = try c.decodeIfPresent(String.self, forKey: .stickiness)
        payload = try c.decodeIfPresent(VariantPayload.self, forKey: .payload)
        overrides = try c.decodeIfPresent([VariantOverride].self, forKey: .overrides)
    }
}

/// A variant payload: `type` is string, json, csv or number; `value` is always a string.
public struct VariantPayload: Codable, Sendable, Equatable, Hashable {
    public var type: String
    public var value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }

    enum CodingKeys: String, CodingKey { case type, value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        value = try c.decodeIfPresent(LenientString.self, forKey: .value)?.value ?? ""
    }
}

/// Forces a variant for listed values of one context field.
public struct VariantOverride: Codable, Sendable, Equatable {
    public var contextName: String
    public var values: [String]

    public init(contextName: String, values: [String]) {
        self.contextName = contextName
        self.values = values
    }

    enum CodingKeys: String, CodingKey { case contextName, values }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contextName = try c.decode(String.self, forKey: .contextName)
        values = try c.decodeIfPresent([LenientOptionalString].self, forKey: .values)?.compactMap(\.value) ?? []
    }
}

/// A dependency on a parent flag.
public struct FeatureDependency: Codable, Sendable, Equatable {
    /// The parent flag's name.
    public var feature: String
    /// Required parent state; nil means true.
    public var enabled: Bool?
    /// When not empty (and the parent must be enabled), the parent's variant must be one of these.
    public var variants: [String]?

    public init(feature: String, enabled: Bool? = nil, variants: [String]? = nil) {
        self.feature = feature
        self.enabled = enabled
        self.variants = variants
    }
}

// MARK: - Lenient scalar decoding

/// Decodes a JSON string, number or boolean as a string.
struct LenientString: Decodable {
    let value: String
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            value = s
            return
        }
        if let i = try? c.decode(Int.self) {
            value = String(i)
            return
        }
        if let d = try? c.decode(Double.self) {
            value = String(d)
            return
        }
        if let b = try? c.decode(Bool.self) {
            value = b ? "true" : "false"
            return
        }
        throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "expected a string"))
    }
}

/// Like `LenientString`, but JSON null decodes to nil.
struct LenientOptionalString: Decodable {
    let value: String?
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            value = nil
            return
        }
        value = try LenientString(from: decoder).value
    }
}

struct LenientInt: Decodable {
    let value: Int
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) {
            value = i
            return
        }
        if let d = try? c.decode(Double.self), let i = Int(exactly: d) {
            value = i
            return
        }
        if let s = try? c.decode(String.self), let i = Int(s.trimmingCharacters(in: .whitespaces)) {
            value = i
            return
        }
        throw DecodingError.typeMismatch(Int.self, .init(codingPath: decoder.codingPath, debugDescription: "expected an integer"))
    }
}

struct LenientBool: Decodable {
    let value: Bool
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            value = b
            return
        }
        if let s = try? c.decode(String.self) {
            switch s.lowercased() {
            case "true":
                value = true
                return
            case "false":
                value = false
                return
            default: break
            }
        }
        if let i = try? c.decode(Int.self) {
            value = i != 0
            return
        }
        throw DecodingError.typeMismatch(Bool.self, .init(codingPath: decoder.codingPath, debugDescription: "expected a boolean"))
    }
}
