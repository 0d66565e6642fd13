import Logging
import RipcordCore
import RipcordDrivers

/// Starting, checking and stopping instances, for the stable set and for rollouts alike: each start is
/// saved (so a restarted controller can adopt it) and recorded as an event.
struct Instances: Sendable {
    let driver: any InstanceDriver
    let store: any StateStore
    let probe: any HealthChecker
    let clock: any RipcordClock
    /// How long removed instances keep serving in-flight requests, and how long a stop may take.
    let drainDelay: TimeSpan
    let stopGrace: TimeSpan

    /// Saves each instance before starting it and again once started, so a controller that dies at any point
    /// between leaves a record a restart stops or adopts (`CrashPoint` marks the points the tests crash at).
    /// A start that fails part-way stops what it had started before it throws: the caller never learns of
    /// those instances, so nothing else would stop them before the next restart (a shutdown that cancels the
    /// start fails its next store write, as GRDB's writes do in a cancelled task).
    func start(spec: ServiceSpec, version: SemanticVersion, count: Int, rolloutID: Int64?, role: InstanceRole) async throws -> [InstanceRecord] {
        var started: [InstanceRecord] = []
        do {
            for _ in 0..<count {
                let port = try driver.freePort()
                let planned = InstanceRecord(
                    id: "\(spec.name)-\(version)-\(port)-\(String(UInt32.random(in: .min ... .max), radix: 16))", service: spec.name,
                    version: version, host: "127.0.0.1", port: port, pid: 0, startedAt: clock.now, role: role, driver: spec.driver, starting: true)
                try await store.saveInstance(planned)
                CrashPoint.reached(.instanceSaved)
                let instance: InstanceRecord
                do {
                    instance = try await driver.start(planned, service: spec)
                } catch {
                    try? await store.removeInstance(id: planned.id)
                    throw error
                }
                started.append(instance)
                CrashPoint.reached(.instanceSpawned)
                try await store.saveInstance(instance)
                CrashPoint.reached(.instanceRecorded)
                try await store.record(
                    service: spec.name, rolloutID: rolloutID,
                    events: [
                        EventDraft(
                            .instanceStarted, "started \(spec.name) \(version) as \(role.rawValue) on \(instance.address)\(instance.pid > 0 ? " (pid \(instance.pid))" : "")",
                            evidence: [
                                "instance": instance.id, "pid": String(instance.pid), "port": String(instance.port), "address": instance.address.description,
                                "version": version.description, "role": role.rawValue,
                            ])
                    ],
                    at: clock.now)
            }
        } catch {
            // In a task of its own: a cancelled one would cut the stops' grace short.
            await Task { [started] in for instance in started { await stop(instance) } }.value
            throw error
        }
        return started
    }

    func stop(_ instance: InstanceRecord) async {
        await driver.stop(instance, grace: stopGrace)
        try? await store.removeInstance(id: instance.id)
    }

    /// Waits `drainDelay` for requests in flight, then stops them all.
    func drainAndStop(_ instances: [InstanceRecord]) async {
        guard !instances.isEmpty else { return }
        try? await clock.sleep(for: drainDelay)
        await withTaskGroup(of: Void.self) { group in
            for instance in instances { group.addTask { await stop(instance) } }
        }
    }

    /// Waits until every instance passes its health check, at most the spec's startup deadline.
    func waitUntilHealthy(_ instances: [InstanceRecord], spec: ServiceSpec) async -> Bool {
        let deadline = clock.now + spec.startupDeadline
        var pending = instances
        while !pending.isEmpty, clock.now < deadline {
            var stillPending: [InstanceRecord] = []
            for instance in await driver.running(pending) {
                if await probe.check(instance.address, spec: spec.healthCheck) != .healthy { stillPending.append(instance) }
            }
            pending = stillPending
            if !pending.isEmpty { try? await clock.sleep(for: .milliseconds(100)) }
        }
        return pending.isEmpty
    }
}

/// Records events outside a transition (guard windows, hooks, migrations) and tells the notifier; a store
/// error is logged, since what the event describes has already happened.
struct EventRecorder: Sendable {
    let store: any RolloutStore
    let notifier: (any EventSink)?
    let clock: any RipcordClock
    let logger: Logger

    func record(service name: String, rolloutID: Int64?, _ event: EventDraft) async {
        do {
            let recorded = try await store.record(service: name, rolloutID: rolloutID, events: [event], at: clock.now)
            await notifier?.deliver(recorded)
        } catch {
            logger.error("cannot record \(event.kind) for \(name): \(error)")
        }
    }
}
