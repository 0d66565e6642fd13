import ArgumentParser
import Foundation
import RipcordCore
import RipcordInsights
import RipcordWire

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

struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Rollback drills: roll out the stable version with a fault the router injects, and check Ripcord rolls it back in time.",
        subcommands: [DrillRunCommand.self, DrillHistoryCommand.self], defaultSubcommand: DrillRunCommand.self)
}

struct DrillRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Drill SERVICE now (`ripcord drill SERVICE` for short).",
        discussion: """
            The stable version is rolled out again through the service's own strategy and analysis, and the router corrupts the \
            candidate's traffic (errors, latency, cut-off connections) or Ripcord kills its processes (crash). Synthetic requests \
            reach the candidate while real ones are too few. The drill passes when Ripcord rolls it back by itself with traffic \
            back within the service's drill.maxTimeToRestore (default 5s) of the first request, and the stable version fails no \
            request meanwhile. A drill skips the service's hooks, declared flags and migrations, and rejects no version. \
            Prints the drill as it happens; exits 0 when it passed, 1 when it failed.
            """)

    @OptionGroup var options: ClientOptions
    @Argument var service: String
    @Option(help: "errors=PERCENT%, latency=+DURATION, abort, abort=PERCENT%, or crash (default: the service's drill.fault, errors=50%).")
    var fault: String?
    @Option(
        help: "Instead of drilling now, drill by itself every PERIOD (e.g. 7d; the first one PERIOD from now), or `off`. A failed drill notifies.")
    var schedule: String?

    func validate() throws {
        try validateServiceName(service)
        if let fault {
            do { _ = try InjectedFault(parsing: fault) } catch { throw ValidationError("\(error)") }
        }
        if let schedule, schedule != "off", (try? TimeSpan(parsing: schedule)).map({ $0 >= .seconds(1) }) != true {
            throw ValidationError("--schedule is a period of at least 1s, such as 7d or 12h, or off (got '\(schedule)')")
        }
    }

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            if schedule == "off" {
                let removed: Accepted = try await client.delete("/api/v1/services/\(service)/drill-schedule")
                return print(removed.message)
            }
            if let schedule {
                let set: DrillSchedule = try await client.put(
                    "/api/v1/services/\(service)/drill-schedule", body: DrillScheduleRequest(every: schedule, fault: fault))
                return print("\(service): a drill every \(set.every) (\(set.fault?.description ?? "the service's drill.fault")), the next at \(set.nextAt)")
            }
            let rollout: RolloutSummary = try await client.post("/api/v1/services/\(service)/drill", body: DrillRequest(fault: fault))
            print("drill of \(service) \(rollout.candidateVersion) started (rollout \(rollout.id))")
            let detail: RolloutDetail = try await client.get("/api/v1/rollouts/\(rollout.id)")
            var verdict: EventView?
            func show(_ event: EventView) -> Bool {
                guard event.rolloutID == rollout.id else { return false }
                print(TimelineFormat.line(event, evidence: event.kind == .drillPassed || event.kind == .drillFailed))
                if event.kind == .drillPassed || event.kind == .drillFailed { verdict = event }
                return verdict != nil
            }
            for event in detail.events where show(event) { break }
            if verdict == nil {
                let seen = detail.events.last?.id ?? 0
                struct Finished: Error {}
                do {
                    try await client.follow("/api/v1/events?service=\(service)", lastEventID: seen) { message in
                        guard let event = try? JSONDecoder().decode(EventView.self, from: Data(message.data.utf8)) else { return }
                        if show(event) { throw Finished() }
                    }
                } catch is Finished {}
            }
            guard verdict?.kind == .drillPassed else { throw ExitCode(1) }
        }
    }
}

struct DrillHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Every drill's verdict, newest first.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "One service (default: all).") var service: String?
    @Option(help: "text, or json (the verdicts as events).") var output: OutputFormat = .text

    func validate() throws { if let service { try validateServiceName(service) } }

    func run() async throws {
        try await reportingFailures {
            let client = try options.client()
            let verdicts: [EventView] = try await client.get("/api/v1/drills" + (service.map { "?service=\($0)" } ?? ""))
            if output == .json { return try printJSON(verdicts) }
            let schedules: [DrillSchedule] = try await client.get("/api/v1/drill-schedules")
            for schedule in schedules where service == nil || schedule.service == service {
                print("\(schedule.service): a drill every \(schedule.every) (\(schedule.fault?.description ?? "drill.fault")), the next at \(schedule.nextAt)")
            }
            if verdicts.isEmpty { print("no drill yet") }
            for verdict in verdicts {
                let passed = verdict.kind == .drillPassed ? "passed" : "FAILED"
                let facts = ["fault", "trigger", "timeToRestore", "budget"].compactMap { key in verdict.evidence[key].map { "\(key)=\($0)" } }
                print("\(verdict.at)  \(verdict.service)  \(passed)  \(facts.joined(separator: " "))  rollout \(verdict.rolloutID.map(String.init) ?? "-")")
                print("    \(verdict.evidence["reason"] ?? verdict.message)")
            }
        }
    }
}
