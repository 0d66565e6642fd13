import RipcordDrivers
import Logging
import RipcordCore

extension Controller {
    /// Keeps a service's stable set whole between and during rollouts: an instance that exits is taken
    /// out of rotation at once, recorded with its exit status, and replaced by a healthy one.
    func superviseStable(service name: String) async {
        while !Task.isCancelled {
            let interval = services[name]?.spec.healthCheck.interval ?? .seconds(1)
            try? await clock.sleep(for: interval)
            if Task.isCancelled { return }
            await restoreStableSet(service: name)
        }
    }

    func restoreStableSet(service name: String) async {
        guard let state = services[name], let version = state.stableVersion else { return }
        let running = await driver.running(state.stable)
        let dead = state.stable.filter { !running.contains($0) }
        if !dead.isEmpty {
            let deadIDs = Set(dead.map(\.id))
            let alive = state.stable.filter { !deadIDs.contains($0.id) }
            services[name]?.stable = alive
            try? await publishRoutes(service: name)
            for instance in dead {
                let exit = await driver.exitStatus(of: instance) ?? "is no longer running"
                do {
                    try await store.removeInstance(id: instance.id)
                    try await store.record(
                        service: name, rolloutID: nil,
                        events: [
                            EventDraft(
                                .instanceExited, "stable instance \(instance.id) \(exit); taken out of rotation and replaced",
                                evidence: ["instance": instance.id, "pid": String(instance.pid), "exit": exit, "version": version.description])
                        ],
                        at: clock.now)
                } catch {
                    logger.error("cannot record the exit of \(instance.id): \(error)")
                }
            }
        }
        guard let revision = try? await store.stableRevision(service: name), revision.version == version,
            let current = services[name]?.stable, current.count < revision.spec.instances,
            let started = try? await instances.start(spec: revision.spec, version: version, count: revision.spec.instances - current.count, rolloutID: nil, role: .stable)
        else { return }
        _ = await instances.waitUntilHealthy(started, spec: revision.spec)
        var healthy: [InstanceRecord] = []
        for instance in started {
            let passes = await probe.check(instance.address, spec: revision.spec.healthCheck) == .healthy
            if passes, await driver.isRunning(instance), services[name]?.stableVersion == version {
                healthy.append(instance)
            } else {
                await instances.stop(instance)
            }
        }
        guard !healthy.isEmpty else { return }
        let stable = services[name]?.stable ?? []
        services[name]?.stable = stable + healthy
        try? await publishRoutes(service: name)
    }
}
