import RipcordDrivers
import Logging
import RipcordCore

extension Controller {
    /// Keeps a service's stable set whole between and during rollouts: an instance that exits is taken
    /// out of rotation at once, recorded with its exit status, and replaced by a healthy one.
    func superviseStable(service name: String) async {
        while !Task.isCancelled {
            await supervisorTimer.sleep(for: services[name]?.spec.healthCheck.interval ?? .seconds(1))
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

/// One timer for every stable supervisor. Each still waits its interval from when its last look ended,
/// as with a sleep of its own, but a thousand services' waits cost a wake every `granularity` rather
/// than a thousand timers a second (each timer wakes the runtime's timer thread and a worker).
actor SupervisorTimer {
    static let granularity: TimeSpan = .milliseconds(100)
    private let clock: any RipcordClock
    private var waiting: [UInt64: (due: Moment, continuation: CheckedContinuation<Void, Never>)] = [:]
    /// Waits are told apart by a counter: a UUID each would read /dev/urandom a thousand times a second.
    private var lastID: UInt64 = 0
    private var ticking: Task<Void, Never>?

    init(clock: any RipcordClock) {
        self.clock = clock
    }

    /// Returns once `span` has passed (at the next tick after it), or at once when the waiting task is cancelled.
    func sleep(for span: TimeSpan) async {
        lastID += 1
        let id = lastID
        let due = clock.now + span
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard !Task.isCancelled else { return continuation.resume() }
                waiting[id] = (due, continuation)
                if ticking == nil { ticking = Task { await self.tick() } }
            }
        } onCancel: {
            Task { await self.wake(id) }
        }
    }

    private func tick() async {
        while !waiting.isEmpty {
            try? await clock.sleep(for: Self.granularity)
            let now = clock.now
            let due = waiting.filter { $0.value.due <= now }
            guard !due.isEmpty else { continue }
            waiting = waiting.filter { $0.value.due > now }
            for waiter in due.values { waiter.continuation.resume() }
        }
        ticking = nil
    }

    private func wake(_ id: UInt64) {
        waiting.removeValue(forKey: id)?.continuation.resume()
    }
}
