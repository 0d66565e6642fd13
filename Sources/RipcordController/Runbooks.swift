import RipcordCore
import RipcordInsights

extension Controller {
    /// `ripcord runbook SERVICE`: the rollback procedure from the service's configuration and state now.
    public func runbook(service name: String) async throws -> Runbook {
        guard let spec = services[name]?.spec else { throw unknownService(name) }
        let live = await services[name]?.reconciler?.view.rollout
        let state = Runbook.State(
            stable: try await store.stableRevision(service: name),
            previous: try? await planUndo(service: name, toRevision: nil).target,
            rolloutInProgress: live.flatMap { $0.isTerminal ? nil : $0 },
            rejected: try await store.rejections(service: name).map(\.version.description),
            migrationEvents: try await store.events(
                kinds: [.migrationApplied, .migrationUndone], since: Moment(millisecondsSinceEpoch: 0), service: name, limit: 10_000),
            releases: try await store.releases(limit: 200),
            lastDrill: try await drillHistory(service: name).first.map {
                Runbook.DrillResult(at: $0.at, passed: $0.kind == .drillPassed, summary: $0.evidence["reason"] ?? $0.message)
            })
        return Runbook(spec: spec, state: state)
    }
}
