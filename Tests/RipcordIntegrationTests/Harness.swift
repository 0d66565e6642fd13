import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordConfig
import RipcordController
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

/// Where the built `ripcord` binary is: beside the test bundle.
let ripcordBinary: String = {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ripcord").path
    if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/ripcord").path
}()

/// Waits for a condition with a deadline instead of sleeping a fixed time. The default deadline is generous: the
/// suites run side by side on two cores, and a passing test never waits for it.
func eventually(_ description: String, within seconds: Double = 45, _ condition: () async throws -> Bool) async throws {
    try await waitUntil(description, within: seconds, condition)
}

/// The analysis block the tests use unless they say otherwise: quick windows, 10 % errors fail.
let testAnalysis = "interval: 500ms\n      minRequests: 5\n      maxErrorRate: 10%"

/// A config for one `checkout` service run by the sample service, with ports picked by the kernel.
func checkoutConfig(
    directory: String, strategy: String, faults: String = "", instances: Int = 2,
    analysis: String? = testAnalysis, progressDeadline: String = "30s",
    serviceExtra: String = "", topLevel: String = "", listen: String = "127.0.0.1:0"
) throws -> String {
    """
    api:
      listen: 127.0.0.1:\(try FreePort.allocate())
    stateDirectory: state
    \(topLevel)
    services:
      checkout:
        listen: \(listen)
        run:
          command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}"
          environment:
            RIPCORD_SAMPLE_FAULTS: "\(faults)"
        instances: \(instances)
        healthCheck:
          interval: 200ms
          timeout: 500ms
          unhealthyThreshold: 2
        startupDeadline: 10s
        progressDeadline: \(progressDeadline)
        strategy:
    \(strategy.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
    \(analysis.map { "    analysis:\n      " + $0 } ?? "")
    \(serviceExtra.isEmpty ? "" : "    " + serviceExtra)
    """
}

/// Ripcord assembled in-process on a temporary folder, with real instances and the real router.
struct Harness {
    let directory: String
    let server: RipcordServer

    static func start(
        _ label: String, strategy: String, faults: String = "", instances: Int = 2,
        analysis: String? = testAnalysis, progressDeadline: String = "30s",
        serviceExtra: String = "", topLevel: String = "", listen: String = "127.0.0.1:0"
    ) async throws -> Harness {
        let directory = try temporaryDirectory(label)
        return try await start(
            in: directory,
            config: try checkoutConfig(
                directory: directory, strategy: strategy, faults: faults,
                instances: instances, analysis: analysis, progressDeadline: progressDeadline,
                serviceExtra: serviceExtra, topLevel: topLevel, listen: listen))
    }

    /// Ripcord on `config`, written to `directory`/ripcord.yaml (again, for a restart on the same state).
    static func start(in directory: String, config: String) async throws -> Harness {
        let path = "\(directory)/ripcord.yaml"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        var settings = Controller.Settings()
        settings.drainDelay = .milliseconds(300)
        settings.tickInterval = .milliseconds(50)
        let server = try await RipcordServer(config: try ConfigLoader.load(file: path), settings: settings)
        try await server.start()
        return Harness(directory: directory, server: server)
    }

    var frontDoor: String {
        get async { "http://\(await server.controller.frontDoors["checkout"]!)" }
    }

    func deploy(_ version: String) async throws -> Rollout {
        try await server.controller.deploy(service: "checkout", version: try SemanticVersion(parsing: version))
    }

    func rollout(_ id: Int64) async throws -> Rollout { try await server.controller.rollout(id: id) }

    /// Waits until the rollout finishes and returns it.
    @discardableResult
    func finish(_ rollout: Rollout, within seconds: Double = 60) async throws -> Rollout {
        try await eventually("rollout \(rollout.id) to finish", within: seconds) { try await self.rollout(rollout.id).isTerminal }
        return try await self.rollout(rollout.id)
    }

    func waitForPhase(_ rollout: Rollout, _ phase: RolloutPhase) async throws {
        try await eventually("rollout \(rollout.id) to reach \(phase)") { try await self.rollout(rollout.id).phase == phase }
    }

    func events(_ rollout: Rollout) async throws -> [Event] {
        try await server.store.events(service: nil, rolloutID: rollout.id, afterID: 0, limit: 10_000)
    }

    func stop() async {
        await server.shutdown(keepInstances: false)
    }
}

/// Runs `body` against a fresh harness and always stops it (instances included), pass or fail.
func withHarness(
    _ label: String, strategy: String, faults: String = "", instances: Int = 2,
    analysis: String? = testAnalysis, progressDeadline: String = "30s", serviceExtra: String = "", topLevel: String = "",
    listen: String = "127.0.0.1:0", _ body: (Harness) async throws -> Void
) async throws {
    try await Harness.start(
        label, strategy: strategy, faults: faults, instances: instances, analysis: analysis, progressDeadline: progressDeadline,
        serviceExtra: serviceExtra, topLevel: topLevel, listen: listen
    ).run(body)
}

extension Harness {
    /// Runs `body` against this harness and always stops it (instances included), pass or fail.
    func run(_ body: (Harness) async throws -> Void) async throws {
        do {
            try await body(self)
        } catch {
            await stop()
            throw error
        }
        await stop()
    }
}

/// Runs `body` while a load generator sends steady traffic through the harness's front door, and
/// returns every response the load got.
func underLoad(_ harness: Harness, requestsPerSecond: Double = 100, _ body: () async throws -> Void) async throws -> [LoadSample] {
    let load = LoadGenerator(url: await harness.frontDoor + "/", requestsPerSecond: requestsPerSecond, concurrency: 4)
    let running = Task { await load.run() }
    do { try await body() } catch {
        running.cancel()
        await load.shutdown()
        throw error
    }
    running.cancel()
    await running.value
    await load.shutdown()
    return load.samples
}

/// Sends one GET and returns (status, answering version).
func get(_ url: String, headers: [(String, String)] = []) async throws -> (Int, String?) {
    var request = HTTPClientRequest(url: url)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
    _ = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), response.headers.first(name: "x-sample-version"))
}

func processExists(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }
