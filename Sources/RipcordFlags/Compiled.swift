import Foundation
import RipcordCore

// Precompiled, immutable forms of constraints, strategies and variants. Everything that can be
// parsed ahead of time (numbers, dates, versions, CIDRs, regexes, hash prefixes, lowercased
// values) is parsed once when a `FlagEvaluator` is built.

enum Comparison: Sendable {
    case eq, gt, gte, lt, lte

    @inline(__always)
    func holds(_ order: Int) -> Bool {
        switch self {
        case .eq: order == 0
        case .gt: order > 0
        case .gte: order >= 0
        case .lt: order < 0
        case .lte: order <= 0
        }
    }
}

enum StringTest: Sendable { case contains, startsWith, endsWith }

/// A set of strings, linear for short lists and hashed for long ones.
struct StringList: Sendable {
    let list: [String]
    let set: Set<String>?

    init(_ values: [String]) {
        list = values
        set = values.count > 8 ? Set(values) : nil
    }

    @inline(__always)
    func contains(_ value: String) -> Bool {
        if let set { return set.contains(value) }
        for v in list where v == value { return true }
        return false
    }
}

/// A compiled constraint. Subclasses implement one operator each; everything they need is
/// parsed at compile time.
class CompiledConstraint: @unchecked Sendable {
    let field: ContextField
    let inverted: Bool

    init(contextName: String, inverted: Bool) {
        field = ContextField(contextName)
        self.inverted = inverted
    }

    /// Whether this constraint can never match (invalid configuration or unknown operator).
    var isNever: Bool { false }

    /// The operator's result before inversion.
    func evaluate(_ context: FlagContext) -> Bool { false }

    @inline(__always)
    final func matches(_ context: FlagContext) -> Bool { evaluate(context) != inverted }

    /// The context field's value: the top-level field for standard names, then properties.
    @inline(__always)
    final func read(_ context: FlagContext) -> String? { field.value(in: context) }

    /// Compiles a constraint; invalid configuration yields a never-matching constraint and a warning.
    static func compile(_ c: Constraint, feature: String, warnings: inout [CompileWarning]) -> CompiledConstraint {
        func never(_ message: String) -> CompiledConstraint {
            warnings.append(CompileWarning(feature: feature, message: "constraint on \(c.contextName) \(c.operator): \(message)"))
            return NeverConstraint(contextName: c.contextName, inverted: c.inverted)
        }
        let single = c.value ?? c.values?.first
        let list = c.values ?? c.value.map { [$0] } ?? []
        guard let op = c.knownOperator else { return never("unknown operator") }
        switch op {
        case .in, .notIn:
            // Always case-sensitive, as in Unleash's reference engine: `caseInsensitive` is for the STR_ operators.
            return ListConstraint(contextName: c.contextName, inverted: c.inverted, values: StringList(list), notIn: op == .notIn)
        case .strContains, .strStartsWith, .strEndsWith:
            let values = (c.caseInsensitive ? list.map { $0.lowercased() } : list).map { Array($0.utf8) }
            let kind: StringTest = op == .strContains ? .contains : (op == .strStartsWith ? .startsWith : .endsWith)
            return StringConstraint(
                contextName: c.contextName, inverted: c.inverted, kind: kind, needles: values,
                caseInsensitive: c.caseInsensitive)
        case .numEq, .numGt, .numGte, .numLt, .numLte:
            guard let text = single, let number = parseNumber(text) else {
                return never("value \(single ?? "nil") is not a number")
            }
            let cmp: Comparison =
                switch op {
                case .numEq: .eq
                case .numGt: .gt
                case .numGte: .gte
                case .numLt: .lt
                default: .lte
                }
            return NumberConstraint(contextName: c.contextName, inverted: c.inverted, comparison: cmp, target: number)
        case .dateAfter, .dateBefore:
            guard let text = single, let seconds = ISO8601Timestamp.parseConstraintDate(text) else {
                return never("value \(single ?? "nil") is not an RFC 3339 date-time as Unleash SDKs read it (2024-01-31T12:00:00Z, .sss milliseconds and ±hh:mm offsets allowed)")
            }
            return DateConstraint(contextName: c.contextName, inverted: c.inverted, after: op == .dateAfter, target: seconds)
        case .semverEq, .semverGt, .semverGte, .semverLt, .semverLte:
            guard let text = single, let version = SemanticVersion(text) else {
                return never("value \(single ?? "nil") is not a semantic version")
            }
            let cmp: Comparison =
                switch op {
                case .semverEq: .eq
                case .semverGt: .gt
                case .semverGte: .gte
                case .semverLt: .lt
                default: .lte
                }
            return SemverConstraint(contextName: c.contextName, inverted: c.inverted, comparison: cmp, target: version)
        case .regex:
            guard let text = single else { return never("missing pattern") }
            do {
                let regex = try RustRegex(text, caseInsensitive: c.caseInsensitive)
                return RegexConstraint(contextName: c.contextName, inverted: c.inverted, regex: regex)
            } catch {
                return never("\(error)")
            }
        case .inCIDR:
            let networks = list.compactMap { IPNetwork($0.trimmingCharacters(in: .whitespaces)) }
            if networks.count < list.count {
                warnings.append(CompileWarning(feature: feature, message: "constraint on \(c.contextName) IN_CIDR: ignoring invalid entries"))
            }
            return CIDRConstraint(contextName: c.contextName, inverted: c.inverted, networks: networks)
        }
    }
}

/// Unknown operator or invalid operand: never matches, whatever `inverted` says.
/// (Strategies holding one are compiled to never match, so `evaluate` is not consulted.)
final class NeverConstraint: CompiledConstraint, @unchecked Sendable {
    override var isNever: Bool { true }
    override func evaluate(_ context: FlagContext) -> Bool { inverted }
}

/// IN / NOT_IN (a missing field is "not in").
final class ListConstraint: CompiledConstraint, @unchecked Sendable {
    let values: StringList
    let notIn: Bool

    init(contextName: String, inverted: Bool, values: StringList, notIn: Bool) {
        self.values = values
        self.notIn = notIn
        super.init(contextName: contextName, inverted: inverted)
    }

    override func evaluate(_ context: FlagContext) -> Bool {
        guard let v = read(context) else { return notIn }
        return values.contains(v) != notIn
    }
}

/// STR_CONTAINS / STR_STARTS_WITH / STR_ENDS_WITH on UTF-8 bytes (any of the values).
final class StringConstraint: CompiledConstraint, @unchecked Sendable {
    let kind: StringTest
    let needles: [[UInt8]]
    let caseInsensitive: Bool

    init(contextName: String, inverted: Bool, kind: StringTest, needles: [[UInt8]], caseInsensitive: Bool) {
        self.kind = kind
        self.needles = needles
        self.caseInsensitive = caseInsensitive
        super.init(contextName: contextName, inverted: inverted)
    }

    override func evaluate(_ context: FlagContext) -> Bool {
        guard let v = read(context) else { return false }
        var s = caseInsensitive ? v.lowercased() : v
        return s.withUTF8 { bytes in
            for needle in needles {
                let hit =
                    switch kind {
                    case .startsWith: hasPrefix(bytes, needle)
                    case .endsWith: hasSuffix(bytes, needle)
                    case .contains: containsBytes(bytes, needle)
                    }
                if hit { return true }
            }
            return false
        }
    }
}

final class NumberConstraint: CompiledConstraint, @unchecked Sendable {
    let comparison: Comparison
    let target: Double

    init(contextName: String, inverted: Bool, comparison: Comparison, target: Double) {
        self.comparison = comparison
        self.target = target
        super.init(contextName: contextName, inverted: inverted)
    }

    override func evaluate(_ context: FlagContext) -> Bool {
        guard let text = read(context), let n = parseNumber(text) else { return false }
        switch comparison {
        case .eq: return abs(n - target) < Double.ulpOfOne
        case .gt: return n > target
        case .gte: return n >= target
        case .lt: return n < target
        case .lte: return n <= target
        }
    }
}

/// DATE_AFTER / DATE_BEFORE, both exclusive; `currentTime` defaults to now.
final class DateConstraint: CompiledConstraint, @unchecked Sendable {
    let after: Bool
    let target: Double

    init(contextName: String, inverted: Bool, after: Bool, target: Double) {
        self.after = after
        self.target = target
        super.init(contextName: contextName, inverted: inverted)
    }

    override func evaluate(_ context: FlagContext) -> Bool {
        guard let t = field.timestamp(in: context) else { return false }
        return after ? t > target : t < target
    }
}

final class SemverConstraint: CompiledConstraint, @unchecked Sendable {
    let comparison: Comparison
    let target: SemanticVersion

    init(contextName: String, inverted: Bool, comparison: Comparison, target: SemanticVersion) {
        self.comparison = comparison
        self.target = target
        super.init(contextName: contextName, inverted: inverted)
    }

    override func evaluate(_ context: FlagContext) -> Bool {
        guard let text = read(context), let order = SemanticVersion.compare(text, to: target) else { return false }
        return comparison.holds(order)
    }
}

final class RegexConstraint: CompiledConstraint, @unchecked Sendable {
    let regex: RustRegex

    init(contextName: String, inverted: Bool, regex: RustRegex) {
        self.regex = regex
        super.init(contextName: contextName, inverted: inverted)
    }

    override func evaluate(_ context: FlagContext) -> Bool {
        guard let text = read(context) else { return false }
        return regex.isMatch(text)
    }
}

final class CIDRConstraint: CompiledConstraint, @unchecked Sendable {
    let networks: [IPNetwork]

    init(contextName: String, inverted: Bool, networks: [IPNetwork]) {
        self.networks = networks
        super.init(contextName: contextName, inverted: inverted)
    }

    override func evaluate(_ context: FlagContext) -> Bool {
        guard let text = read(context), let address = IPAddress(text) else { return false }
        for network in networks where network.contains(address) { return true }
        return false
    }
}

/// Numbers as Unleash SDKs read them: decimal floating point, no hex, no NaN.
@inline(__always)
func parseNumber(_ text: String) -> Double? {
    // Fast path: short plain integers, the common case for numeric context fields.
    var copy = text
    let integer: Double? = copy.withUTF8 { b in
        guard !b.isEmpty, b.count <= 15 else { return nil }
        var i = 0
        var negative = false
        if b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+") {
            negative = b[0] == UInt8(ascii: "-")
            i = 1
            guard b.count > 1 else { return nil }
        }
        var v: Int64 = 0
        while i < b.count {
            let c = b[i]
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int64(c - 48)
            i += 1
        }
        return Double(negative ? -v : v)
    }
    if let integer { return integer }
    guard let d = Double(text), !d.isNaN else { return nil }
    if text.utf8.contains(where: { $0 == UInt8(ascii: "x") || $0 == UInt8(ascii: "X") }) { return nil }
    return d
}

@inline(__always)
func hasPrefix(_ s: UnsafeBufferPointer<UInt8>, _ p: [UInt8]) -> Bool {
    guard s.count >= p.count else { return false }
    if p.isEmpty { return true }
    return p.withUnsafeBufferPointer { memcmp(s.baseAddress!, $0.baseAddress!, p.count) == 0 }
}

@inline(__always)
func hasSuffix(_ s: UnsafeBufferPointer<UInt8>, _ p: [UInt8]) -> Bool {
    guard s.count >= p.count else { return false }
    if p.isEmpty { return true }
    return p.withUnsafeBufferPointer { memcmp(s.baseAddress! + (s.count - p.count), $0.baseAddress!, p.count) == 0 }
}

@inline(__always)
func containsBytes(_ s: UnsafeBufferPointer<UInt8>, _ p: [UInt8]) -> Bool {
    if p.isEmpty { return true }
    guard s.count >= p.count else { return false }
    return p.withUnsafeBufferPointer { pb in
        let first = pb[0]
        let last = s.count - pb.count
        var i = 0
        while i <= last {
            if s[i] == first && memcmp(s.baseAddress! + i, pb.baseAddress!, pb.count) == 0 { return true }
            i += 1
        }
        return false
    }
}

/// Where a rollout or variant hash takes its identifier from.
enum Stickiness: Sendable {
    /// userId, then sessionId, then a random value (Unleash's "default").
    case standard
    case random
    case field(ContextField)

    init(_ name: String?) {
        switch name {
        case nil, "default", "": self = .standard
        case "random": self = .random
        case let name?: self = .field(ContextField(name))
        }
    }

    @inline(__always)
    func identifier(in context: FlagContext) -> String? {
        switch self {
        case .standard:
            if let u = context.userId, !u.isEmpty { return u }
            if let s = context.sessionId, !s.isEmpty { return s }
            return nil
        case .random:
            return nil
        case .field(let field):
            return field.value(in: context)
        }
    }
}

enum StrategyRule: Sendable {
    case always
    case never
    case userIds(StringList)
    /// Hash-based percentage rollout; `requireIdentifier` false means a missing identifier
    /// falls back to a random draw (default and random stickiness).
    case rollout(percentage: Double, stickiness: Stickiness, group: NormalizedHashPrefix)
    case random(percentage: Double)
    case remoteAddress([IPNetwork], exact: [String])

    /// True for a gradual rollout (0 < percentage < 100, default or userId stickiness) that the
    /// context gives no identifier for: its answer would be a random draw (default) or a constant no.
    func lacksIdentifier(_ context: FlagContext) -> Bool {
        guard case .rollout(let percentage, let stickiness, _) = self, percentage > 0, percentage < 100 else { return false }
        switch stickiness {
        case .standard: return stickiness.identifier(in: context) == nil
        case .field(.userId): return context.userId?.isEmpty ?? true
        case .random, .field: return false
        }
    }

    @inline(__always)
    func matches(_ context: FlagContext) -> Bool {
        switch self {
        case .always:
            return true
        case .never:
            return false
        case .userIds(let ids):
            guard let id = context.userId else { return false }
            return ids.contains(id)
        case .rollout(let percentage, let stickiness, let group):
            guard percentage > 0 else { return false }
            switch stickiness {
            case .standard:
                guard let id = stickiness.identifier(in: context) else { return randomPercent() <= percentage }
                return Double(group.normalized(id, modulus: 100, seed: 0)) <= percentage
            case .random:
                return randomPercent() <= percentage
            case .field:
                guard let id = stickiness.identifier(in: context) else { return false }
                return Double(group.normalized(id, modulus: 100, seed: 0)) <= percentage
            }
        case .random(let percentage):
            return percentage > 0 && randomPercent() <= percentage
        case .remoteAddress(let networks, let exact):
            guard let text = context.remoteAddress else { return false }
            if exact.contains(text) { return true }
            guard let address = IPAddress(text) else { return false }
            return networks.contains { $0.contains(address) }
        }
    }
}

@inline(__always)
func randomPercent() -> Double { Double(UInt32.random(in: 1...100)) }

final class CompiledVariants: Sendable {
    let results: [VariantResult]
    let weights: [Int]
    let totalWeight: Int
    let stickiness: Stickiness
    let group: NormalizedHashPrefix
    let overrides: [(variant: Int, field: ContextField, values: StringList)]

    /// nil when `definitions` is empty.
    init?(_ definitions: [VariantDefinition], stickiness: String?, groupId: String, allowOverrides: Bool) {
        guard !definitions.isEmpty else { return nil }
        results = definitions.map {
            VariantResult(name: $0.name, payload: $0.payload, enabled: true, featureEnabled: true)
        }
        weights = definitions.map { max(0, $0.weight) }
        totalWeight = weights.reduce(0, +)
        self.stickiness = Stickiness(stickiness)
        group = NormalizedHashPrefix(groupId: groupId)
        var overrides: [(Int, ContextField, StringList)] = []
        if allowOverrides {
            for (index, definition) in definitions.enumerated() {
                for o in definition.overrides ?? [] {
                    overrides.append((index, ContextField(o.contextName), StringList(o.values)))
                }
            }
        }
        self.overrides = overrides
    }

    /// The selected variant, or nil when no variant can be chosen (total weight 0).
    @inline(__always)
    func select(_ context: FlagContext) -> VariantResult? {
        for o in overrides {
            if let v = o.field.value(in: context), o.values.contains(v) { return results[o.variant] }
        }
        guard totalWeight > 0 else { return nil }
        let target: Int
        if let id = stickiness.identifier(in: context) {
            target = Int(group.normalized(id, modulus: UInt32(totalWeight), seed: MurmurHash3.variantSeed))
        } else {
            target = Int.random(in: 1...totalWeight)
        }
        var cumulative = 0
        for (index, weight) in weights.enumerated() {
            cumulative += weight
            if weight > 0 && cumulative >= target { return results[index] }
        }
        return nil
    }
}

final class CompiledStrategy: Sendable {
    /// Index in the feature's `strategies` array.
    let index: Int
    let rule: StrategyRule
    let constraints: [CompiledConstraint]
    let variants: CompiledVariants?

    init(index: Int, rule: StrategyRule, constraints: [CompiledConstraint], variants: CompiledVariants?) {
        self.index = index
        self.rule = rule
        self.constraints = constraints
        self.variants = variants
    }

    @inline(__always)
    func matches(_ context: FlagContext) -> Bool {
        constraintsMatch(context) && rule.matches(context)
    }

    @inline(__always)
    func constraintsMatch(_ context: FlagContext) -> Bool {
        for k in constraints.indices where !constraints[k].matches(context) { return false }
        return true
    }
}

struct CompiledDependency: Sendable {
    let parent: Int?
    let expectEnabled: Bool
    let variants: [String]
}

final class CompiledFeature: Sendable {
    let name: String
    let enabled: Bool
    let impressionData: Bool
    let strategies: [CompiledStrategy]
    /// True when the feature has strategies but every one of them is disabled.
    let onlyDisabledStrategies: Bool
    let variants: CompiledVariants?
    let dependencies: [CompiledDependency]

    init(
        name: String, enabled: Bool, impressionData: Bool, strategies: [CompiledStrategy], onlyDisabledStrategies: Bool,
        variants: CompiledVariants?, dependencies: [CompiledDependency]
    ) {
        self.name = name
        self.enabled = enabled
        self.impressionData = impressionData
        self.strategies = strategies
        self.onlyDisabledStrategies = onlyDisabledStrategies
        self.variants = variants
        self.dependencies = dependencies
    }
}

/// An open-addressing index from flag name to position, hashed with FNV-1a (cheaper than
/// `Dictionary`'s SipHash for the per-evaluation name lookup).
struct NameIndex: Sendable {
    private let slots: [Int32]
    private let names: [String]
    private let mask: Int

    init(_ names: [String]) {
        var capacity = 8
        while capacity < names.count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        outer: for (position, name) in names.enumerated() {
            var slot = Int(truncatingIfNeeded: NameIndex.hash(name)) & (capacity - 1)
            while slots[slot] >= 0 {
                if names[Int(slots[slot])] == name { continue outer }  // first definition wins
                slot = (slot + 1) & (capacity - 1)
            }
            slots[slot] = Int32(position)
        }
        self.slots = slots
        self.names = names
        mask = capacity - 1
    }

    @inline(__always)
    static func hash(_ name: String) -> UInt64 {
        var name = name
        return name.withUTF8 { b in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for c in b { h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01B3 }
            return h ^ (h >> 29)
        }
    }

    @inline(__always)
    subscript(name: String) -> Int? {
        var slot = Int(truncatingIfNeeded: NameIndex.hash(name)) & mask
        while true {
            let position = slots[slot]
            if position < 0 { return nil }
            if names[Int(position)] == name { return Int(position) }
            slot = (slot + 1) & mask
        }
    }
}

extension Constraint {
    /// Why this constraint can never match as written (an operator this engine does not know, an
    /// operand its operator cannot use, such as an invalid regex), naming the field at fault; nil
    /// when it is valid. The same check the evaluator makes when it compiles the constraint.
    public var problem: (field: String, message: String)? {
        var warnings: [CompileWarning] = []
        _ = CompiledConstraint.compile(self, feature: "", warnings: &warnings)
        guard let warning = warnings.first else { return nil }
        guard let op = knownOperator else { return ("operator", "unknown operator '\(`operator`)'") }
        if op == .inCIDR {
            // The evaluator skips such entries (and warns); a document being stored must not have them.
            let invalid = (values ?? value.map { [$0] } ?? []).filter { IPNetwork($0.trimmingCharacters(in: .whitespaces)) == nil }
            return ("values", "not an IP address or CIDR block: " + invalid.joined(separator: ", "))
        }
        let field =
            switch op {
            case .in, .notIn, .strContains, .strStartsWith, .strEndsWith: "values"
            default: "value"
            }
        return (field, warning.message)
    }
}
