import ArgumentParser
import Foundation
import RipcordConfig
import RipcordCore
import RipcordWire

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release", abstract: "Roll several services out, and back, as one unit.",
        subcommands: [
            ReleaseApplyCommand.self, ReleaseStatusCommand.self, ReleaseHistoryCommand.self, ReleaseUndoCommand.self,
            ReleasePromoteCommand.self, ReleaseAbortCommand.self,
        ])
}

struct ReleaseApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Start the release a manifest describes.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The release manifest (YAML).") var manifest: String
    @Flag(help: "Follow the release; exit 0 when promoted, 1 when rolled back.") var wait = false
    @Flag(help: "Release although some migrations have no undo script: a rollback would restore the code but not the schema.")
    var acceptAppOnlyRollback = false

    func run() async throws {
        try await reportingFailures {
            let parsed = try ReleaseManifestLoader.load(file: manifest)
            let client = try options.client()
            let detail: ReleaseDetail = try await client.post(
                "/api/v1/releases", body: ReleaseRequest(manifest: parsed, acceptAppOnlyRollback: acceptAppOnlyRollback ? true : nil))
            print(ReleaseFormat.headline(detail))
            if wait { try await followRelease(detail.release.id, client: client) }
        }
    }
}

struct ReleaseStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "A release's services, their rollouts and events (default: the latest).")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The release id.") var id: Int64?
    @Option(help: "text, or json (the API's ReleaseDetail).") var output: OutputFormat = .text

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let detail: ReleaseDetail = try await client.get("/api/v1/releases/\(try await resolve(id, client: client))")
            if output == .json { return try printJSON(detail) }
            print(ReleaseFormat.headline(detail))
            for member in detail.members { print("  " + ReleaseFormat.member(member)) }
            print("events:")
            for event in detail.events { print("  " + TimelineFormat.line(event, evidence: TimelineFormat.decisiveKinds.contains(event.kind))) }
        }
    }
}

struct ReleaseHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Releases, newest first, with outcome and cause.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingFailures {
            let releases: [ReleaseSummary] = try await options.client().get("/api/v1/releases")
            for release in releases { print(ReleaseFormat.summary(release)) }
        }
    }
}

struct ReleaseUndoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undo", abstract: "Return every service of a promoted release (default: the latest) to its previous revision, as one unit.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The release id.") var id: Int64?
    @Flag(help: "Follow the undo until it finishes.") var wait = false

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let path = id.map { "/api/v1/releases/\($0)/undo" } ?? "/api/v1/releases/undo"
            let detail: ReleaseDetail = try await client.post(path, body: [String: String]())
            print(ReleaseFormat.headline(detail))
            if wait { try await followRelease(detail.release.id, client: client) }
        }
    }
}

struct ReleasePromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "promote", abstract: "End an indefinite pause step for every service of a running release.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The release id.") var id: Int64

    func run() async throws {
        try await reportingFailures {
            let accepted: Accepted = try await options.client().post("/api/v1/releases/\(id)/promote", body: [String: String]())
            print(accepted.message)
        }
    }
}

struct ReleaseAbortCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "abort", abstract: "Roll every service of a running release back now.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The release id.") var id: Int64
    @Option(help: "Why (kept in the event trail).") var reason: String?

    func run() async throws {
        try await reportingFailures {
            let accepted: Accepted = try await options.client().post("/api/v1/releases/\(id)/abort", body: AbortRequest(reason: reason))
            print(accepted.message)
        }
    }
}

/// The given release id, or the latest release's.
private func resolve(_ id: Int64?, client: APIClient) async throws -> Int64 {
    if let id { return id }
    let releases: [ReleaseSummary] = try await client.get("/api/v1/releases?limit=1")
    guard let latest = releases.first else { throw ValidationError("there is no release yet") }
    return latest.id
}

/// Prints the release's events as they happen and exits by its outcome.
private func followRelease(_ id: Int64, client: APIClient) async throws {
    var shown = Set<Int64>()
    while true {
        let detail: ReleaseDetail = try await client.get("/api/v1/releases/\(id)")
        for event in detail.events where !shown.contains(event.id) {
            shown.insert(event.id)
            print("\(event.service.padding(toLength: 12, withPad: " ", startingAt: 0)) " + TimelineFormat.line(event))
        }
        switch detail.release.phase {
        case .promoted:
            print("promoted: \(detail.release.services.joined(separator: ", "))")
            return
        case .rolledBack:
            print("rolled back: \(detail.release.causeService ?? "?") (\(detail.release.causeTrigger?.rawValue ?? "?")): \(detail.release.reason ?? "")")
            throw ExitCode(1)
        default:
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

enum ReleaseFormat {
    static func headline(_ detail: ReleaseDetail) -> String {
        summary(detail.release)
    }

    static func summary(_ release: ReleaseSummary) -> String {
        let cause = release.causeService.map { "  [\($0): \(release.causeTrigger?.rawValue ?? "?")] \(release.reason ?? "")" } ?? ""
        let undoes = release.undoes.map { " (undoes release \($0))" } ?? ""
        return "release \(release.id) \(release.name)\(undoes): \(release.phase)  \(release.services.joined(separator: ", "))\(cause)"
    }

    static func member(_ member: ReleaseMemberStatus) -> String {
        let from = member.previousVersion.map { "\($0) → " } ?? ""
        guard let rollout = member.rollout else { return "\(member.service) \(from)\(member.version)" }
        let step = rollout.step.map { " step \($0)/\(rollout.steps ?? 0)" } ?? ""
        let waiting = rollout.waitingFor.map { ", waiting \($0)" } ?? ""
        let trigger = rollout.trigger.map { "  [\($0)] \(rollout.reason ?? "")" } ?? ""
        return "\(member.service) \(from)\(member.version): rollout \(rollout.id) \(rollout.phase)\(step) at \(rollout.candidateWeight)%\(waiting)\(trigger)"
    }
}
