import RipcordCore

/// `ripcord restart`: the stable instances replaced one by one, as a rolling restart does. A fresh
/// instance joins the routing table only once healthy, and only then is an old one taken out,
/// drained and stopped — so the service never has fewer healthy instances than before.
extension Controller {
    public func restart(service name: String, actor: String? = nil) async throws -> String {
        guard services[name] != nil else { throw unknownService(name) }
        try await ensureNoActiveRollout(name)
        guard let version = services[name]?.stableVersion, let revision = try await store.stableRevision(service: name),
            revision.version == version
        else {
            throw ControllerError(.conflict, "nothing_to_restart", "\(name) has no stable version running")
        }
        // No rollout may begin while instances are being swapped.
        services[name]?.beginning = true
        defer { services[name]?.beginning = false }
        let leaving = services[name]?.stable ?? []
        await recordEvent(
            service: name, rolloutID: nil,
            EventDraft(
                .restartStarted, "restarting \(leaving.count) instances of \(name) \(version), one by one", actor: actor))
        for (index, old) in leaving.enumerated() {
            let fresh = try await instances.start(spec: revision.spec, version: version, count: 1, rolloutID: nil, role: .stable)
            guard await instances.waitUntilHealthy(fresh, spec: revision.spec) else {
                for instance in fresh { await instances.stop(instance) }
                let message =
                    "a fresh instance of \(name) \(version) was not healthy within \(revision.spec.startupDeadline): restart stopped after \(index) of \(leaving.count); the others still serve"
                await recordEvent(service: name, rolloutID: nil, EventDraft(.restartFailed, message, actor: actor))
                throw ControllerError(.conflict, "restart_failed", message)
            }
            services[name]?.stable.append(contentsOf: fresh)
            try await publishRoutes(service: name)
            services[name]?.stable.removeAll { $0.id == old.id }
            try await publishRoutes(service: name)
            await instances.drainAndStop([old])
        }
        let message = "restarted \(leaving.count) instances of \(name) \(version)"
        await recordEvent(service: name, rolloutID: nil, EventDraft(.restartFinished, message, actor: actor))
        return message
    }
}
