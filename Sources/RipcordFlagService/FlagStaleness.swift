import Foundation
import RipcordFlags

/// Whether a flag looks dead: no SDK has reported evaluating it for `days` days (or ever, since it
/// was created that long ago), or it has been on for everyone for `days` days — either way its
/// code path can probably be removed, and the flag with it.
public struct FlagStaleness: Codable, Sendable, Equatable {
    public enum Reason: String, Codable, Sendable {
        /// No SDK reported evaluating it within the period (`lastEvaluated`, or never since `createdAt`).
        case notEvaluated = "not-evaluated"
        /// On for everyone, unchanged in that respect since `fullyOnSince`.
        case fullyOn = "fully-on"
    }

    /// The period when none is asked for: about a month.
    public static let defaultDays = 30

    public var name: String
    public var stale: Bool
    public var reasons: [Reason]
    public var createdAt: ISO8601Date?
    public var lastEvaluated: ISO8601Date?
    public var fullyOnSince: ISO8601Date?

    /// Each flag of `features` judged at `now` over `days` days, from its change history (oldest
    /// first) and the SDKs' reports.
    public static func assess(
        _ features: [FeatureDefinition], history: [FlagChangeRecord], exposures: [ExposureCount],
        days: Int, now: Date
    ) -> [FlagStaleness] {
        let horizon = now.addingTimeInterval(-Double(days) * 86_400)
        let changes = Dictionary(grouping: history.filter { if case .flag = $0.target { true } else { false } }) { change -> String in
            if case .flag(let name) = change.target { return name }
            return ""
        }
        let seen = Dictionary(grouping: exposures, by: \.flag).compactMapValues { $0.compactMap(\.lastSeen).max() }
        return features.map { feature in
            let flagChanges = changes[feature.name] ?? []
            let created = flagChanges.first?.at
            let lastEvaluated = seen[feature.name]
            var reasons: [Reason] = []
            if let evaluated = lastEvaluated ?? created, evaluated <= horizon { reasons.append(.notEvaluated) }
            let fullyOnSince = isFullyOn(feature) ? fullyOnSince(flagChanges) : nil
            if let since = fullyOnSince, since <= horizon { reasons.append(.fullyOn) }
            return FlagStaleness(
                name: feature.name, stale: !reasons.isEmpty, reasons: reasons, createdAt: created.map(ISO8601Date.init),
                lastEvaluated: lastEvaluated.map(ISO8601Date.init), fullyOnSince: fullyOnSince.map(ISO8601Date.init))
        }
    }

    /// On for every context: switched on, and no active strategy, or one without constraints or
    /// segments that lets everyone in (`default`, or a rollout at 100 %).
    public static func isFullyOn(_ feature: FeatureDefinition) -> Bool {
        guard feature.enabled, (feature.dependencies ?? []).isEmpty else { return false }
        let active = feature.strategies.filter { $0.disabled != true }
        guard !feature.strategies.isEmpty else { return true }
        return active.contains { strategy in
            guard strategy.constraints.isEmpty, strategy.segments.isEmpty else { return false }
            switch strategy.name {
            case "default": return true
            case "flexibleRollout", "gradualRolloutUserId", "gradualRolloutSessionId", "gradualRolloutRandom":
                let percentage = strategy.parameters["rollout"] ?? strategy.parameters["percentage"]
                return percentage.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }.map { $0 >= 100 } ?? false
            default: return false
            }
        }
    }

    /// Since when the flag has been fully on without a break: the oldest change of the latest run of
    /// changes that each left it fully on.
    static func fullyOnSince(_ changes: [FlagChangeRecord]) -> Date? {
        var since: Date?
        for change in changes.reversed() {
            guard let after = change.after, let feature = try? JSONDecoder().decode(FeatureDefinition.self, from: Data(after.utf8)),
                isFullyOn(feature)
            else { break }
            since = change.at
        }
        return since
    }
}
