import Foundation

/// Evaluates feature flags with Unleash's semantics against an immutable, precompiled state.
///
/// Build one per state (`FlagEvaluator(state:)`) and share it: it is immutable and `Sendable`,
/// and evaluation does no IO and allocates little.
///
/// Semantics, in order:
/// 1. An unknown flag is off (`reason .error`, `errorCode .flagNotFound`).
/// 2. A flag whose `enabled` is false is off (`.disabled`).
/// 3. Every dependency must hold: the parent exists, has no dependencies of its own, has the
///    required state (`enabled`, default true) and, when `variants` is not empty, one of those
///    variants (`.dependencyNotSatisfied` otherwise).
/// 4. A flag with no strategies is on (`.staticValue`); one whose strategies are all disabled is
///    off (`.defaultValue`).
/// 5. Otherwise the first strategy (disabled ones skipped) whose constraints, segments and own
///    rule all pass turns the flag on (`.targetingMatch`); if none does it is off (`.defaultValue`).
///
/// The variant of an enabled flag comes from the matching strategy's variants when it has
/// some, else from the feature's variants (overrides first, then the weighted hash), else it is
/// the "disabled" variant with `featureEnabled: true`.
public final class FlagEvaluator: Sendable {
    /// The state this evaluator was built from.
    public let state: ClientFeatures
    /// Invalid configuration found while compiling (such rules never match).
    public let warnings: [CompileWarning]
    /// The hostname the `applicationHostname` strategy compares against.
    public let hostname: String

    private let features: [CompiledFeature]
    private let index: NameIndex

    /// - Parameter hostname: the host name for `applicationHostname`; nil means the `HOSTNAME`
    ///   environment variable, else the machine's host name.
    public init(state: ClientFeatures, hostname: String? = nil) {
        self.state = state
        let needsHostname =
            hostname == nil
            && state.features.contains { f in
                f.strategies.contains { $0.name == "applicationHostname" }
            }
        let resolvedHostname =
            hostname
            ?? (needsHostname ? (ProcessInfo.processInfo.environment["HOSTNAME"] ?? ProcessInfo.processInfo.hostName) : "")
        self.hostname = resolvedHostname

        var index: [String: Int] = [:]
        for (i, feature) in state.features.enumerated() where index[feature.name] == nil {
            index[feature.name] = i
        }
        var warnings: [CompileWarning] = []
        var segments: [Int: [Constraint]] = [:]
        for segment in state.segments ?? [] { segments[segment.id] = segment.constraints }
        var compiled: [CompiledFeature] = []
        compiled.reserveCapacity(state.features.count)
        for feature in state.features {
            compiled.append(Self.compile(feature, segments: segments, index: index, hostname: resolvedHostname, warnings: &warnings))
        }
        self.features = compiled
        self.index = NameIndex(state.features.map(\.name))
        self.warnings = warnings
    }

    /// Decodes an `/api/client/features` JSON document and compiles it.
    public convenience init(json: Data, hostname: String? = nil) throws {
        self.init(state: try JSONDecoder().decode(ClientFeatures.self, from: json), hostname: hostname)
    }

    /// Names of all flags, in document order.
    public var flagNames: [String] { state.features.map(\.name) }

    /// Whether a flag with this name exists.
    public func contains(_ flag: String) -> Bool { index[flag] != nil }

    /// The definition of a flag.
    public func definition(of flag: String) -> FeatureDefinition? {
        index[flag].map { state.features[$0] }
    }

    /// Whether the flag is on for the context (false for unknown flags).
    public func isEnabled(_ flag: String, context: FlagContext = FlagContext()) -> Bool {
        guard let i = index[flag] else { return false }
        return resolve(i, context).enabled
    }

    /// The flag's variant for the context.
    public func variant(_ flag: String, context: FlagContext = FlagContext()) -> VariantResult {
        guard let i = index[flag] else { return .disabled(featureEnabled: false) }
        let r = resolve(i, context)
        return variant(for: features[i], r, context)
    }

    /// The full evaluation: state, variant, reason and matched strategy.
    public func evaluate(_ flag: String, context: FlagContext = FlagContext()) -> FlagEvaluation {
        guard let i = index[flag] else {
            return FlagEvaluation(
                flag: flag, enabled: false, variant: .disabled(featureEnabled: false),
                reason: .error, errorCode: .flagNotFound)
        }
        return evaluate(at: i, context)
    }

    /// Evaluates every flag, in document order.
    /// Whether the flag's answer for `context` would rest on a gradual rollout the context gives no
    /// identifier for (no userId or sessionId for default stickiness, no userId for userId
    /// stickiness): the first strategy whose constraints pass, before any strategy decides, is such a
    /// rollout. OFREP answers TARGETING_KEY_MISSING then, instead of a random or constant answer.
    public func lacksTargetingKey(_ flag: String, context: FlagContext) -> Bool {
        // A userId serves every stickiness this is about: the common case costs one check.
        if let userId = context.userId, !userId.isEmpty { return false }
        guard let i = index[flag], features[i].enabled else { return false }
        for strategy in features[i].strategies where strategy.constraintsMatch(context) {
            if strategy.rule.lacksIdentifier(context) { return true }
            if strategy.rule.matches(context) { return false }
        }
        return false
    }

    public func evaluateAll(context: FlagContext = FlagContext()) -> [FlagEvaluation] {
        features.indices.map { evaluate(at: $0, context) }
    }

    // MARK: - Evaluation

    private struct Resolution {
        var enabled: Bool
        var reason: EvaluationReason
        /// Position in `CompiledFeature.strategies` of the matching strategy.
        var matched: Int?
    }

    @inline(__always)
    private func evaluate(at i: Int, _ context: FlagContext) -> FlagEvaluation {
        let feature = features[i]
        let r = resolve(i, context)
        return FlagEvaluation(
            flag: feature.name, enabled: r.enabled, variant: variant(for: feature, r, context), reason: r.reason,
            errorCode: nil, strategyIndex: r.matched.map { feature.strategies[$0].index },
            impressionData: feature.impressionData)
    }

    @inline(__always)
    private func resolve(_ i: Int, _ context: FlagContext) -> Resolution {
        let feature = features[i]
        guard feature.enabled else { return Resolution(enabled: false, reason: .disabled) }
        if !feature.dependencies.isEmpty && !dependenciesSatisfied(feature, context) {
            return Resolution(enabled: false, reason: .dependencyNotSatisfied)
        }
        return resolveStrategies(feature, context)
    }

    @inline(__always)
    private func resolveStrategies(_ feature: CompiledFeature, _ context: FlagContext) -> Resolution {
        if feature.strategies.isEmpty {
            return feature.onlyDisabledStrategies
                ? Resolution(enabled: false, reason: .defaultValue)
                : Resolution(enabled: true, reason: .staticValue)
        }
        let strategies = feature.strategies
        for position in strategies.indices where strategies[position].matches(context) {
            return Resolution(enabled: true, reason: .targetingMatch, matched: position)
        }
        return Resolution(enabled: false, reason: .defaultValue)
    }

    @inline(__always)
    private func variant(for feature: CompiledFeature, _ r: Resolution, _ context: FlagContext) -> VariantResult {
        guard r.enabled else { return .disabled(featureEnabled: false) }
        if let m = r.matched, let strategyVariants = feature.strategies[m].variants {
            return strategyVariants.select(context) ?? .disabled(featureEnabled: true)
        }
        return feature.variants?.select(context) ?? .disabled(featureEnabled: true)
    }

    private func dependenciesSatisfied(_ feature: CompiledFeature, _ context: FlagContext) -> Bool {
        for dependency in feature.dependencies {
            guard let p = dependency.parent else { return false }
            let parent = features[p]
            // Only one level of dependencies is allowed: a parent with parents never satisfies.
            guard parent.dependencies.isEmpty else { return false }
            let r = parent.enabled ? resolveStrategies(parent, context) : Resolution(enabled: false, reason: .disabled)
            if dependency.expectEnabled {
                guard r.enabled else { return false }
                if !dependency.variants.isEmpty {
                    let name = variant(for: parent, r, context).name
                    guard dependency.variants.contains(name) else { return false }
                }
            } else {
                guard !r.enabled else { return false }
            }
        }
        return true
    }

    // MARK: - Compilation

    private static func compile(
        _ feature: FeatureDefinition, segments: [Int: [Constraint]], index: [String: Int],
        hostname: String, warnings: inout [CompileWarning]
    ) -> CompiledFeature {
        var strategies: [CompiledStrategy] = []
        for (i, strategy) in feature.strategies.enumerated() where strategy.disabled != true {
            strategies.append(compile(strategy, at: i, feature: feature, segments: segments, hostname: hostname, warnings: &warnings))
        }
        let dependencies = (feature.dependencies ?? []).map { d -> CompiledDependency in
            if index[d.feature] == nil {
                warnings.append(CompileWarning(feature: feature.name, message: "depends on missing flag \(d.feature)"))
            }
            return CompiledDependency(parent: index[d.feature], expectEnabled: d.enabled ?? true, variants: d.variants ?? [])
        }
        let variants = feature.variants.flatMap {
            CompiledVariants($0, stickiness: $0.first?.stickiness, groupId: feature.name, allowOverrides: true)
        }
        return CompiledFeature(
            name: feature.name, enabled: feature.enabled, impressionData: feature.impressionData ?? false,
            strategies: strategies, onlyDisabledStrategies: strategies.isEmpty && !feature.strategies.isEmpty,
            variants: variants, dependencies: dependencies)
    }

    private static func compile(
        _ strategy: StrategyDefinition, at position: Int, feature: FeatureDefinition, segments: [Int: [Constraint]],
        hostname: String, warnings: inout [CompileWarning]
    ) -> CompiledStrategy {
        let p = strategy.parameters
        func warn(_ message: String) -> StrategyRule {
            warnings.append(CompileWarning(feature: feature.name, message: "strategy \(position) (\(strategy.name)): \(message)"))
            return .never
        }
        func percentage(_ key: String) -> Double? {
            guard let text = p[key]?.trimmingCharacters(in: .whitespaces), let v = Double(text), v.isFinite else { return nil }
            return v
        }
        func list(_ key: String) -> [String] {
            (p[key] ?? "").split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }

        var rule: StrategyRule
        switch strategy.name {
        case "default":
            rule = .always
        case "userWithId":
            rule = p["userIds"] == nil ? warn("missing userIds") : .userIds(StringList(list("userIds").filter { !$0.isEmpty }))
        case "gradualRolloutUserId", "gradualRolloutSessionId":
            if let pct = percentage("percentage") {
                let field: ContextField = strategy.name == "gradualRolloutUserId" ? .userId : .sessionId
                rule = .rollout(percentage: pct, stickiness: .field(field), group: NormalizedHashPrefix(groupId: p["groupId"] ?? ""))
            } else {
                rule = warn("invalid percentage")
            }
        case "gradualRolloutRandom":
            if let pct = percentage("percentage") { rule = .random(percentage: pct) } else { rule = warn("invalid percentage") }
        case "flexibleRollout":
            if let pct = percentage("rollout") {
                let groupId = p["groupId"].flatMap { $0.isEmpty ? nil : $0 } ?? feature.name
                rule = .rollout(percentage: pct, stickiness: Stickiness(p["stickiness"]), group: NormalizedHashPrefix(groupId: groupId))
            } else {
                rule = warn("invalid rollout")
            }
        case "remoteAddress":
            let entries = list("IPs").filter { !$0.isEmpty }
            rule = .remoteAddress(entries.compactMap(IPNetwork.init), exact: entries)
        case "applicationHostname":
            let hosts = Set(list("hostNames").map { $0.lowercased() })
            rule = hosts.contains(hostname.lowercased()) && !hostname.isEmpty ? .always : .never
        default:
            // Custom strategies are not implemented by this engine: they never match.
            rule = .never
        }

        var constraints = strategy.constraints.map { CompiledConstraint.compile($0, feature: feature.name, warnings: &warnings) }
        for id in strategy.segments {
            guard let segment = segments[id] else {
                rule = warn("missing segment \(id)")
                continue
            }
            constraints += segment.map { CompiledConstraint.compile($0, feature: feature.name, warnings: &warnings) }
        }
        // A constraint that can never match makes the whole strategy unmatchable.
        if constraints.contains(where: \.isNever) { rule = .never }
        if case .never = rule { constraints = [] }

        let groupId = p["groupId"].flatMap { $0.isEmpty ? nil : $0 } ?? feature.name
        let variants = strategy.variants.flatMap {
            CompiledVariants($0, stickiness: p["stickiness"] ?? $0.first?.stickiness, groupId: groupId, allowOverrides: false)
        }
        return CompiledStrategy(index: position, rule: rule, constraints: constraints, variants: variants)
    }
}
