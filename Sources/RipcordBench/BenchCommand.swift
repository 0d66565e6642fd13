import ArgumentParser
import Foundation
import RipcordBenchmarks
import RipcordCore

/// `ripcord-bench`: the measurements the scripts under benchmarks/ run, apart from the shipped `ripcord`.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ripcord-bench",
        abstract: "Benchmarks of Ripcord's parts (called by benchmarks/*.sh).",
        subcommands: [BenchRouterCommand.self, BenchFlagsCommand.self, BenchReleaseCommand.self, SimulateJudgesCommand.self, BenchTrafficSwitchCommand.self])
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
