import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RipcordConfig
import RipcordController
import RipcordCore
import RipcordWire
import RipcordDrivers
import RipcordServer
import RipcordStore

/// `benchmarks/release.sh`: a release of five sample services with three canary steps, against the
/// same five services deployed independently at once; and the time from one service's crash to every
/// service back on stable.
struct BenchReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Measure release overhead and rollback.")

    @Option var runs: Int = 3
    @Option var services: Int = 5

    static let pause = TimeSpan.milliseconds(500)

    func run() async throws {
        let folder = NSTemporaryDirectory() + "ripcord-bench-release-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let names = (1...services).map { "service\($0)" }
        try config(names).write(toFile: "\(folder)/ripcord.yaml", atomically: true, encoding: .utf8)
        var settings = Controller.Settings()
        settings.drainDelay = .milliseconds(200)
        settings.tickInterval = .milliseconds(20)
        var logger = Logger(label: "ripcord")
        logger.logLevel = .error
        let server = try await RipcordServer(
            config: try ConfigLoader.load(file: "\(folder)/ripcord.yaml"), settings: settings,
            requireToken: false, logger: logger)
        try await server.start()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let controller = server.controller
        var major: UInt64 = 1
        func next() -> SemanticVersion {
            defer { major += 1 }
            return SemanticVersion(major: major, minor: 0, patch: 0)
        }
        func manifest(_ version: SemanticVersion) -> ReleaseManifest {
            ReleaseManifest(services: names.map { ReleaseTarget(service: $0, version: version) })
        }
        _ = try await waitForRelease(server, try await controller.applyRelease(manifest(next())))

        let configuredPauses = Double(3 * Self.pause.milliseconds) / 1000
        print("services: \(services), steps: 3 × (setWeight, pause \(Self.pause)), configured pauses \(configuredPauses) s, 1 instance each")
        print(
            ["run", "release_s", "overhead_s", "independent_s", "ratio", "crash→culprit", "culprit→all", "crash→stable"]
                .map { $0.padding(toLength: 14, withPad: " ", startingAt: 0) }.joined())
        var overheads: [Double] = []
        var recoveries: [Double] = []
        for run in 1...runs {
            let started = ContinuousClock.now
            let release = try await controller.applyRelease(manifest(next()))
            guard try await waitForRelease(server, release) == .promoted else { throw ValidationError("release \(release.id) did not promote") }
            let releaseSeconds = seconds(since: started)

            let independentStart = ContinuousClock.now
            let version = next()
            var rollouts: [Rollout] = []
            for name in names { rollouts.append(try await controller.deploy(service: name, version: version)) }
            for rollout in rollouts { try await waitForRollout(server, rollout.id) }
            let independentSeconds = seconds(since: independentStart)

            let recovery = try await crashOneMember(server, manifest(next()), victim: names[names.count / 2])
            overheads.append(releaseSeconds - configuredPauses)
            recoveries.append(recovery.total)
            print(
                String(
                    format: "%-14d%-14.3f%-14.3f%-14.3f%-14.2f%-14.3f%-14.3f%-14.3f", run, releaseSeconds, releaseSeconds - configuredPauses,
                    independentSeconds, releaseSeconds / independentSeconds, recovery.detection, recovery.propagation, recovery.total))
        }
        print(
            String(
                format: "median overhead beyond pauses: %.3f s; median crash → all %d services on stable: %.3f s (bar 2 s)",
                median(overheads), services, median(recoveries)))
        await server.shutdown(keepInstances: false)
    }

    /// Starts a release, waits until every member carries traffic, kills one member's candidate, and
    /// times: crash → that member rolled back, → every member rolled back, → every front door answering stable.
    private func crashOneMember(_ server: RipcordServer, _ manifest: ReleaseManifest, victim: String)
        async throws -> (detection: Double, propagation: Double, total: Double)
    {
        let controller = server.controller
        let release = try await controller.applyRelease(manifest)
        let stable = try await controller.status(service: victim).stableVersion ?? ""
        while true {
            var carrying = true
            for member in release.members where try await controller.rollout(id: member.rolloutID).candidateWeight == 0 { carrying = false }
            if carrying { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        guard let pid = try await controller.status(service: victim).candidateInstances.first?.pid else { throw ValidationError("no candidate") }
        let crashed = ContinuousClock.now
        kill(pid, SIGKILL)
        var culpritAt: Double?
        while true {
            let victimRollout = try await controller.rollout(id: release.member(victim)!.rolloutID)
            if culpritAt == nil, victimRollout.phase == .rolledBack { culpritAt = seconds(since: crashed) }
            var all = true
            for member in release.members where try await controller.rollout(id: member.rolloutID).phase != .rolledBack { all = false }
            if all { break }
            try await Task.sleep(for: .milliseconds(2))
        }
        let allRolledBack = seconds(since: crashed)
        // Traffic: every front door answers with the stable version ten times in a row.
        for name in manifest.services.map(\.service) {
            let door = "http://\(await controller.frontDoors[name]!)/"
            var streak = 0
            while streak < 10 {
                streak = try await answeringVersion(door) == stable ? streak + 1 : 0
            }
        }
        _ = try await waitForRelease(server, release)
        return (culpritAt ?? allRolledBack, allRolledBack - (culpritAt ?? allRolledBack), seconds(since: crashed))
    }

    private func answeringVersion(_ url: String) async throws -> String? {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.headers.first(name: "x-sample-version")
    }

    @discardableResult
    private func waitForRelease(_ server: RipcordServer, _ release: Release) async throws -> ReleasePhase {
        while true {
            if let phase = try await server.store.release(id: release.id)?.phase, phase.isTerminal { return phase }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private func waitForRollout(_ server: RipcordServer, _ id: Int64) async throws {
        while try await !server.controller.rollout(id: id).isTerminal { try await Task.sleep(for: .milliseconds(5)) }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double { (ContinuousClock.now - start) / .seconds(1) }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// The `ripcord` built beside this `ripcord-bench`, whose `sample-service` the release's members run.
    private static var ripcordBinary: String {
        let own = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
        return URL(fileURLWithPath: own).deletingLastPathComponent().appendingPathComponent("ripcord").path
    }

    private func config(_ names: [String]) -> String {
        let services = names.map { name in
            """
              \(name):
                listen: 127.0.0.1:0
                run: { command: "'\(Self.ripcordBinary)' sample-service --name \(name) --port {port} --version {version}" }
                healthCheck: { interval: 100ms, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 1 }
                strategy:
                  canary:
                    unanalyzed: true
                    steps: [ { setWeight: 20 }, { pause: { duration: \(Self.pause) } }, { setWeight: 50 }, { pause: { duration: \(Self.pause) } },
                             { setWeight: 80 }, { pause: { duration: \(Self.pause) } } ]
            """
        }
        return "api: { listen: 127.0.0.1:\((try? FreePort.allocate()) ?? 7071) }\nstateDirectory: state\nservices:\n" + services.joined(separator: "\n") + "\n"
    }
}
