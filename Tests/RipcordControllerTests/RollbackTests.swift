import Foundation
import RipcordController
import RipcordCore
import RipcordTesting
import RipcordWire
import RipcordTestSupport
import Testing

/// The controller's rollouts end to end on fakes, in controller time: promotion, and every trigger's
/// rollback moving traffic back to the stable version before anything else.
@Suite(.tags(.unit)) struct RollbackTests {
    @Test func aHealthyCanaryGoesThroughEveryStepAndBecomesTheStableVersion() async throws {
        let rig = try await ControllerRig([service()])
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { try await rig.phase() == .promoted }, everyTick: { await rig.serve() }, "promotion")

        let shares = await rig.traffic.changes(service: "checkout").map(\.candidateShare)
        #expect(shares.contains(10) && shares.contains(50), "traffic went through the steps: \(shares)")
        let status = try await rig.controller.status(service: "checkout")
        try await rig.advance(until: { await rig.driver.running(version: v1).isEmpty }, "the old version stopped")
        #expect(status.stableVersion == "2.0.0")
        let last = try #require(await rig.traffic.changes(service: "checkout").last)
        #expect(last.backends.allSatisfy { $0.version == v2 && $0.role == .stable } && last.backends.count == 2)
        #expect(try await rig.store.stableRevision(service: "checkout")?.version == v2)
    }

    enum Fault: String, CaseIterable, Sendable {
        case errors, crash, failingHealthChecks, failingHook, abort, quietCanaryPastItsDeadline, firingAlert, failingProviderMetric

        var expectedTrigger: TriggerKind {
            switch self {
            case .errors: .analysis
            case .crash: .instanceCrashed
            case .failingHealthChecks: .healthCheckFailed
            case .failingHook: .hookFailed
            case .abort: .abort
            case .quietCanaryPastItsDeadline: .progressDeadline
            case .firingAlert: .alert
            case .failingProviderMetric: .analysis
            }
        }

        var spec: ServiceSpec {
            switch self {
            case .failingHook:
                return service(hooks: [HookSpec(name: "smoke", point: .afterStep, action: .command("smoke-test"))])
            case .failingProviderMetric:
                let metric = MetricSpec(
                    name: "queue-depth", provider: .prometheus(address: "http://prometheus", query: "queue_depth", range: nil),
                    interval: .seconds(1), failureCondition: try! Condition(parsing: "result > 100"))
                return service(analysis: AnalysisSpec(interval: .seconds(1), minRequests: 20, maxErrorRate: 0.05, metrics: [metric]))
            default:
                return service()
            }
        }
    }

    @Test(arguments: Fault.allCases)
    func everyTriggerRollsBackWithTrafficMovedToStableBeforeTheCandidateStops(_ fault: Fault) async throws {
        let rig = try await ControllerRig([fault.spec])
        await rig.metrics.set("queue_depth", 3)
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { await rig.candidateShare() == 10 }, "the canary at 10 %")
        let candidates = await rig.driver.running(version: v2)
        #expect(candidates.count == 2)

        switch fault {
        case .errors: break
        case .crash: await rig.driver.crash(candidates[0])
        case .failingHealthChecks: await rig.health.setHealthy(candidates[1].address, false)
        case .failingHook: await rig.hooks.fail("smoke")
        case .abort: try await rig.controller.abort(service: "checkout", reason: "looks wrong")
        case .quietCanaryPastItsDeadline: break
        case .firingAlert:
            _ = try await rig.controller.receive(Alert(name: "CheckoutErrors", firing: true, labels: ["service": "checkout"], annotations: [:], startsAt: nil))
        case .failingProviderMetric: await rig.metrics.set("queue_depth", 500)
        }
        let requests = fault == .quietCanaryPastItsDeadline ? 0 : 20
        let errors = fault == .errors ? 5 : 0
        try await rig.advance(
            until: { try await rig.phase() == .rolledBack }, everyTick: { await rig.serve(requests: requests, errors: errors) },
            "the rollback")

        let rollout = try #require(try await rig.rollout())
        #expect(rollout.trigger == fault.expectedTrigger, "\(rollout.reason ?? "")")
        try await rig.advance(until: { await rig.driver.running(version: v2).isEmpty }, "the candidate stopped")
        let trafficBack = try #require(
            rig.journal.firstIndex { $0.hasPrefix("backends checkout") && $0.contains("candidate=0") && $0 != rig.journal.entries.first },
            "traffic left the candidate: \(rig.journal.entries)")
        for candidate in candidates {
            let stopped = try #require(rig.journal.firstIndex { $0 == "stop \(candidate.id)" || $0 == "crash \(candidate.id)" })
            if fault != .crash || candidate != candidates[0] {
                #expect(trafficBack < stopped, "traffic back to stable before \(candidate.id) stopped: \(rig.journal.entries)")
            }
        }
        let rolledBack = try #require(try await rig.events().first { $0.kind == "rollout.rolledBack" })
        #expect(rolledBack.evidence["trigger"] == fault.expectedTrigger.rawValue)
        #expect(await rig.traffic.changes(service: "checkout").last?.backends.allSatisfy { $0.version == v1 } == true)
    }
}
