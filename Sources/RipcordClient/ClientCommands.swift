import ArgumentParser
import Foundation
import RipcordCore
import RipcordWire

/// The commands that talk to a running Ripcord over its API, in the order `ripcord --help` lists them.
public enum ClientCommands {
    public static let all: [any ParsableCommand.Type] = [
        DeployCommand.self, StatusCommand.self, PromoteCommand.self, AbortCommand.self, PauseCommand.self, ResumeCommand.self, RetryCommand.self,
        RestartCommand.self, UndoCommand.self, HistoryCommand.self, VersionsCommand.self, UnrejectCommand.self,
        FlagsCommand.self, TokensCommand.self, ReleaseCommand.self, ReloadCommand.self, ReportCommand.self, PostmortemCommand.self,
        RunbookCommand.self, DrillCommand.self,
    ]
}

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running serve re-read its configuration file and apply its services without a restart (as SIGHUP does).",
        discussion:
            "New services open their front doors; removed ones drain and stop; changed ones use their new settings from their next rollout (deploy --config-changed rolls the running version out with them), and a moved front door rebinds. A file that does not validate is refused and the running configuration stays. Top-level settings (api, stateDirectory, traffic, router, notifications) wait for a restart."
    )

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingFailures {
            let summary: ReloadSummary = try await options.client().post("/api/v1/reload", body: Optional<String>.none)
            let parts = [("added", summary.added), ("removed", summary.removed), ("changed", summary.changed)].filter { !$0.1.isEmpty }
            print(parts.isEmpty ? "reloaded: no service changed" : "reloaded: " + parts.map { "\($0.0) \($0.1.joined(separator: ", "))" }.joined(separator: "; "))
            if !summary.needsRestart.isEmpty {
                print("not applied until serve restarts: \(summary.needsRestart.joined(separator: ", "))")
            }
        }
    }
}

struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deploy", abstract: "Start a rollout of SERVICE to VERSION.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The service.") var service: String
    @Argument(help: "The Semantic Versioning 2.0.0 version to roll out (with --config-changed: the stable one, the default).") var version: String?
    @Flag(help: "Follow the rollout; exit 0 when promoted, 1 when rolled back.") var wait = false
    @Flag(help: "Deploy although some migrations have no undo script: a rollback would restore the code but not the schema.")
    var acceptAppOnlyRollback = false
    @Flag(
        help:
            "Deploy a version that was rejected (rolled back for a reason that blames it). Skips only that refusal: the strategy and its analysis still judge it; the events record who forced it."
    )
    var force = false
    @Flag(
        help:
            "Roll out the stable version again with the service's configuration as `serve` loaded it (run, environment, instances), through the strategy and its analysis like a new version."
    )
    var configChanged = false

    func validate() throws {
        try validateServiceName(service)
        guard let version else {
            guard configChanged else { throw ValidationError("a VERSION is needed (or --config-changed)") }
            return
        }
        do { _ = try SemanticVersion(parsing: version) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            var target = version
            if target == nil {
                let status: ServiceStatus = try await client.get("/api/v1/services/\(service)")
                target = status.stableVersion
            }
            guard let target else { throw ValidationError("\(service) has no stable version to reconfigure") }
            let request = DeployRequest(
                version: target, acceptAppOnlyRollback: acceptAppOnlyRollback ? true : nil, force: force ? true : nil,
                configChanged: configChanged ? true : nil)
            let rollout: RolloutSummary = try await client.post("/api/v1/services/\(service)/deploy", body: request)
            print(
                "rollout \(rollout.id): \(service) \(rollout.stableVersion ?? "none") → \(rollout.candidateVersion)\(configChanged ? " with the new configuration" : "") (\(rollout.strategy))"
            )
            if wait { try await follow(rollout: rollout.id, client: client) }
        }
    }
}

/// Refuses a service name the API would refuse, before it is put in a request path.
func validateServiceName(_ name: String) throws {
    guard ServiceSpec.isValidName(name) else {
        throw ValidationError("'\(name)' is not a service name (1 to 63 lowercase letters, digits and dashes)")
    }
}

/// The options and SERVICE argument of the commands that act on one service.
struct ServiceTarget: ParsableArguments {
    @OptionGroup var options: ClientOptions
    @Argument(help: "The service.") var service: String

    func validate() throws { try validateServiceName(service) }
}

/// Prints a rollout's events as they happen and exits by its outcome.
func follow(rollout id: Int64, client: APIClient) async throws {
    var shown = Set<Int64>()
    while true {
        let detail: RolloutDetail = try await client.get("/api/v1/rollouts/\(id)")
        for event in detail.events where !shown.contains(event.id) {
            shown.insert(event.id)
            print(TimelineFormat.line(event))
        }
        switch detail.rollout.phase {
        case .promoted:
            print("promoted: \(detail.rollout.service) \(detail.rollout.candidateVersion) is stable")
            return
        case .rolledBack:
            print("rolled back (\(detail.rollout.trigger?.rawValue ?? "?")): \(detail.rollout.reason ?? "")")
            throw ExitCode(1)
        default:
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show services, their versions and rollouts.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "One service (default: all).") var service: String?

    func validate() throws { if let service { try validateServiceName(service) } }
    @Flag(help: "Show each change as it happens (the API's event stream) until interrupted.") var watch = false
    @Option(help: "text, or json (the API's ServiceStatus list, one document per refresh).") var output: OutputFormat = .text

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            try await show(client, latest: nil)
            guard watch else { return }
            // Redrawn on each stored event; a dropped stream is resumed after the last event seen.
            var lastSeen: Int64?
            while true {
                do {
                    try await client.follow(
                        "/api/v1/events" + (service.map { "?service=\($0)" } ?? ""), lastEventID: lastSeen
                    ) { event in
                        lastSeen = event.id.flatMap { Int64($0) } ?? lastSeen
                        try await show(client, latest: try? JSONDecoder().decode(EventView.self, from: Data(event.data.utf8)))
                    }
                } catch let failure as APIClient.Failure where failure.status != 0 {
                    throw failure
                } catch {
                    try await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    private func show(_ client: APIClient, latest: EventView?) async throws {
        let statuses: [ServiceStatus] =
            if let service {
                [try await client.get("/api/v1/services/\(service)")]
            } else {
                try await client.get("/api/v1/services")
            }
        if output == .json {
            try printJSON(statuses)
            return
        }
        // Clearing the screen is for a terminal; piped, each refresh simply follows the last.
        if watch && isatty(STDOUT_FILENO) == 1 { print("\u{1B}[2J\u{1B}[H", terminator: "") }
        if let leadership = try? await client.get("/api/v1/leader", as: LeadershipView.self), let line = TimelineFormat.leadership(leadership) {
            print(line)
        }
        for status in statuses { print(TimelineFormat.status(status)) }
        if let latest { print("latest: \(TimelineFormat.line(latest))") }
    }
}

/// Posts a command to a service's rollout and prints the API's answer.
func send<Body: Encodable>(_ command: String, _ body: Body, to service: String, options: ClientOptions) async throws {
    try await reportingFailures {
        let accepted: Accepted = try await options.client().post("/api/v1/services/\(service)/\(command)", body: body)
        print(accepted.message)
    }
}

struct PromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote", abstract: "End the current pause and go on to the next step (its analysis still gates).",
        discussion:
            "Skips only the pause the rollout is in (timed or indefinite); refused during an analysis step. A blue-green rollout in preview switches. With --full, every remaining step and its analysis is skipped and the candidate takes all traffic now; the events record that analysis was skipped."
    )

    @OptionGroup var target: ServiceTarget
    @Flag(help: "Skip every remaining step and its analysis: all traffic to the candidate now.") var full = false

    func run() async throws {
        try await send("promote", PromoteRequest(full: full), to: target.service, options: target.options)
    }
}

struct AbortCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "abort", abstract: "Roll the rollout in progress back now.")

    @OptionGroup var target: ServiceTarget
    @Option(help: "Why (kept in the event trail).") var reason: String?

    func run() async throws {
        try await send("abort", AbortRequest(reason: reason), to: target.service, options: target.options)
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Hold the rollout where it is until `ripcord resume`.",
        discussion: "Traffic stays as it is; no step, pause or deadline moves the rollout on. Analysis keeps judging and can still roll it back. `promote` and `abort` still work.")

    @OptionGroup var target: ServiceTarget
    @Option(help: "Why (kept in the event trail).") var reason: String?

    func run() async throws {
        try await send("pause", AbortRequest(reason: reason), to: target.service, options: target.options)
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Go on with a rollout held by `ripcord pause`, where it stopped.")

    @OptionGroup var target: ServiceTarget

    func run() async throws {
        try await send("resume", [String: String](), to: target.service, options: target.options)
    }
}

struct RestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart", abstract: "Replace the stable instances one by one, each fresh one healthy before an old one leaves.",
        discussion:
            "The same version and configuration; no rollout and no analysis. Stops, with the remaining old instances serving, if a fresh instance is not healthy within startupDeadline."
    )

    @OptionGroup var target: ServiceTarget

    func run() async throws {
        try await send("restart", [String: String](), to: target.service, options: target.options)
    }
}

struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Run an aborted rollout's version again, through the whole strategy.",
        discussion: "Only after an abort: a version rolled back for any other reason is rejected (see `ripcord versions`).")

    @OptionGroup var target: ServiceTarget
    @Flag(help: "Follow the rollout; exit 0 when promoted, 1 when rolled back.") var wait = false

    func run() async throws {
        try await reportingFailures {
            let client = try target.options.client()
            let rollout: RolloutSummary = try await client.post("/api/v1/services/\(target.service)/retry", body: Optional<String>.none)
            print("rollout \(rollout.id): \(target.service) \(rollout.stableVersion ?? "none") → \(rollout.candidateVersion) (retry)")
            if wait { try await follow(rollout: rollout.id, client: client) }
        }
    }
}

struct UndoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undo", abstract: "Return to an earlier promoted revision, through the service's strategy and analysis.",
        discussion:
            "The undo is a new rollout whose candidate is the old version: it goes through the strategy's steps and analysis unless --instant. Only a revision that was promoted may be the target; --force also allows one that was never promoted or whose version is rejected (then never instantly)."
    )

    @OptionGroup var options: ClientOptions
    @Argument var service: String
    func validate() throws { try validateServiceName(service) }
    @Option(name: .customLong("to-revision"), help: "The revision to return to (default: the one promoted before the current).") var toRevision: Int?
    @Flag(help: "Switch all traffic at once, skipping the strategy's steps and analysis (for emergencies).") var instant = false
    @Flag(help: "Allow a target that was never promoted or is rejected (it still goes through analysis).") var force = false
    @Flag(help: "Follow the undo until it finishes.") var wait = false

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let request = UndoRequest(toRevision: toRevision, instant: instant ? true : nil, force: force ? true : nil)
            let rollout: RolloutSummary = try await client.post("/api/v1/services/\(service)/undo", body: request)
            print("rollout \(rollout.id): undo \(service) \(rollout.stableVersion ?? "none") → \(rollout.candidateVersion) (revision \(rollout.revision))")
            if wait { try await follow(rollout: rollout.id, client: client) }
        }
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Revisions and rollouts of SERVICE, with outcome and reason.")

    @OptionGroup var options: ClientOptions
    @Argument var service: String
    func validate() throws { try validateServiceName(service) }
    @Flag(help: "Show every event of every rollout, not only the decisions.") var events = false
    @Option(help: "Only this rollout.") var rollout: Int64?
    @Option(help: "At most this many rollouts, newest first.") var limit: Int = 20
    @Option(help: "text, or json ({history, rollouts: [RolloutDetail], serviceEvents}).") var output: OutputFormat = .text

    struct Document: Encodable {
        var history: ServiceHistory
        var rollouts: [RolloutDetail]
        var serviceEvents: [EventView]
    }

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let history: ServiceHistory = try await client.get("/api/v1/services/\(service)/history")
            let chosen = history.rollouts.filter { rollout == nil || $0.id == rollout }.prefix(max(0, limit))
            var details: [RolloutDetail] = []
            for summary in chosen { details.append(try await client.get("/api/v1/rollouts/\(summary.id)")) }
            // What happened to the service outside any rollout: restarts, adopted instances, rejections cleared.
            let serviceEvents = try await client.get("/api/v1/services/\(service)/events?limit=5000", as: [EventView].self).filter { $0.rolloutID == nil }
            if output == .json { return try printJSON(Document(history: history, rollouts: details, serviceEvents: serviceEvents)) }
            print("\(history.service): stable revision \(history.stableRevision.map(String.init) ?? "none")")
            print("revisions:")
            for revision in history.revisions {
                let marker = revision.number == history.stableRevision ? "*" : " "
                print("  \(marker) \(revision.number)  \(revision.version)  \(revision.createdAt)  \(revision.outcome ?? "not rolled out")  \(revision.note)")
            }
            print("rollouts (newest first):")
            for detail in details {
                let rollout = detail.rollout
                print(
                    "  #\(rollout.id) \(rollout.kind) \(rollout.stableVersion ?? "none") → \(rollout.candidateVersion)  \(rollout.phase)"
                        + (rollout.trigger.map { "  [\($0)] \(rollout.reason ?? "")" } ?? ""))
                let decisive = events ? detail.events : detail.events.filter { TimelineFormat.decisiveKinds.contains($0.kind) }
                for event in decisive { print("      " + TimelineFormat.line(event, evidence: true)) }
            }
            if !serviceEvents.isEmpty {
                print("service events (restarts, adopted instances, outside any rollout):")
                for event in serviceEvents.suffix(events ? serviceEvents.count : 20) { print("  " + TimelineFormat.line(event)) }
            }
        }
    }
}

struct VersionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "versions", abstract: "Versions of SERVICE, how their last rollout ended, and which are rejected.")

    @OptionGroup var target: ServiceTarget
    @Option(help: "text, or json (the API's list).") var output: OutputFormat = .text

    func run() async throws {
        try await reportingFailures {
            let versions: [VersionOutcome] = try await target.options.client().get("/api/v1/services/\(target.service)/versions")
            if output == .json { return try printJSON(versions) }
            for version in versions {
                print(
                    "\(version.version)  \(version.outcome)  rollout \(version.rolloutID.map(String.init) ?? "-")  \(version.at ?? "")"
                        + (version.rejected.map { "  REJECTED by \($0)" } ?? ""))
            }
        }
    }
}

struct UnrejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unreject", abstract: "Let a rejected VERSION of SERVICE be deployed again without --force.")

    @OptionGroup var target: ServiceTarget
    @Argument var version: String

    /// Checked here like deploy's: the version goes into the request's path.
    func validate() throws {
        do { _ = try SemanticVersion(parsing: version) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        try await reportingFailures {
            let accepted: Accepted = try await target.options.client().delete("/api/v1/services/\(target.service)/rejections/\(version)")
            print(accepted.message)
        }
    }
}
