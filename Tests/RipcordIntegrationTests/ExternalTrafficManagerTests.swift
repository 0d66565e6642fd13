@testable import RipcordTrafficManagers
import Foundation
import RipcordController
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordServer
import RipcordTestSupport
import RipcordWire
import Testing

/// Outside CI a machine without haproxy or nginx skips these; in CI (`CI=true`) they run and a missing binary fails.
private let loadBalancersInstalledOrCI =
    ProcessInfo.processInfo.environment["CI"] == "true"
    || TrafficManagers.Kind.allCases.allSatisfy { LocalLoadBalancer.executable($0) != nil }

/// Rollouts through a real HAProxy (runtime API) and a real nginx (graceful reload) that the tests
/// start on loopback with the configuration Ripcord renders, with real sample-service instances.
@Suite(.serialized, .enabled(if: loadBalancersInstalledOrCI, "haproxy and nginx are not installed (scripts/test.sh installs them)"), .tags(.integration))
struct ExternalTrafficManagerTests {
    /// Runs `body` with a fresh load balancer in front of a `checkout` service on a free port, and stops it, pass or fail.
    func withBalancer(_ kind: TrafficManagers.Kind, _ body: (LocalLoadBalancer, HostPort) async throws -> Void) async throws {
        let directory = try temporaryDirectory("\(kind.rawValue)-lb")
        let listen = HostPort(host: "127.0.0.1", port: try FreePort.allocate())
        let balancer = try await LocalLoadBalancer(kind, services: [TrafficService(name: "checkout", listen: listen)], directory: directory)
        do {
            try await body(balancer, listen)
        } catch {
            Issue.record("\(kind.rawValue) output: \(balancer.output.suffix(3000))")
            await balancer.stop()
            throw error
        }
        await balancer.stop()
    }

    /// Runs `body` with the load balancer splitting the traffic of a harness.
    func withLoadBalancer(
        _ kind: TrafficManagers.Kind, strategy: String, faults: String = "",
        _ body: (Harness) async throws -> Void
    ) async throws {
        try await withBalancer(kind) { balancer, listen in
            try await withHarness(
                kind.rawValue, strategy: strategy, faults: faults, topLevel: Self.yaml(balancer.traffic),
                listen: listen.description, body)
        }
    }

    /// A finished rollout's last change may still be on its way to the load balancer (nginx hands
    /// over to new workers for 100 ms): load starts once a run of answers all come from `version`.
    static func settled(_ harness: Harness, on version: String) async throws {
        let front = await harness.frontDoor + "/"
        try await eventually("only \(version) answers") {
            for _ in 0..<40 where try await get(front).1 != version { return false }
            return true
        }
    }

    static func yaml(_ traffic: TrafficSpec) -> String {
        switch traffic {
        case .router: "traffic: { manager: router }"
        case let .haproxy(spec): "traffic:\n  manager: haproxy\n  socket: \(spec.socket)\n  slots: \(spec.slots)"
        case let .nginx(spec): "traffic:\n  manager: nginx\n  configFile: \(spec.configFile)\n  reload: \"\(spec.reload)\"\n  accessLog: \(spec.accessLog)"
        }
    }

    @Test(arguments: TrafficManagers.Kind.allCases)
    func canaryTrafficFollowsTheWeightsAndThePromotionFailsNoRequest(kind: TrafficManagers.Kind) async throws {
        try await withLoadBalancer(kind, strategy: "canary:\n  steps:\n    - setWeight: 25\n    - pause: {}") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            try await Self.settled(harness, on: "1.0.0")
            let front = await harness.frontDoor + "/"
            let load = LoadGenerator(url: front, requestsPerSecond: 150, concurrency: 4)
            let running = Task { await load.run() }
            try await eventually("load to flow through \(kind.rawValue)") { load.samples.count > 20 }
            let rollout = try await harness.deploy("1.1.0")
            try await harness.waitForPhase(rollout, .paused)
            // The pause is recorded as the step's change goes out; once the pin reaches the candidate, it is in force.
            try await eventually("the pin header reaches the candidate") {
                try await get(front, headers: [("x-ripcord-route", "candidate")]).1 == "1.1.0"
            }
            let pausedAt = load.samples.count
            try await eventually("400 answers at setWeight 25", within: 30) { load.samples.count - pausedAt >= 400 }
            let atWeight = load.samples(from: pausedAt)
            try await harness.server.controller.promote(service: "checkout", full: false)
            let finished = try await harness.finish(rollout)
            try await eventually("traffic on 1.1.0 only") { load.samples.suffix(20).allSatisfy { $0.version == "1.1.0" } }
            running.cancel()
            await running.value
            await load.shutdown()

            #expect(finished.phase == .promoted)
            let share = Double(atWeight.filter { $0.version == "1.1.0" }.count) / Double(atWeight.count)
            #expect(abs(share - 0.25) < 0.07, "\(kind.rawValue) sent \(Int(share * 100)) % to the canary at setWeight 25")
            let failed = load.samples.filter(\.failed)
            #expect(failed.isEmpty, "failed while traffic moved: \(failed.prefix(5))")
            let candidate = await harness.server.traffic.metrics(service: "checkout", version: try SemanticVersion(parsing: "1.1.0"), role: .candidate)
            #expect(candidate.requests >= 50 && candidate.errors == 0, "\(kind.rawValue) measured the candidate: \(candidate.requests) requests")
        }
    }

    @Test(arguments: TrafficManagers.Kind.allCases)
    func faultyCanaryIsRolledBackOnTheLoadBalancersMeasurements(kind: TrafficManagers.Kind) async throws {
        try await withLoadBalancer(kind, strategy: RolloutIntegrationTests.canary, faults: "1.2.0=errorRate:0.6") { harness in
            try await harness.finish(try await harness.deploy("1.1.0"))
            try await Self.settled(harness, on: "1.1.0")
            let samples = try await underLoad(harness) {
                let rollout = try await harness.finish(try await harness.deploy("1.2.0"))
                #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .analysis)
                let rollback = try #require(try await harness.events(rollout).first { $0.kind == "rollout.rolledBack" })
                #expect(Double(rollback.evidence["errorRate"] ?? "0")! > 0.1, "\(kind.rawValue)'s counts show the canary's errors")
                try await eventually("traffic back on 1.1.0") { try await get(await harness.frontDoor + "/").1 == "1.1.0" }
            }
            let failed = samples.filter(\.failed)
            #expect(!failed.isEmpty, "the faulty version answered some requests with errors")
            #expect(failed.allSatisfy { $0.version == "1.2.0" }, "only the faulty version's own answers fail: \(failed.filter { $0.version != "1.2.0" }.prefix(3))")
            try await eventually("the faulty instances stopped") {
                try await harness.server.controller.status(service: "checkout").candidateInstances.isEmpty
            }
            #expect(try await harness.server.controller.status(service: "checkout").stableVersion == "1.1.0")
        }
    }

    @Test func aRestartedRipcordLeavesEachInstanceInItsHAProxySlot() async throws {
        try await withBalancer(.haproxy) { balancer, listen in
            guard case let .haproxy(spec) = balancer.traffic else {
                Issue.record("not haproxy settings")
                return
            }
            let version = SemanticVersion(major: 1, minor: 0, patch: 0)
            let kept = HostPort(host: "127.0.0.1", port: 20_001), added = HostPort(host: "127.0.0.1", port: 20_002)
            let first = HAProxyTrafficManager(spec: spec)
            try await first.addService(name: "checkout", listen: listen, previewListen: nil)
            try await first.setBackends(service: "checkout", [Backend(address: kept, version: version, role: .stable, weight: 100)])
            // Slot 1 is now taken; a manager that did not learn it would put the new instance there.
            let restarted = HAProxyTrafficManager(spec: spec)
            try await restarted.addService(name: "checkout", listen: listen, previewListen: nil)
            try await restarted.setBackends(
                service: "checkout",
                [
                    Backend(address: added, version: version, role: .stable, weight: 50),
                    Backend(address: kept, version: version, role: .stable, weight: 50),
                ])
            let state = try await HAProxyRuntimeClient(socketPath: spec.socket).query("show servers state ripcord_checkout")
            #expect(HAProxyRuntimeOutput.liveSlots(serversState: state).live == [1: kept, 2: added])
        }
    }
}

@Suite(.tags(.integration)) struct TrafficRenderCommandTests {
    @Test func rendersTheConfiguredServicesForEitherLoadBalancer() async throws {
        let directory = try temporaryDirectory("render")
        let port = try FreePort.allocate()
        try checkoutConfig(
            directory: directory, strategy: "canary:\n  steps: []", topLevel: "traffic: { manager: haproxy, socket: /run/rc.sock, slots: 4 }",
            listen: "127.0.0.1:\(port)"
        ).write(toFile: "\(directory)/ripcord.yaml", atomically: true, encoding: .utf8)
        let (haproxyStatus, haproxy) = try await ChildProcess.runRipcord(["traffic", "render", "haproxy", "--config", "\(directory)/ripcord.yaml"])
        #expect(haproxyStatus == 0)
        #expect(
            haproxy.contains("stats socket /run/rc.sock mode 600 level admin") && haproxy.contains("bind 127.0.0.1:\(port)")
                && haproxy.contains("server-template s 1-4"), "\(haproxy)")
        let (nginxStatus, nginx) = try await ChildProcess.runRipcord(["traffic", "render", "nginx", "--config", "\(directory)/ripcord.yaml"])
        #expect(nginxStatus == 0 && nginx.contains("listen 127.0.0.1:\(port);") && nginx.contains("upstream ripcord_checkout {"), "\(nginx)")
        let (badStatus, bad) = try await ChildProcess.runRipcord(["traffic", "render", "envoy", "--config", "\(directory)/ripcord.yaml"])
        #expect(badStatus != 0 && bad.contains("haproxy"), "\(bad)")
    }
}
