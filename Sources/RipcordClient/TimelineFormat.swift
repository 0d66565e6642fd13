import ArgumentParser
import Foundation
import RipcordCore
import RipcordWire

/// How events and statuses read on a terminal.
enum TimelineFormat {
    static let decisiveKinds: Set<EventKind> = [
        .rolloutStarted, .rolloutPromoted, .rolloutRolledBack, .rolloutResumed, .bluegreenSwitched, .stepPromoted,
        .releaseStarted, .releasePromoted, .releaseRolledBack,
    ]

    static func line(_ event: EventView, evidence: Bool = false) -> String {
        let time = event.at.count > 23 ? String(event.at.dropFirst(11).prefix(12)) : event.at
        // Who asked comes before the message, so a line still ends with it.
        let kind = event.kind.rawValue
        var text = "\(time)  \(kind.padding(toLength: max(22, kind.count), withPad: " ", startingAt: 0)) \(event.actor.map { "by \($0): " } ?? "")\(event.message)"
        if evidence, !event.evidence.isEmpty {
            text += "\n" + event.evidence.sorted { $0.key < $1.key }.map { "          \($0.key)=\($0.value)" }.joined(separator: "\n")
        }
        return text
    }

    /// Which controller leads, for controllers sharing a store (nil for a controller alone).
    static func leadership(_ view: LeadershipView) -> String? {
        guard view.role != "single" else { return nil }
        guard let leader = view.leader else { return "controllers: none leads right now (asked \(view.me), which stands by)" }
        let since = view.since.map { " since \($0)" } ?? ""
        let asked = view.role == "leader" ? "" : " (asked \(view.me), which stands by)"
        return "controllers: \(leader) leads, term \(view.term ?? 0)\(since), at \(view.leaderURL ?? "?")\(asked)"
    }

    static func status(_ status: ServiceStatus) -> String {
        var lines = ["\(status.name)  front door \(status.listen)" + (status.previewListen.map { "  preview \($0)" } ?? "")]
        lines.append("  stable:    \(status.stableVersion ?? "none") (revision \(status.stableRevision.map(String.init) ?? "-"), \(status.stableInstances.count) instances)")
        for instance in status.stableInstances { lines.append("             \(instance.address) pid \(instance.pid)") }
        if let rollout = status.rollout {
            let step = rollout.step.map { " step \($0)/\(rollout.steps ?? 0)" } ?? ""
            lines.append(
                "  rollout:   #\(rollout.id) \(rollout.kind) → \(rollout.candidateVersion)  \(rollout.phase)\(step)  weight \(rollout.candidateWeight)%"
                    + (rollout.currentStep.map { "  (\($0))" } ?? "") + (rollout.trigger.map { "  [\($0)] \(rollout.reason ?? "")" } ?? ""))
            if let evidence = rollout.evidence { lines.append("             \(evidence)") }
            if let synthetic = rollout.syntheticRequests { lines.append("             \(synthetic) synthetic requests sent to the candidate") }
        }
        if let candidate = status.candidateVersion {
            lines.append("  candidate: \(candidate) (\(status.candidateInstances.count) instances)")
            for instance in status.candidateInstances { lines.append("             \(instance.address) pid \(instance.pid)") }
        }
        if !status.baselineInstances.isEmpty {
            lines.append("  baseline:  \(status.stableVersion ?? "?") (\(status.baselineInstances.count) fresh instances, the candidate's share)")
            for instance in status.baselineInstances { lines.append("             \(instance.address) pid \(instance.pid)") }
        }
        return lines.joined(separator: "\n")
    }
}

/// `--output text|json` of the commands whose output a pipeline may read.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
