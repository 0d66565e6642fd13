import Foundation
import RipcordAPI
import RipcordController
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordServer
import RipcordStore
import RipcordTestSupport
import RipcordWire
import Testing

/// Alerts as triggers: Alertmanager's webhook rolls back a rollout in progress, or undoes a release
/// promoted within its guard window.
@Suite(.serialized, .tags(.integration)) struct AlertingTests {
    static let pausedAtHalf = "canary:\n  steps:\n    - setWeight: 50\n    - pause: {}"

    func alert(_ name: String, service: String, status: String = "firing") -> Alert {
        Alert(
            name: name, firing: status == "firing", labels: ["alertname": name, "service": service, "severity": "page"],
            annotations: ["summary": "errors on \(service)"], startsAt: "2026-11-23T10:00:00Z")
    }

    @Test func firingAlertRollsBackTheRolloutInProgressWithItsEvidence() async throws {
        try await withHarness("alert", strategy: Self.pausedAtHalf, instances: 1) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.deploy("1.1.0")
            try await harness.waitForPhase(rollout, .paused)
            let unrelated = try await harness.server.controller.receive(alert("DiskFull", service: "elsewhere"))
            #expect(unrelated.action == .none)
            let outcome = try await harness.server.controller.receive(alert("CanaryErrors", service: "checkout"))
            #expect(outcome.action == .rollingBack)
            let finished = try await harness.finish(rollout)
            #expect(finished.phase == .rolledBack && finished.trigger?.kind == .alert)
            let rollback = try #require(try await harness.events(rollout).first { $0.kind == "rollout.rolledBack" })
            #expect(rollback.evidence["alert"] == "CanaryErrors")
            #expect(rollback.evidence["label.severity"] == "page")
            #expect(rollback.evidence["annotation.summary"] == "errors on checkout")
        }
    }

    @Test func alertInTheGuardWindowUndoesThePromotedRelease() async throws {
        try await withHarness("guard", strategy: "canary:\n  steps: []", instances: 1, serviceExtra: "guardWindow: 10m") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let promoted = try await harness.finish(try await harness.deploy("1.1.0"))
            #expect(promoted.phase == .promoted)
            let resolved = try await harness.server.controller.receive(alert("StableErrors", service: "checkout", status: "resolved"))
            #expect(resolved.action == .none)
            let outcome = try await harness.server.controller.receive(alert("StableErrors", service: "checkout"))
            #expect(outcome.action == .undoing)
            let repeated = try await harness.server.controller.receive(alert("StableErrors", service: "checkout"))
            #expect(repeated.action == .none, "Alertmanager repeating the alert must not roll the undo back")
            try await eventually("undo promoted") {
                try await harness.server.controller.status(service: "checkout").stableVersion == "1.0.0"
            }
            let history = try await harness.server.controller.history(service: "checkout")
            #expect(history.revisions.last?.note.contains("StableErrors") == true)
            let guardEvent = try #require(try await harness.events(promoted).first { $0.kind == "guard.triggered" })
            #expect(guardEvent.evidence["alert"] == "StableErrors" && guardEvent.evidence["trigger"] == "alert")
            #expect(try await get(await harness.frontDoor + "/").1 == "1.0.0")
        }
    }

    @Test func withoutAGuardWindowAnAlertAfterPromotionIsOnlyRecorded() async throws {
        try await withHarness("noguard", strategy: "canary:\n  steps: []", instances: 1) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            try await harness.finish(try await harness.deploy("1.1.0"))
            let outcome = try await harness.server.controller.receive(alert("StableErrors", service: "checkout"))
            #expect(outcome.action == .none)
            #expect(try await harness.server.controller.status(service: "checkout").stableVersion == "1.1.0")
            let events = try await harness.server.store.events(service: "checkout", rolloutID: nil, afterID: 0, limit: 1000)
            #expect(events.last?.kind == "alert.received")
        }
    }

    /// Real Prometheus scrapes the router's metrics from the API, evaluates an alert rule over the
    /// canary's 5xx responses, Alertmanager routes the alert to Ripcord's webhook, Ripcord rolls back.
    @Test func prometheusAlertThroughAlertmanagerRollsBackTheCanary() async throws {
        try await withHarness(
            "prometheus", strategy: Self.pausedAtHalf.replacingOccurrences(of: "canary:\n", with: "canary:\n  unanalyzed: true\n"),
            faults: "2.0.0=errorRate:0.5", instances: 1, analysis: nil
        ) { harness in
            try await withLiveAPI(harness) {
                let stack = try PrometheusStack.start(
                    directory: harness.directory, prometheusPort: try FreePort.allocate(),
                    apiAddress: harness.server.config.api.description, tokenFile: harness.server.tokenFile,
                    alertRules: """
                        groups:
                          - name: ripcord
                            rules:
                              - alert: CanaryErrors
                                expr: sum by (service) (increase(ripcord_requests_total{role="canary",class="5xx"}[10s])) > 2
                                labels: { severity: page }
                                annotations: { summary: "canary of {{ $labels.service }} answers 5xx" }
                        """)
                _ = try await underLoad(harness, requestsPerSecond: 40) {
                    do {
                        try await harness.finish(try await harness.deploy("1.0.0"))
                        let rollout = try await harness.deploy("2.0.0")
                        try await harness.waitForPhase(rollout, .paused)
                        let finished = try await harness.finish(rollout, within: 90)
                        #expect(finished.phase == .rolledBack)
                        #expect(finished.trigger?.kind == .alert)
                        #expect(finished.trigger?.evidence["alert"] == "CanaryErrors")
                        #expect(finished.trigger?.evidence["label.service"] == "checkout")
                        #expect(finished.trigger?.evidence["annotation.summary"] == "canary of checkout answers 5xx")
                    } catch {
                        Issue.record("\(stack.logs)")
                        throw error
                    }
                }
                try await stack.stop()
            }
        }
    }
}
