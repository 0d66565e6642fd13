import RipcordCore

/// `ripcord runbook SERVICE`: the service's rollback procedure, generated from its configuration and
/// state so it is never out of date — who to call, the exact commands, its flags' kill switches, its
/// schema's undo state, the services it ships with, and how its last drill went.
public struct Runbook: Sendable, Codable, Equatable {
    public var service: String
    public var owners: [ServiceOwner]
    public var stableVersion: String?
    public var stableRevision: Int?
    /// The revision `ripcord undo` returns to, and its version.
    public var previousRevision: Int?
    public var previousVersion: String?
    public var rolloutInProgress: String?
    public var rejectedVersions: [String]
    public var steps: [Step]
    public var flags: [FlagSwitchLine]
    public var migrations: [MigrationState]
    /// Services released together with this one (from its releases), with the releases' ids.
    public var partners: [String]
    public var releases: [Int64]
    public var lastDrill: DrillResult?

    /// One thing to do, the exact command, and what it does (and skips).
    public struct Step: Sendable, Codable, Equatable {
        public var when: String
        public var command: String
        public var effect: String
    }

    public struct FlagSwitchLine: Sendable, Codable, Equatable {
        public var flag: String
        public var environment: String
        public var killSwitch: String
    }

    /// A schema script as the last rollout left it.
    public struct MigrationState: Sendable, Codable, Equatable {
        public var script: String
        /// applied, or undone.
        public var state: String
        public var at: Moment
    }

    public struct DrillResult: Sendable, Codable, Equatable {
        public var at: Moment
        public var passed: Bool
        public var summary: String

        public init(at: Moment, passed: Bool, summary: String) {
            self.at = at
            self.passed = passed
            self.summary = summary
        }
    }

    public struct State: Sendable {
        public var stable: Revision?
        public var previous: Revision?
        public var rolloutInProgress: Rollout?
        public var rejected: [String]
        /// The service's migration events, oldest first.
        public var migrationEvents: [Event]
        public var releases: [Release]
        public var lastDrill: DrillResult?

        public init(
            stable: Revision?, previous: Revision?, rolloutInProgress: Rollout?, rejected: [String], migrationEvents: [Event], releases: [Release],
            lastDrill: DrillResult?
        ) {
            self.stable = stable
            self.previous = previous
            self.rolloutInProgress = rolloutInProgress
            self.rejected = rejected
            self.migrationEvents = migrationEvents
            self.releases = releases
            self.lastDrill = lastDrill
        }
    }

    public init(spec: ServiceSpec, state: State) {
        let name = spec.name
        service = name
        owners = spec.owners
        stableVersion = state.stable?.version.description
        stableRevision = state.stable?.number
        previousRevision = state.previous?.number
        previousVersion = state.previous?.version.description
        rolloutInProgress = state.rolloutInProgress.map { "\($0.kind.rawValue) to \($0.candidateVersion): \($0.phase.rawValue) at \($0.candidateWeight)%" }
        rejectedVersions = state.rejected
        flags = spec.flags.map { FlagSwitchLine(flag: $0.name, environment: $0.environment, killSwitch: "ripcord flags disable \($0.name) --environment \($0.environment)") }
        var scripts: [String: MigrationState] = [:]
        for event in state.migrationEvents where event.kind == .migrationApplied || event.kind == .migrationUndone {
            let script = event.evidence["script"] ?? event.message
            scripts[script] = MigrationState(script: script, state: event.kind == .migrationApplied ? "applied" : "undone", at: event.at)
        }
        migrations = scripts.values.sorted { $0.script < $1.script }
        let together = state.releases.filter { $0.members.contains { $0.service == name } }
        releases = together.map(\.id)
        partners = Array(Set(together.flatMap(\.members).map(\.service)).subtracting([name])).sorted()
        lastDrill = state.lastDrill
        steps = Self.steps(spec: spec, state: state, partners: !partners.isEmpty)
    }

    private static func steps(spec: ServiceSpec, state: State, partners: Bool) -> [Step] {
        let name = spec.name
        let stable = state.stable.map { "\($0.version) (revision \($0.number))" } ?? "the stable version"
        var steps = [
            Step(when: "See what is happening", command: "ripcord status \(name) --watch", effect: "phase, weights and every event as it is recorded"),
            Step(
                when: "A rollout is in progress and the new version misbehaves", command: "ripcord abort \(name) --reason \"…\"",
                effect: "all traffic back to \(stable) first, then the candidate's instances stop"
                    + (spec.flags.isEmpty ? "" : ", its declared flags turn off") + (spec.migrations == nil ? "" : ", its schema changes are undone")
                    + "; the version is rejected until `ripcord unreject`"),
            Step(
                when: "Hold a rollout while you look (analysis keeps judging and can still roll back)", command: "ripcord pause \(name)",
                effect: "no step is taken until `ripcord resume \(name)`"),
        ]
        if let previous = state.previous {
            steps.append(
                Step(
                    when: "The promoted version misbehaves", command: "ripcord undo \(name)",
                    effect: "returns to \(previous.version) (revision \(previous.number)) through the strategy and analysis"))
            steps.append(
                Step(
                    when: "…and every minute counts", command: "ripcord undo \(name) --instant",
                    effect: "all traffic to \(previous.version) at once; skips the strategy's steps and the analysis"))
        } else {
            steps.append(Step(when: "The promoted version misbehaves", command: "ripcord undo \(name) --to-revision N", effect: "no earlier promoted revision is recorded yet"))
        }
        if partners {
            steps.append(
                Step(when: "It shipped in a release", command: "ripcord release undo", effect: "returns every service of the latest release to its previous revision, as one unit"))
        }
        steps.append(Step(when: "Afterwards", command: "ripcord postmortem ROLLOUT", effect: "an incident report drafted from the events"))
        return steps
    }

    public func markdown() -> String {
        var out = "# Runbook: \(service)\n\n## Owners\n\n"
        out += owners.isEmpty ? "_None configured: add `owners: [{ name, contact }]` to the service in ripcord.yaml._\n" : owners.map { "- \($0.name) — \($0.contact)\n" }.joined()
        out += "\n## Now\n\n- stable: \(stableVersion.map { "\($0) (revision \(stableRevision ?? 0))" } ?? "none")\n"
        out += "- rollback target (`ripcord undo`): \(previousVersion.map { "\($0) (revision \(previousRevision ?? 0))" } ?? "none")\n"
        out += "- rollout in progress: \(rolloutInProgress ?? "none")\n"
        out += "- rejected versions: \(rejectedVersions.isEmpty ? "none" : rejectedVersions.joined(separator: ", "))\n"
        out += "\n## Rolling back by hand\n\n| when | command | what it does |\n|---|---|---|\n"
        for step in steps { out += "| \(step.when) | `\(step.command)` | \(step.effect) |\n" }
        out += "\n## Flags and their kill switches\n\n"
        out += flags.isEmpty ? "None declared.\n" : flags.map { "- `\($0.flag)` (\($0.environment)): `\($0.killSwitch)`\n" }.joined()
        out += "\n## Schema migrations\n\n"
        out += migrations.isEmpty ? "None run by Ripcord.\n" : migrations.map { "- \($0.script): \($0.state) at \($0.at)\n" }.joined()
        out += "\n## Released together with\n\n"
        out += partners.isEmpty ? "No release names this service.\n" : "\(partners.joined(separator: ", ")) (releases \(releases.map(String.init).joined(separator: ", ")))\n"
        out += "\n## Last drill\n\n"
        out += lastDrill.map { "\($0.passed ? "passed" : "FAILED") at \($0.at): \($0.summary)\n" } ?? "No drill yet: `ripcord drill \(service)`.\n"
        return out
    }
}
