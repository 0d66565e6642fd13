import ArgumentParser
import Foundation
import Logging
import RipcordConfig
import RipcordController
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordServer
import RipcordStore
import ServiceLifecycle

/// A self-contained story on embedded defaults: deploy checkout 1.0.0, roll out a healthy 1.1.0
/// (promoted) and a faulty 1.2.0 (rolled back on its own) under steady load, and say what happened.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run a complete canary story with a healthy and a faulty release.")

    @Option(help: "Client requests per second sent through the router.") var rate: Double = 200
    @Option(help: "Error rate of the faulty version 1.2.0.") var faultyErrorRate: Double = 0.5
    @Option(help: "Keep the demo's files (config, SQLite state, logs) in this folder.") var directory: String?
    @Option(
        help:
            "How analysis judges the canary: threshold (fixed limits per window), sequential (always-valid tests against stable) or canaryBaseline (each window against fresh baseline instances)."
    )
    var judge: String = "threshold"
    @Flag(help: "Print the figures as JSON at the end (for benchmarks).") var json = false

    func run() async throws {
        let folder = directory ?? NSTemporaryDirectory() + "ripcord-demo-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let configPath = "\(folder)/ripcord.yaml"
        let frontDoor = try FreePort.allocate()
        try demoConfig(frontDoor: frontDoor, apiPort: try FreePort.allocate()).write(toFile: configPath, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(file: configPath)

        var settings = Controller.Settings()
        settings.drainDelay = .seconds(1)
        var logger = Logger(label: "ripcord")
        logger.logLevel = .warning
        let server = try await RipcordServer(config: config, settings: settings, requireToken: false, logger: logger)
        try await server.start()
        let apiGroup = ServiceGroup(services: [server.application()], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        let api = Task { try await apiGroup.run() }
        let timeline = Timeline(server: server, origin: WallClock().now)
        timeline.say("Ripcord demo — state, config and logs in \(folder)")
        timeline.say("front door http://127.0.0.1:\(frontDoor)   API http://\(config.api)   (ripcord status --config \(configPath))")

        let printer = Task { await timeline.follow() }
        try await deployAndWait(server, "1.0.0", timeline)
        let load = LoadGenerator(url: "http://127.0.0.1:\(frontDoor)/", requestsPerSecond: rate, concurrency: 8)
        let loadTask = Task { await load.run() }
        let traffic = Task { await timeline.reportTraffic(load) }
        timeline.say("load generator: \(Int(rate)) requests/s through the router")
        try await Task.sleep(for: .seconds(1))
        try await deployAndWait(server, "1.1.0", timeline)
        try await deployAndWait(server, "1.2.0", timeline)
        try await Task.sleep(for: .seconds(2))
        loadTask.cancel()
        await loadTask.value
        traffic.cancel()
        printer.cancel()
        await timeline.flush()
        let figures = try await summarize(load.samples, server: server, timeline: timeline)
        await load.shutdown()
        await apiGroup.triggerGracefulShutdown()
        _ = await api.result
        await server.shutdown(keepInstances: false)
        if json {
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    private func demoConfig(frontDoor: Int, apiPort: Int) -> String {
        let executable = ownExecutable
        return """
            # Written by `ripcord demo`. 1.2.0 is told to fail half of its requests.
            api:
              listen: 127.0.0.1:\(apiPort)
            stateDirectory: state
            services:
              checkout:
                listen: 127.0.0.1:\(frontDoor)
                run:
                  command: "'\(executable)' sample-service --name checkout --port {port} --version {version}"
                  environment:
                    RIPCORD_SAMPLE_FAULTS: "1.2.0=errorRate:\(faultyErrorRate)"
                instances: 2
                healthCheck:
                  path: /health
                  interval: 1s
                  timeout: 500ms
                startupDeadline: 15s
                progressDeadline: 60s
                strategy:
                  canary:
                    steps:
                      - setWeight: 10
                      - pause: { duration: 3s }
                      - setWeight: 50
                      - pause: { duration: 3s }
                analysis:
                  interval: 1s
                  minRequests: 10
                  failureLimit: 0
                  maxErrorRate: 5%
                  maxLatency:
                    p99: 250ms
                  judge: \(judge)

            """
    }

    private func deployAndWait(_ server: RipcordServer, _ version: String, _ timeline: Timeline) async throws {
        let rollout = try await server.controller.deploy(service: "checkout", version: try SemanticVersion(parsing: version))
        while true {
            let current = try await server.controller.rollout(id: rollout.id)
            if current.isTerminal {
                await timeline.flush()
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private func summarize(_ samples: [LoadSample], server: RipcordServer, timeline: Timeline) async throws -> [String: Any] {
        let failed = samples.filter(\.failed)
        let faulty = "1.2.0"
        let faultyFailures = failed.filter { $0.version == faulty }.count
        let otherFailures = failed.count - faultyFailures
        let events = try await server.store.events(service: "checkout", rolloutID: nil, afterID: 0, limit: 10_000)
        let firstFaulty = samples.filter { $0.version == faulty }.map(\.sentAt).min()
        let lastFaulty = samples.filter { $0.version == faulty }.map { $0.sentAt + Int64($0.latencyMilliseconds) }.max()
        let rollback = events.last { $0.kind == .rolloutRolledBack }
        var figures: [String: Any] = [
            "requests": samples.count, "failedRequests": failed.count, "failedByFaultyVersion": faultyFailures,
            "failedOther": otherFailures, "requestsToFaultyVersion": samples.filter { $0.version == faulty }.count,
        ]
        print("")
        print("── summary ──────────────────────────────────────────────")
        print("client requests:        \(samples.count)")
        print("failed requests:        \(failed.count) (\(faultyFailures) answered by the faulty \(faulty) itself, \(otherFailures) other)")
        let reasons = Dictionary(grouping: failed.filter { $0.version != faulty }, by: { $0.error ?? "status \($0.status)" })
        for (reason, samples) in reasons.sorted(by: { $0.value.count > $1.value.count }) { print("    \(samples.count) × \(reason)") }
        if let firstFaulty, let rollback {
            let detection = Double(rollback.at.millisecondsSinceEpoch - firstFaulty) / 1000
            figures["firstFaultyRequestToZeroWeightSeconds"] = detection
            print("faulty version's first request → 0% weight (rollback):   \(String(format: "%.2f", detection)) s")
            if let lastFaulty {
                let restored = Double(lastFaulty - firstFaulty) / 1000
                figures["firstFaultyRequestToLastFaultyResponseSeconds"] = restored
                print("faulty version's first request → its last response:     \(String(format: "%.2f", restored)) s")
            }
            print("why: \(rollback.message)")
        } else {
            print("the faulty version was not rolled back — something is wrong")
        }
        return figures
    }
}

/// Prints the demo's timeline: every event with its evidence, and traffic once a second.
final class Timeline: Sendable {
    private let server: RipcordServer
    private let origin: Moment
    private let cursor = Cursor()

    init(server: RipcordServer, origin: Moment) {
        self.server = server
        self.origin = origin
    }

    func say(_ text: String) { print(text) }

    private func stamp(_ moment: Moment) -> String { String(format: "+%6.2fs", Double(moment.millisecondsSinceEpoch - origin.millisecondsSinceEpoch) / 1000) }

    func follow() async {
        while !Task.isCancelled {
            await flush()
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    func flush() async {
        guard let events = try? await server.store.events(service: "checkout", rolloutID: nil, afterID: cursor.value, limit: 1000) else { return }
        for event in events {
            cursor.value = event.id
            var line = "\(stamp(event.at))  \(event.kind.rawValue.padding(toLength: 21, withPad: " ", startingAt: 0)) \(event.message)"
            if event.kind == .rolloutRolledBack || event.kind == .rolloutPromoted {
                line += "\n" + event.evidence.sorted { $0.key < $1.key }.map { "            evidence \($0.key)=\($0.value)" }.joined(separator: "\n")
            }
            print(line)
        }
    }

    func reportTraffic(_ load: LoadGenerator) async {
        var index = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let fresh = load.samples(from: index)
            index += fresh.count
            var byVersion: [String: (count: Int, failed: Int)] = [:]
            for sample in fresh {
                let version = sample.version ?? "no response"
                byVersion[version, default: (0, 0)].count += 1
                if sample.failed { byVersion[version, default: (0, 0)].failed += 1 }
            }
            let parts = byVersion.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.count)" + ($0.value.failed > 0 ? " (\($0.value.failed) failed)" : "") }
            print("\(stamp(WallClock().now))  traffic               \(fresh.count) req/s: \(parts.joined(separator: ", "))")
        }
    }
}

private final class Cursor: @unchecked Sendable {
    private let lock = NSLock()
    private var id: Int64 = 0
    var value: Int64 {
        get { lock.withLock { id } }
        set { lock.withLock { id = newValue } }
    }
}

/// This binary's absolute path, for configs that run `ripcord sample-service`.
var ownExecutable: String {
    CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
}
