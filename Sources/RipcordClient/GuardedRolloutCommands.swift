import ArgumentParser
import Foundation
import RipcordConfig
import RipcordCore
import RipcordWire

struct FlagsGuard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard",
        abstract: "Roll a flag out in steps while a service's traffic is analysed; a regression turns the flag off.",
        discussion: """
            Each step holds its percentage for --step-duration and needs a passing analysis window of the service's traffic \
            before the next. The analysis is the service's own (its analysis: block) unless --metric-file gives one in the \
            same YAML shape (interval, minRequests, failureLimit, maxErrorRate, maxLatency, metrics).
            """)
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    @Option(help: "The service whose traffic is watched.") var service: String
    @Option(help: "Rising percentages, comma-separated.") var steps: String = "1,5,25,100"
    @Option(help: "How long each step holds at least (e.g. 30s, 5m).") var stepDuration: String = "1m"
    @Option(help: "A YAML file with the analysis (the keys of a service's analysis: block).") var metricFile: String?
    @Option(help: "How long past its duration a step may wait for a passing analysis before the flag is turned off.") var progressDeadline: String?

    func run() async throws {
        let percentages = try steps.split(separator: ",").map { text -> Int in
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--steps: '\(text)' is not a whole percentage") }
            return value
        }
        let request = GuardedRolloutRequest(
            service: service, steps: percentages, stepDuration: try duration(stepDuration, "--step-duration"),
            analysis: try metricFile.map { try ConfigLoader.loadAnalysis(file: $0) },
            progressDeadline: try progressDeadline.map { try duration($0, "--progress-deadline") })
        try await reportingFailures {
            let started: GuardedRolloutView = try await options.client.client().post(options.path(name, "/guarded-rollouts"), body: request)
            print(
                "guarded rollout \(started.id) of \(started.flag) (\(started.environment)): steps "
                    + started.steps.map { "\($0.percentage)%" }.joined(separator: ", ") + ", watching \(started.service)")
        }
    }

    private func duration(_ text: String, _ option: String) throws -> TimeSpan {
        do { return try TimeSpan(parsing: text) } catch { throw ValidationError("\(option): \(error)") }
    }
}

struct FlagsGuardStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard-status", abstract: "A flag's guarded rollouts, or one with its events (measurements, steps, the kill switch and why).")
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    @Argument(help: "A guarded rollout id; without it, all of the flag's.") var id: Int64?

    func run() async throws {
        try await reportingFailures {
            let client = try options.client.client()
            guard let id else {
                let rollouts: [GuardedRolloutView] = try await client.get(options.path(name, "/guarded-rollouts"))
                for rollout in rollouts { print(summary(rollout)) }
                return
            }
            let rollout: GuardedRolloutView = try await client.get(options.path(name, "/guarded-rollouts/\(id)"))
            print(summary(rollout))
            for event in rollout.events ?? [] {
                print("  \(event.at)  \(event.kind)  \(event.message)")
            }
        }
    }
}

struct FlagsGuardAbort: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "guard-abort", abstract: "Abort a guarded rollout: the flag is turned off.")
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    @Argument var id: Int64
    @Option(help: "Why (recorded).") var reason: String?

    func run() async throws {
        try await reportingFailures {
            let answer: Accepted = try await options.client.client().post(
                options.path(name, "/guarded-rollouts/\(id)/abort"),
                body: AbortRequest(reason: reason))
            print(answer.message)
        }
    }
}

/// One line per guarded rollout: where it is, and what ended it.
func summary(_ rollout: GuardedRolloutView) -> String {
    let steps = rollout.steps.map { "\($0.percentage)%" }.joined(separator: ", ")
    let ending = rollout.trigger.map { " — \($0.kind.rawValue): \($0.message)" } ?? ""
    return "guarded rollout \(rollout.id): \(rollout.phase) at \(rollout.percentage)% (step \(rollout.step) of \(steps), watching \(rollout.service), "
        + "started \(rollout.startedAt))\(ending)"
}
