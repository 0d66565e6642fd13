import ArgumentParser
import Foundation
import RipcordAPI
import RipcordController
import RipcordCore

struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deploy", abstract: "Start a rollout of SERVICE to VERSION.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The service.") var service: String
    @Argument(help: "The Semantic Versioning 2.0.0 version to roll out.") var version: String
    @Flag(help: "Follow the rollout; exit 0 when promoted, 1 when rolled back.") var wait = false
    @Flag(help: "Deploy although some migrations have no undo script: a rollback would restore the code but not the schema.")
    var acceptAppOnlyRollback = false

    func validate() throws {
        try validateServiceName(service)
        do { _ = try SemanticVersion(parsing: version) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let request = DeployRequest(version: version, acceptAppOnlyRollback: acceptAppOnlyRollback ? true : nil)
            let rollout: RolloutSummary = try await client.post("/api/v1/services/\(service)/deploy", body: request)
            print("rollout \(rollout.id): \(service) \(rollout.stableVersion ?? "none") → \(rollout.candidateVersion) (\(rollout.strategy))")
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
        case "promoted":
            print("promoted: \(detail.rollout.service) \(detail.rollout.candidateVersion) is stable")
            return
        case "rolledBack":
            print("rolled back (\(detail.rollout.trigger ?? "?")): \(detail.rollout.reason ?? "")")
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
    @Flag(help: "Refresh every second until interrupted.") var watch = false

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            repeat {
                let statuses: [ServiceStatus] = if let service {
                    [try await client.get("/api/v1/services/\(service)")]
                } else {
                    try await client.get("/api/v1/services")
                }
                if watch { print("\u{1B}[2J\u{1B}[H", terminator: "") }
                for status in statuses { print(TimelineFormat.status(status)) }
                if watch { try await Task.sleep(for: .seconds(1)) }
            } while watch
        }
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
    static let configuration = CommandConfiguration(commandName: "promote", abstract: "Skip an indefinite pause (or, with --full, the rest of the steps).")

    @OptionGroup var options: ClientOptions
    @Argument var service: String
    func validate() throws { try validateServiceName(service) }
    @Flag(help: "Skip all remaining steps and promote now.") var full = false

    func run() async throws {
        try await send("promote", PromoteRequest(full: full), to: service, options: options)
    }
}

struct AbortCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "abort", abstract: "Roll the rollout in progress back now.")

    @OptionGroup var options: ClientOptions
    @Argument var service: String
    func validate() throws { try validateServiceName(service) }
    @Option(help: "Why (kept in the event trail).") var reason: String?

    func run() async throws {
        try await send("abort", AbortRequest(reason: reason), to: service, options: options)
    }
}

struct UndoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "undo", abstract: "Roll a promoted release back to an earlier revision.")

    @OptionGroup var options: ClientOptions
    @Argument var service: String
    func validate() throws { try validateServiceName(service) }
    @Option(name: .customLong("to-revision"), help: "The revision to return to (default: the one promoted before the current).") var toRevision: Int?
    @Flag(help: "Follow the undo until it finishes.") var wait = false

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let rollout: RolloutSummary = try await client.post("/api/v1/services/\(service)/undo", body: UndoRequest(toRevision: toRevision))
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

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let history: ServiceHistory = try await client.get("/api/v1/services/\(service)/history")
            print("\(history.service): stable revision \(history.stableRevision.map(String.init) ?? "none")")
            print("revisions:")
            for revision in history.revisions {
                let marker = revision.number == history.stableRevision ? "*" : " "
                print("  \(marker) \(revision.number)  \(revision.version)  \(revision.createdAt)  \(revision.note)")
            }
            print("rollouts (newest first):")
            for rollout in history.rollouts {
                print("  #\(rollout.id) \(rollout.kind) \(rollout.stableVersion ?? "none") → \(rollout.candidateVersion)  \(rollout.phase)"
                      + (rollout.trigger.map { "  [\($0)] \(rollout.reason ?? "")" } ?? ""))
                let detail: RolloutDetail = try await client.get("/api/v1/rollouts/\(rollout.id)")
                let decisive = events ? detail.events : detail.events.filter { TimelineFormat.decisiveKinds.contains($0.kind) }
                for event in decisive { print("      " + TimelineFormat.line(event, evidence: true)) }
            }
        }
    }
}
