import RipcordCore
import RipcordInsights
import RipcordWire

extension Controller {
    /// Alerts as triggers: a firing alert whose `serviceLabel` names a service rolls back that
    /// service's rollout in progress, or — within the guard window after a promotion — undoes the
    /// release to the previous revision. Every alert for a known service is recorded as an event.
    /// - Parameter actor: the name of the token that delivered the alert, recorded on the events it causes.
    public func receive(_ alert: Alert, serviceLabel: String = "service", actor: String? = nil) async throws -> AlertOutcome {
        guard let name = alert.labels[serviceLabel], let spec = services[name]?.spec else {
            return AlertOutcome(
                alert: alert.name, service: alert.labels[serviceLabel], action: .none,
                detail: "no service matches label \(serviceLabel)=\(alert.labels[serviceLabel] ?? "(missing)")")
        }
        guard alert.firing else {
            try await store.record(
                service: name, rolloutID: await currentRollout(name)?.id,
                events: [
                    EventDraft(.alertResolved, "alert \(alert.name) resolved", evidence: alert.evidence, actor: actor)
                ], at: clock.now)
            return AlertOutcome(alert: alert.name, service: name, action: .none, detail: "resolved")
        }
        let trigger = Trigger(kind: .alert, message: "alert \(alert.name) is firing", evidence: alert.evidence)
        let current = await currentRollout(name)
        if let rollout = current, !rollout.isTerminal, rollout.kind == .undo {
            // The alert is most likely about the release being undone; rolling the undo back would keep it.
            try await store.record(
                service: name, rolloutID: rollout.id,
                events: [
                    EventDraft(
                        .alertReceived, "alert \(alert.name) firing during an undo; the undo continues", evidence: alert.evidence,
                        actor: actor)
                ], at: clock.now)
            return AlertOutcome(alert: alert.name, service: name, action: .none, detail: "an undo is in progress")
        }
        if let rollout = current, !rollout.isTerminal, let reconciler = services[name]?.reconciler {
            reconciler.send(RolloutInput.candidateFailed(trigger).sent(by: actor))
            return AlertOutcome(
                alert: alert.name, service: name, action: .rollingBack,
                detail: "rolling back \(rollout.candidateVersion) (rollout \(rollout.id))")
        }
        if let rollout = current, rollout.phase == .promoted, rollout.stableVersion != nil,
            let finished = rollout.finishedAt, spec.guardWindow > .zero,
            guards[name] != nil || clock.now - finished <= spec.guardWindow
        {
            try await store.record(
                service: name, rolloutID: rollout.id,
                events: [
                    EventDraft(
                        .guardTriggered,
                        "alert \(alert.name) fired \(clock.now - finished) after \(rollout.candidateVersion) was promoted (guard window \(spec.guardWindow)): undoing",
                        evidence: trigger.evidence.merging(["trigger": TriggerKind.alert.rawValue], uniquingKeysWith: { first, _ in first }), actor: actor)
                ],
                at: clock.now)
            let detail = try await undoAfterPromotion(rollout, note: "alert \(alert.name) in the guard window of revision \(rollout.revision)")
            return AlertOutcome(alert: alert.name, service: name, action: .undoing, detail: detail)
        }
        try await store.record(
            service: name, rolloutID: nil,
            events: [
                EventDraft(
                    .alertReceived, "alert \(alert.name) firing; no rollout in progress or in a guard window", evidence: alert.evidence,
                    actor: actor)
            ],
            at: clock.now)
        return AlertOutcome(alert: alert.name, service: name, action: .none, detail: "no rollout in progress or in a guard window")
    }

    /// The router's measurements of every service's current versions, in the Prometheus text format.
    public func metricsExposition() async -> String {
        var series: [LabelledMetrics] = []
        var synthetic: [String] = []
        var gauges: [ServiceGauge] = []
        for name in services.keys.sorted() {
            let stableVersion = services[name]?.stableVersion
            let view = await services[name]?.reconciler?.view
            let live = view.map(\.rollout).flatMap { $0.isTerminal ? nil : $0 }
            gauges.append(
                ServiceGauge(
                    service: name, phase: live?.phase, step: live?.stepIndex ?? 0,
                    candidateWeight: live?.candidateWeight ?? 0))
            if let stable = stableVersion {
                series.append(
                    LabelledMetrics(
                        service: name, version: stable.description, role: "stable",
                        metrics: await traffic.metrics(service: name, version: stable, role: .stable)))
            }
            if let view, !view.rollout.isTerminal {
                let rollout = view.rollout
                series.append(
                    LabelledMetrics(
                        service: name, version: rollout.candidateVersion.description, role: "canary",
                        metrics: await traffic.metrics(service: name, version: rollout.candidateVersion, role: .candidate)))
                if rollout.usesBaseline, let stable = rollout.stableVersion {
                    series.append(
                        LabelledMetrics(
                            service: name, version: stable.description, role: "baseline",
                            metrics: await traffic.metrics(service: name, version: stable, role: .baseline)))
                }
            }
            // Counted apart: how much of the candidate's traffic Ripcord sent itself (analysis.syntheticTraffic).
            if let view, view.syntheticRequests > 0 {
                synthetic.append("ripcord_synthetic_requests_total{service=\"\(name)\",version=\"\(view.rollout.candidateVersion)\"} \(view.syntheticRequests)\n")
            }
        }
        var text = PrometheusText.render(series)
        if !synthetic.isEmpty {
            text +=
                "# HELP ripcord_synthetic_requests_total Requests Ripcord sent to the candidate itself while its real traffic was too thin (also counted in its canary series).\n"
                + "# TYPE ripcord_synthetic_requests_total counter\n" + synthetic.joined()
        }
        return text + ControllerMetrics.renderGauges(gauges, leader: !standingBy) + (await telemetry.exposition())
    }
}
