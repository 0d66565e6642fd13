import Foundation
import RipcordCore
import RipcordFlags

/// One line of a plan: what applying a declared state would do to a flag or segment.
public struct PlannedChange: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable { case create, update, unchanged, delete }
    /// "flag NAME" or "segment ID".
    public var target: String
    public var action: Action
    public var before: String?
    public var after: String?
}

/// The management operations (the admin API and CLI verbs), each one recorded change.
extension FlagService {
    /// Creates a flag. `documentProblems`: what the caller found in the document as sent (unknown
    /// keys); they are refused together with the definition's own problems.
    @discardableResult
    public func create(
        _ feature: FeatureDefinition, environment: String, actor: String,
        documentProblems: [FlagProblem] = []
    ) async throws -> FeatureDefinition {
        try await change(environment: environment, actor: actor) { snapshot in
            try Self.check([feature], against: snapshot, documentProblems)
            guard !snapshot.evaluator.contains(feature.name) else {
                throw Refusal(.conflict, "flag_exists", "flag '\(feature.name)' already exists in \(environment); change it with PUT or the other verbs")
            }
            return [.putFlag(feature)]
        }
        return feature
    }

    /// Creates or replaces a flag's whole definition.
    @discardableResult
    public func put(
        _ feature: FeatureDefinition, environment: String, actor: String,
        documentProblems: [FlagProblem] = []
    ) async throws -> [FlagChangeRecord] {
        try await change(environment: environment, actor: actor) { snapshot in
            try Self.check([feature], against: snapshot, documentProblems)
            return [.putFlag(feature)]
        }
    }

    /// The kill switch.
    @discardableResult
    public func setEnabled(_ enabled: Bool, flag: String, environment: String, actor: String, reason: String? = nil) async throws -> FeatureDefinition {
        try await edit(flag, environment: environment, actor: actor, reason: reason) { $0.enabled = enabled }
    }

    /// Sets the percentage of the flag's (first) flexibleRollout strategy, adding one when it has none.
    @discardableResult
    public func setRollout(
        _ percentage: Double, stickiness: String?, groupId: String?, flag: String, environment: String,
        actor: String, reason: String? = nil
    ) async throws -> FeatureDefinition {
        guard percentage.isFinite, (0...100).contains(percentage) else {
            throw Refusal(.invalid, "invalid_percentage", "a rollout percentage is 0 to 100 (got \(percentage))")
        }
        let text = percentage.rounded() == percentage ? String(Int(percentage)) : String(percentage)
        return try await edit(flag, environment: environment, actor: actor, reason: reason) { feature in
            var strategy =
                feature.strategies.first { $0.name == "flexibleRollout" && $0.disabled != true }
                ?? StrategyDefinition(name: "flexibleRollout", parameters: ["stickiness": "default", "groupId": flag])
            strategy.parameters["rollout"] = text
            if let stickiness { strategy.parameters["stickiness"] = stickiness }
            if let groupId { strategy.parameters["groupId"] = groupId }
            if let index = feature.strategies.firstIndex(where: { $0.name == "flexibleRollout" && $0.disabled != true }) {
                feature.strategies[index] = strategy
            } else {
                feature.strategies.append(strategy)
            }
        }
    }

    public func delete(flag: String, environment: String, actor: String) async throws {
        try await change(environment: environment, actor: actor) { snapshot in
            guard snapshot.evaluator.contains(flag) else { throw Self.notFound(flag, environment) }
            return [.deleteFlag(flag)]
        }
    }

    /// Returns a flag to the state it had right after change `changeID` (absent, if that change deleted it).
    @discardableResult
    public func revert(flag: String, toChange changeID: Int64, environment: String, actor: String) async throws -> FeatureDefinition? {
        let history = try await store.flagChanges(environment: environment, target: .flag(flag))
        guard let target = history.first(where: { $0.id == changeID }) else {
            throw Refusal(.notFound, "change_not_found", "flag '\(flag)' in \(environment) has no change \(changeID); see its history")
        }
        let restored = try target.after.map { try JSONDecoder().decode(FeatureDefinition.self, from: Data($0.utf8)) }
        try await change(environment: environment, actor: actor) { _ in
            [restored.map(FlagMutation.putFlag) ?? .deleteFlag(flag)]
        }
        return restored
    }

    public func history(flag: String, environment: String) async throws -> [FlagChangeRecord] {
        let changes = try await store.flagChanges(environment: environment, target: .flag(flag))
        guard !changes.isEmpty else { throw Self.notFound(flag, environment) }
        return changes
    }

    /// Loads an Unleash export (the `/api/client/features` shape): every feature and segment is
    /// created or replaced; flags not in it are kept, or deleted with `prune`.
    @discardableResult
    public func importState(
        _ state: ClientFeatures, environment: String, actor: String, prune: Bool = false,
        documentProblems: [FlagProblem] = []
    ) async throws -> [FlagChangeRecord] {
        try Self.checkUniqueNames(state)
        return try await change(environment: environment, actor: actor) { snapshot in
            try Self.check(state.features, segments: state.segments ?? [], against: snapshot, documentProblems)
            let pruned = prune ? Self.missing(from: state, in: snapshot).map(FlagMutation.deleteFlag) : []
            return (state.segments ?? []).map(FlagMutation.putSegment) + state.features.map(FlagMutation.putFlag) + pruned
        }
    }

    /// Stored flags the state does not list, in stored order.
    private static func missing(from state: ClientFeatures, in snapshot: FlagSnapshot) -> [String] {
        let listed = Set(state.features.map(\.name))
        return snapshot.state.features.map(\.name).filter { !listed.contains($0) }
    }

    /// What `importState` would change, without changing anything; refused for the same problems.
    public func plan(
        _ state: ClientFeatures, environment: String, prune: Bool = false,
        documentProblems: [FlagProblem] = []
    ) async throws -> [PlannedChange] {
        try Self.checkUniqueNames(state)
        try FlagValidation.environment(environment)
        let current = try await snapshot(environment: environment)
        try Self.check(state.features, segments: state.segments ?? [], against: current, documentProblems)
        try FlagValidation.mutations(state.features.map(FlagMutation.putFlag))
        let segments = Dictionary((current.state.segments ?? []).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let segmentPlan = try (state.segments ?? []).map { segment in
            try Self.planned("segment \(segment.id)", before: segments[segment.id], after: segment)
        }
        let flagPlan = try state.features.map { feature in
            try Self.planned("flag \(feature.name)", before: current.evaluator.definition(of: feature.name), after: feature)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let prunePlan = try (prune ? Self.missing(from: state, in: current) : []).map { name in
            PlannedChange(
                target: "flag \(name)", action: .delete,
                before: try current.evaluator.definition(of: name).map { String(decoding: try encoder.encode($0), as: UTF8.self) }, after: nil)
        }
        return segmentPlan + flagPlan + prunePlan
    }

    private static func planned<T: Encodable & Equatable>(_ target: String, before: T?, after: T) throws -> PlannedChange {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let beforeJSON = try before.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let afterJSON = String(decoding: try encoder.encode(after), as: UTF8.self)
        let action: PlannedChange.Action = beforeJSON == nil ? .create : (beforeJSON == afterJSON ? .unchanged : .update)
        return PlannedChange(target: target, action: action, before: beforeJSON, after: afterJSON)
    }

    /// Refuses flags (and segments) about to be stored if the document or any definition has a problem.
    private static func check(
        _ features: [FeatureDefinition], segments: [Segment] = [], against snapshot: FlagSnapshot,
        _ documentProblems: [FlagProblem]
    ) throws {
        let stored = Set((snapshot.state.segments ?? []).map(\.id))
        try FlagValidation.refuse(documentProblems + FlagValidation.problems(features: features, segments: segments, storedSegmentIDs: stored))
    }

    private static func checkUniqueNames(_ state: ClientFeatures) throws {
        var seen = Set<String>()
        for feature in state.features where !seen.insert(feature.name).inserted {
            throw Refusal(.invalid, "duplicate_flag", "flag '\(feature.name)' appears twice")
        }
        var ids = Set<Int>()
        for segment in state.segments ?? [] where !ids.insert(segment.id).inserted {
            throw Refusal(.invalid, "duplicate_segment", "segment \(segment.id) appears twice")
        }
    }

    private func edit(
        _ flag: String, environment: String, actor: String, reason: String?,
        _ modify: @escaping @Sendable (inout FeatureDefinition) -> Void
    ) async throws -> FeatureDefinition {
        try await change(environment: environment, actor: actor, reason: reason) { snapshot in
            guard var feature = snapshot.evaluator.definition(of: flag) else { throw Self.notFound(flag, environment) }
            modify(&feature)
            return [.putFlag(feature)]
        }
        guard let feature = try await snapshot(environment: environment).evaluator.definition(of: flag) else { throw Self.notFound(flag, environment) }
        return feature
    }

    public static func notFound(_ flag: String, _ environment: String) -> Refusal {
        Refusal(.notFound, "flag_not_found", "no flag '\(flag)' in environment \(environment)")
    }
}
