import ArgumentParser
import Foundation
import RipcordCore
import RipcordInsights

/// How a report or post-mortem is printed.
enum DocumentFormat: String, ExpressibleByArgument, CaseIterable {
    case md, json, csv
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Delivery and rollback analytics from Ripcord's history (DORA's four keys, rollbacks by trigger and metric, drills).",
        discussion: """
            Deployment frequency (promotions per day), change failure rate (rollbacks other than aborts over promotions plus those \
            rollbacks), time to detect (first request to the candidate → rollback decision) and time to restore (first request → \
            all traffic back), per service with the most rollbacks first, and week over week. Drills are counted apart.
            """)

    @OptionGroup var options: ClientOptions
    @Option(help: "How far back: rollouts that started in this period (e.g. 7d, 30d, 12h).") var since = "30d"
    @Option(help: "Only this service.") var service: String?
    @Option(help: "md (a table to paste), json (the API's DeploymentReport), or csv (a row per service).") var format: DocumentFormat = .md

    func validate() throws {
        if let service { try validateServiceName(service) }
        guard (try? TimeSpan(parsing: since)).map({ $0 > .zero }) == true else {
            throw ValidationError("--since is a period such as 7d, 30d or 12h (got '\(since)')")
        }
    }

    func run() async throws {
        try await reportingFailures {
            var path = "/api/v1/report?since=\(since)"
            if let service { path += "&service=\(service)" }
            let report: DeploymentReport = try await options.client().get(path)
            switch format {
            case .md: print(report.markdown(), terminator: "")
            case .csv: print(report.csv(), terminator: "")
            case .json: try printJSON(report)
            }
        }
    }
}

struct PostmortemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postmortem",
        abstract: "An incident report of a rollout or a release, drafted from its events, ready to paste.",
        discussion: """
            SUBJECT is a rollout id (12, or rollout/12) or a release (release/3). The report holds the summary, the impact (requests \
            the failed version answered, and how many failed, by the router's count), the timeline, the detection (which judge, which \
            measurements), what was undone (traffic, instances, flags, schema, partner services) and who acted; root cause and \
            follow-ups are left for the team.
            """)

    @OptionGroup var options: ClientOptions
    @Argument(help: "A rollout id (12, rollout/12) or a release (release/3).") var subject: String
    @Option(help: "md, or json (the API's Postmortem).") var format: DocumentFormat = .md

    func validate() throws {
        _ = try path()
        guard format != .csv else { throw ValidationError("a post-mortem is md or json") }
    }

    private func path() throws -> String {
        let parts = subject.split(separator: "/", omittingEmptySubsequences: false)
        let kind = parts.count == 2 ? String(parts[0]) : "rollout"
        guard let id = parts.last.flatMap({ Int64($0) }), id > 0, parts.count <= 2, kind == "rollout" || kind == "release" else {
            throw ValidationError("'\(subject)' is not a rollout id (12, rollout/12) or a release (release/3)")
        }
        return "/api/v1/\(kind)s/\(id)/postmortem"
    }

    func run() async throws {
        try await reportingFailures {
            let postmortem: Postmortem = try await options.client().get(try path())
            if format == .json { return try printJSON(postmortem) }
            print(postmortem.markdown(), terminator: "")
        }
    }
}

struct RunbookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runbook",
        abstract: "The service's rollback procedure, generated from its configuration and state: owners, exact commands, flags, schema, partners, last drill.")

    @OptionGroup var options: ClientOptions
    @Argument var service: String
    @Option(help: "md, or json (the API's Runbook).") var format: DocumentFormat = .md

    func validate() throws {
        try validateServiceName(service)
        guard format != .csv else { throw ValidationError("a runbook is md or json") }
    }

    func run() async throws {
        try await reportingFailures {
            let runbook: Runbook = try await options.client().get("/api/v1/services/\(service)/runbook")
            if format == .json { return try printJSON(runbook) }
            print(runbook.markdown(), terminator: "")
        }
    }
}
