import ArgumentParser
import Foundation
import RipcordBenchmarks
import RipcordCore
import RipcordDrivers

/// `ripcord-bench`: the measurements the scripts under benchmarks/ run, apart from the shipped `ripcord`.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ripcord-bench",
        abstract: "Benchmarks of Ripcord's parts (called by benchmarks/*.sh).",
        subcommands: [
            BenchRouterCommand.self, BenchRelayCommand.self, BenchFlagsCommand.self, BenchReleaseCommand.self, SimulateJudgesCommand.self, BenchTrafficSwitchCommand.self,
            BenchCommandsCommand.self,
        ])
}

struct BenchRouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "router", abstract: "Run the built-in router alone in front of fixed backends.")

    @Option var listen: String
    @Option(parsing: .upToNextOption) var backend: [String]
    @Option var threads: Int = 2

    func run() async throws {
        try await runStandaloneRouter(listen: try HostPort(parsing: listen), backends: try backend.map(HostPort.init(parsing:)), threads: threads)
    }
}

struct BenchRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay", abstract: "Relay bytes between each client and its own backend connection: SwiftNIO's floor for a proxy.")

    @Option var listen: String
    @Option var backend: String
    @Option var threads: Int = 1

    func run() async throws {
        try await runByteRelay(listen: try HostPort(parsing: listen), backend: try HostPort(parsing: backend), threads: threads)
    }
}

struct BenchFlagsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "flags", abstract: "Measure in-process flag evaluation.")

    @Option var iterations: Int = 5_000_000
    @Option(help: "Instead: time a REGEX constraint `^(a+)+$` against this many `a`s and a `!` (benchmarks/flag-regex.sh).")
    var regexLength: Int?

    func run() async throws {
        if let regexLength {
            print(benchmarkRegexReport(length: regexLength))
        } else {
            print(benchmarkReport(iterations: iterations))
        }
    }
}

struct SimulateJudgesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-judges", abstract: "Run the analysis judges on synthetic request streams over a grid.")

    @Option var runs: Int = 1000
    @Option var seed: UInt64 = 42
    @Flag var json = false

    func run() async throws {
        let report = runJudgeSimulation(runsPerCell: runs, seed: seed)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(formatSimulationReport(report))
        }
    }
}

struct BenchCommandsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands", abstract: "Run a short command many times, as the command driver's checks do, and print this process's CPU per run.")

    @Option var count = 2000
    @Option(help: "Commands handed over together, as the command driver's due checks are (a batch answers when its last has ended).")
    var batch = 33
    @Option(help: "Descriptors held open meanwhile, as a controller's front doors are (each spawn copies the table).")
    var openDescriptors = 1000
    @Option var command = "/bin/true"

    func run() async throws {
        let held = (0..<openDescriptors).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
        defer { held.forEach { close($0) } }
        let arguments = RunSpec.splitWords(command)
        let before = CPUTimes.now()
        let started = ContinuousClock.now
        for first in stride(from: 0, to: count, by: batch) {
            let commands = (first..<min(count, first + batch)).map { index in
                CommandRunner.Command(arguments: arguments, environment: ["RIPCORD_INSTANCE": "bench-\(index)"], timeout: .seconds(10))
            }
            for result in await CommandRunner.run(commands) {
                let outcome = try result.get()
                guard outcome.succeeded else { throw ValidationError("'\(command)' \(outcome.describe(timeout: .seconds(10)))") }
            }
        }
        let elapsed = ContinuousClock.now - started
        let used = CPUTimes.now() - before
        print(String(format: "%d runs of '%@' in batches of %d, %d descriptors open: %.3f s", count, command, batch, openDescriptors, TimeSpan(elapsed).seconds))
        print(
            String(
                format: "  this process: %.1f µs of CPU per run (user %.1f, system %.1f)", used.total / Double(count) * 1e6, used.user / Double(count) * 1e6,
                used.system / Double(count) * 1e6))
        print(String(format: "  the commands: %.1f µs of CPU per run", used.children / Double(count) * 1e6))
    }
}

/// This process's CPU time so far, and its reaped children's.
private struct CPUTimes {
    var user: Double
    var system: Double
    var children: Double
    var total: Double { user + system }

    static func now() -> CPUTimes {
        var own = rusage(), reaped = rusage()
        getrusage(RUSAGE_SELF.rawValue, &own)
        getrusage(RUSAGE_CHILDREN.rawValue, &reaped)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return CPUTimes(user: seconds(own.ru_utime), system: seconds(own.ru_stime), children: seconds(reaped.ru_utime) + seconds(reaped.ru_stime))
    }

    static func - (lhs: CPUTimes, rhs: CPUTimes) -> CPUTimes {
        CPUTimes(user: lhs.user - rhs.user, system: lhs.system - rhs.system, children: lhs.children - rhs.children)
    }
}
