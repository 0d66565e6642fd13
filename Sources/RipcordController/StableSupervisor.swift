import RipcordDrivers
import Logging
import RipcordCore

extension Controller {
    /// Keeps every service's stable set whole between and during rollouts: an instance that exits is taken
    /// out of rotation at once, recorded with its exit status, and replaced by a healthy one.
    ///
    /// One loop for all services rather than a task each: it wakes when a look is due, asks the driver at
    /// once about the stable instances of every service whose look interval (`lookInterval`) has passed
    /// since its last look, and only a service found short gets a task of its own to repair it (a repair waits for
    /// new instances to be healthy, which must not hold up the others). A thousand idle services so cost
    /// one wake and one batch of checks per interval, not a thousand turns of a thousand tasks.
    ///
    /// When each service is due is `StableLookSchedule`'s to decide.
    func superviseStable() async {
        var schedule = StableLookSchedule()
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            let now = clock.now
            schedule.follow(services, now: now, interval: Self.lookInterval, using: &random)
            var due: [(name: String, stable: [InstanceRecord])] = []
            for name in schedule.due(at: now) where stableRepairs[name] == nil {
                // A service's state read once per look.
                guard let state = services[name] else { continue }
                schedule.looked(at: name, now: now, interval: Self.lookInterval(state))
                if state.stableVersion != nil { due.append((name, state.stable)) }
            }
            if !due.isEmpty { await lookAtStableSets(due) }
            try? await clock.sleep(for: schedule.sleep(from: clock.now))
        }
    }

    /// A service's `healthCheck.interval`, or longer where the driver's answers stand longer (a command
    /// driver's `checkInterval`): a thousand services checked every 30 s are looked at 33 times a second,
    /// not a thousand, and an exit is noticed as soon as before.
    static func lookInterval(_ state: ServiceState) -> TimeSpan {
        max(state.spec.healthCheck.interval, state.spec.driver.answerStands)
    }

    /// Asks the driver about the stable instances of `due` at once, and starts a repair for each service
    /// found short (or not yet known whole since its set changed).
    private func lookAtStableSets(_ due: [(name: String, stable: [InstanceRecord])]) async {
        let alive = Set(await driver.running(due.flatMap(\.stable)).map(\.id))
        for (name, looked) in due where stableRepairs[name] == nil {
            guard let state = services[name], state.stable == looked else { continue }
            // Whole, and known whole since the set last changed: nothing to read, nothing to start.
            if looked.allSatisfy({ alive.contains($0.id) }) && state.stableFoundWhole == looked.map(\.id) { continue }
            stableRepairs[name] = Task {
                await self.restoreStableSet(service: name)
                self.stableRepairDone(name)
            }
        }
    }

    private func stableRepairDone(_ name: String) { stableRepairs[name] = nil }

    /// Stops supervising: the loop and every repair under way (before instances are stopped on purpose).
    func stopSupervisingStable() async {
        stableSupervision?.cancel()
        await stableSupervision?.value
        stableSupervision = nil
        let repairs = stableRepairs.values
        for task in repairs { task.cancel() }
        for task in repairs { await task.value }
        stableRepairs = [:]
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
        guard let latest = services[name], latest.stableFoundWhole != latest.stable.map(\.id),
            let revision = try? await store.stableRevision(service: name), revision.version == version
        else { return }
        let current = latest.stable
        guard current.count < revision.spec.instances else {
            services[name]?.stableFoundWhole = current.map(\.id)
            return
        }
        guard let started = try? await instances.start(spec: revision.spec, version: version, count: revision.spec.instances - current.count, rolloutID: nil, role: .stable)
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
