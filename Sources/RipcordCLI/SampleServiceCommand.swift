import ArgumentParser
import Foundation
import RipcordSampleService

struct SampleServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-service",
        abstract: "A small HTTP service that reports its version and misbehaves on demand (for demos and tests).",
        discussion: "Faults per version can also come from \(SampleFaults.environmentVariable), e.g. '1.2.0=errorRate:0.5,latency:100;1.3.0=crashAtStart'.")

    @Option var host: String = "127.0.0.1"
    @Option var port: Int
    @Option var version: String
    @Option var name: String = "sample"
    @Option(help: "Fraction of requests answered with 500.") var errorRate: Double?
    @Option(help: "Milliseconds added to every response.") var latencyMs: Int?
    @Flag var crashAtStart = false
    @Flag var failHealth = false
    @Option(help: "A service this one calls on every GET / (its answer is embedded), passing on the x-ripcord-release header as a real service passes on tracing headers.")
    var downstream: String?

    func run() async throws {
        var faults = SampleFaults.parse(ProcessInfo.processInfo.environment[SampleFaults.environmentVariable] ?? "", version: version)
        if let errorRate { faults.errorRate = errorRate }
        if let latencyMs { faults.addedLatencyMilliseconds = latencyMs }
        if crashAtStart { faults.crashAtStart = true }
        if failHealth { faults.failHealth = true }
        try await SampleService.run(host: host, port: port, name: name, version: version, faults: faults, downstream: downstream)
    }
}
