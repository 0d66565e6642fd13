import Foundation
import RipcordCore
import RipcordDrivers

/// The reconciler of one rollout: a processor that feeds every input to the state machine, persists
/// the transition with its events, then carries out the effects; and child tasks that feed it — a
/// ticker, a health monitor of the candidate's instances, and one runner per analysis metric.
extension Controller {
    /// Starts the rollout's reconciler. `startEffects` (a new rollout's first actions) run inside the
    /// processor before any input, so an abort that arrives while instances start is handled after them.
    func launchReconciler(_ rollout: Rollout, firstInput: RolloutInput?, startEffects: [RolloutEffect] = []) {
        let name = rollout.service
        let id = rollout.id
        let (inputs, mailbox) = AsyncStream.makeStream(of: RolloutInput.self)
        services[name]?.rollout = rollout
        services[name]?.mailbox = mailbox
        services[name]?.analysis = nil
        services[name]?.syntheticRequests = 0
        if let firstInput { mailbox.yield(firstInput) }
        let tick = settings.tickInterval
        let clock = self.clock
        reconcilers[name] = Task {
            // The rollout lives as long as its processor; the ticker and the health monitor are its
            // children and stop with it (the monitor may finish earlier, after reporting a failure).
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await clock.sleep(for: tick)
                        mailbox.yield(.tick)
                    }
                }
                group.addTask { await self.monitorCandidate(service: name, mailbox: mailbox) }
                for metric in rollout.analysis?.metrics ?? [] {
                    group.addTask { await self.runMetric(metric, service: name, mailbox: mailbox) }
                }
                if let analysis = rollout.analysis, let synthetic = analysis.syntheticTraffic {
                    group.addTask { await self.runSyntheticTraffic(synthetic, analysis: analysis, service: name) }
                }
                await self.apply(startEffects, service: name, rolloutID: id)
                for await input in inputs {
                    if await self.process(input, service: name, rolloutID: id) { break }
                }
                group.cancelAll()
            }
            mailbox.finish()
            self.reconcilerFinished(service: name, rolloutID: id)
        }
    }

    /// Clears the service's reconciler handles — unless a newer rollout has taken them over while this
    /// one was still draining its last effects.
    private func reconcilerFinished(service name: String, rolloutID: Int64) {
        guard let rollout = services[name]?.rollout, rollout.id == rolloutID else { return }
        services[name]?.mailbox = nil
        reconcilers[name] = nil
        cancelHooks(service: name)
        startGuardWindow(service: name, promoted: rollout)
    }

    /// Feeds one input to the machine. Returns true once the rollout has finished.
    func process(_ input: RolloutInput, service name: String, rolloutID: Int64) async -> Bool {
        guard var rollout = services[name]?.rollout, rollout.id == rolloutID else { return true }
        let now = clock.now
        if case .tick = input, rollout.awaitingEvidenceSince != nil { await reportTraffic(&rollout, service: name, at: now) }
        var effects = rollout.handle(input, at: now)
        if case .tick = input, effects.isEmpty, let measurement = await measure(rollout, service: name, at: now) {
            effects = rollout.handle(.measurement(measurement), at: now)
        }
        guard !effects.isEmpty || rollout != services[name]?.rollout else { return rollout.isTerminal }
        if !rollout.analysisActive { services[name]?.analysis = nil }
        // The transition happens once it is recorded. Inputs such as a crash report or an abort come
        // only once, so a failed save is retried rather than dropped.
        var saved = false
        var recorded: [Event] = []
        for attempt in 1...20 where !saved {
            do {
                recorded = try await store.save(rollout, events: effects.compactMap(\.event), at: now)
                saved = true
            } catch {
                logger.error("cannot save rollout \(rollout.id) (attempt \(attempt)): \(error)")
                if rollout.phase == .rolledBack {
                    // Safety first even before the record: traffic back to stable.
                    try? await publishBackends(service: name, candidateWeight: 0)
                }
                try? await clock.sleep(for: .milliseconds(250 * Int64(attempt)))
            }
        }
        guard saved else { return false }
        guard let before = services[name]?.rollout, before.id == rolloutID else { return true }
        // Memory follows the store with no suspension in between: the API never shows an older state than it saved.
        services[name]?.rollout = rollout
        if !rollout.isTerminal, rollout.stepIndex != before.stepIndex || rollout.candidateWeight != before.candidateWeight {
            // Each step is judged on its own traffic (and a sequential test that finished in an earlier step starts over).
            services[name]?.analysis = nil
            services[name]?.requestsAtWeightStart = await traffic.metrics(service: name, version: rollout.candidateVersion, role: .candidate).requests
        }
        await notifier?.deliver(recorded)
        // Before this rollout's own effects: a failure reaches the release's other services at once.
        if let release = rollout.release { await coordinateRelease(release) }
        await apply(effects.filter { $0.event == nil }, service: name, rolloutID: rolloutID)
        return rollout.isTerminal
    }

    /// Tells a rollout that waits for evidence how many requests its candidate has answered at this
    /// weight: at most once a second, and only when the count moved (each report is saved).
    private func reportTraffic(_ rollout: inout Rollout, service name: String, at now: Moment) async {
        if let last = services[name]?.trafficReportedAt, now - last < .seconds(1) { return }
        services[name]?.trafficReportedAt = now
        let requests = await traffic.metrics(service: name, version: rollout.candidateVersion, role: .candidate).requests
        guard let start = services[name]?.requestsAtWeightStart else {
            // Resumed after a restart: count from here.
            services[name]?.requestsAtWeightStart = requests
            return
        }
        let seen = requests >= start ? requests - start : 0
        guard seen != rollout.requestsAtWeight else { return }
        _ = rollout.handle(.candidateTraffic(requestsAtWeight: seen), at: now)
    }

    /// Reads the router's measurements of the candidate and of the stable version's instances (the
    /// long-running ones and the baseline's) and asks the rollout's judge for a measurement when one is due.
    private func measure(_ rollout: Rollout, service name: String, at now: Moment) async -> AnalysisMeasurement? {
        guard rollout.analysisActive else { return nil }
        var snapshot = AnalysisSnapshot(candidate: await traffic.metrics(service: name, version: rollout.candidateVersion, role: .candidate),
                                        stable: VersionMetrics(), usesBaseline: rollout.usesBaseline)
        if let version = rollout.stableVersion {
            snapshot.stable = await traffic.metrics(service: name, version: version, role: .stable)
            snapshot.baseline = await traffic.metrics(service: name, version: version, role: .baseline)
        }
        guard var analysis = services[name]?.analysis else {
            let spec = rollout.effectiveAnalysis
            services[name]?.analysis = switch spec.judge {
            case .threshold: ThresholdAnalysis(spec: spec, candidate: snapshot.candidate, at: now)
            case let .sequential(sequential): SequentialAnalysis(spec: spec, sequential: sequential, at: snapshot, now: now)
            case let .canaryBaseline(judge): CanaryBaselineAnalysis(spec: spec, judge: judge, at: snapshot, now: now)
            }
            return nil
        }
        let measurement = analysis.observe(snapshot, at: now)
        services[name]?.analysis = analysis
        return measurement
    }

    func apply(_ effects: [RolloutEffect], service name: String, rolloutID: Int64) async {
        for effect in effects {
            do {
                switch effect {
                case .ensureCandidateInstances:
                    try await ensureCandidateInstances(service: name, rolloutID: rolloutID)
                case let .setCandidateWeight(weight):
                    try await publishBackends(service: name, candidateWeight: weight)
                case let .runHooks(point):
                    await runHooks(point, service: name, rolloutID: rolloutID)
                case .stopCandidateInstances:
                    cancelHooks(service: name)
                    let leaving = (services[name]?.candidate ?? []) + (services[name]?.baseline ?? [])
                    services[name]?.candidate = []
                    services[name]?.baseline = []
                    try await publishBackends(service: name, candidateWeight: 0)
                    if let rollout = services[name]?.rollout, rollout.id == rolloutID { await disableDeclaredFlags(of: rollout) }
                    if let rollout = services[name]?.rollout, rollout.id == rolloutID, let before = rollout.schemaBefore {
                        // Traffic is back on stable: now the schema it expects (a failure is recorded and does not stop the rollback).
                        try? await ensureSchema(before, version: rollout.candidateVersion, rolloutID: rolloutID, service: name)
                    }
                    await drainAndStop(leaving)
                case .replaceStableWithCandidate:
                    guard let state = services[name], let rollout = state.rollout else { continue }
                    let leaving = state.stable + state.baseline
                    // Recorded as stable now, so a restarted controller adopts them as such.
                    let promoted = state.candidate.map { $0.withRole(.stable) }
                    for instance in promoted { try await store.saveInstance(instance) }
                    services[name]?.stable = promoted
                    services[name]?.stableVersion = rollout.candidateVersion
                    services[name]?.candidate = []
                    services[name]?.baseline = []
                    try await publishBackends(service: name, candidateWeight: 0)
                    await drainAndStop(leaving)
                case .record:
                    continue
                }
            } catch {
                logger.error("effect \(effect) on \(name) failed: \(error)")
                if case .ensureCandidateInstances = effect {
                    let kind: TriggerKind = error is SchemaChangeFailed ? .migrationFailed : .instanceFailedToStart
                    let evidence = (error as? DriverError)?.evidence ?? [:]
                    services[name]?.mailbox?.yield(.candidateFailed(Trigger(kind: kind, message: "\(error)", evidence: evidence)))
                }
            }
        }
    }

    private func ensureCandidateInstances(service name: String, rolloutID: Int64) async throws {
        guard let state = services[name], let rollout = state.rollout, rollout.id == rolloutID, !rollout.isTerminal else { return }
        let spec = state.candidateSpec ?? state.spec
        // Expand before the new version starts: the stable version keeps running against the new schema.
        if let target = rollout.schemaTarget {
            try await ensureSchema(target, version: rollout.candidateVersion, rolloutID: rollout.id, service: name)
        }
        let running = await driver.running(state.candidate.filter { $0.version == rollout.candidateVersion })
        let missing = spec.instances - running.count
        services[name]?.candidate = running
        if missing > 0 {
            let started = try await startInstances(spec: spec, version: rollout.candidateVersion, count: missing, rolloutID: rollout.id, role: .candidate)
            let current = services[name]?.candidate ?? []
            services[name]?.candidate = current + started
        }
        try await ensureBaselineInstances(service: name, rollout: rollout, count: spec.instances)
    }

    /// A baseline is as many fresh instances of the stable version (run as its revision says) as the candidate has.
    private func ensureBaselineInstances(service name: String, rollout: Rollout, count: Int) async throws {
        guard rollout.usesBaseline, let stableVersion = rollout.stableVersion, let state = services[name] else { return }
        let running = await driver.running(state.baseline.filter { $0.version == stableVersion })
        services[name]?.baseline = running
        guard running.count < count else { return }
        let spec = try await store.stableRevision(service: name)?.spec ?? state.spec
        let started = try await startInstances(spec: spec, version: stableVersion, count: count - running.count, rolloutID: rollout.id, role: .baseline)
        let current = services[name]?.baseline ?? []
        services[name]?.baseline = current + started
    }

    func startInstances(spec: ServiceSpec, version: SemanticVersion, count: Int, rolloutID: Int64?, role: InstanceRole) async throws -> [InstanceRecord] {
        var started: [InstanceRecord] = []
        for _ in 0..<count {
            let port = try driver.freePort()
            let instance = try await driver.start(service: spec, version: version, port: port, at: clock.now).withRole(role)
            try await store.saveInstance(instance)
            try await store.record(service: spec.name, rolloutID: rolloutID, events: [EventDraft(
                "instance.started", "started \(spec.name) \(version) as \(role.rawValue) on \(instance.address)\(instance.pid > 0 ? " (pid \(instance.pid))" : "")",
                evidence: ["instance": instance.id, "pid": String(instance.pid), "port": String(port), "address": instance.address.description,
                           "version": version.description, "role": role.rawValue])],
                at: clock.now)
            started.append(instance)
        }
        return started
    }

    func drainAndStop(_ instances: [InstanceRecord]) async {
        guard !instances.isEmpty else { return }
        try? await clock.sleep(for: settings.drainDelay)
        await withTaskGroup(of: Void.self) { group in
            for instance in instances {
                group.addTask {
                    await self.driver.stop(instance, grace: self.settings.stopGrace)
                    try? await self.store.removeInstance(id: instance.id)
                }
            }
        }
    }

    /// Publishes the service's backends: the baseline gets the candidate's share, stable instances the rest.
    /// Candidate and baseline instances join the table once they are healthy (so a pinned request never meets a cold one).
    func publishBackends(service name: String, candidateWeight: Int) async throws {
        guard let state = services[name] else { return }
        let candidateServing = state.rollout?.candidateRoutable ?? false
        let candidate = candidateServing ? state.candidate : []
        let baseline = candidateServing ? state.baseline : []
        let backends = Backend.split(stable: state.stable.map(\.address), stableVersion: state.stableVersion,
                                     candidate: candidate.map(\.address), candidateVersion: state.rollout?.candidateVersion,
                                     candidateWeight: candidateWeight, baseline: baseline.map(\.address))
        try await traffic.setBackends(service: name, backends, release: candidateServing ? state.rollout?.release : nil)
    }

    // MARK: - Health

    /// Watches the candidate's instances (and the baseline's): reports `candidateReady` once all pass
    /// their health check, and `candidateFailed` when one exits or, once healthy, fails its check repeatedly.
    func monitorCandidate(service name: String, mailbox: AsyncStream<RolloutInput>.Continuation) async {
        var successes: [String: Int] = [:]
        var failures: [String: Int] = [:]
        var healthy: Set<String> = []
        var reportedReady = false
        while !Task.isCancelled {
            guard let (instances, spec, expected) = candidateSnapshot(service: name) else { return }
            let checks = await withTaskGroup(of: (InstanceRecord, String?, HealthProbe.Result?).self) { group in
                for instance in instances {
                    group.addTask {
                        if let exit = await self.driver.exitStatus(of: instance) { return (instance, exit, nil) }
                        if !(await self.driver.isRunning(instance)) { return (instance, "is no longer running", nil) }
                        return (instance, nil, await self.probe.check(instance.address, spec: spec.healthCheck))
                    }
                }
                var results: [(InstanceRecord, String?, HealthProbe.Result?)] = []
                for await result in group { results.append(result) }
                return results
            }
            for (instance, exit, result) in checks {
                var trigger: Trigger?
                if let exit {
                    trigger = Trigger(kind: .instanceCrashed, message: "instance \(instance.id) \(exit)",
                                      evidence: ["instance": instance.id, "pid": String(instance.pid), "exit": exit,
                                                 "uptime": (clock.now - instance.startedAt).description])
                }
                switch result {
                case .healthy?:
                    failures[instance.id] = 0
                    successes[instance.id, default: 0] += 1
                    if successes[instance.id]! >= spec.healthCheck.healthyThreshold { healthy.insert(instance.id) }
                case let .unhealthy(reason)?:
                    successes[instance.id] = 0
                    failures[instance.id, default: 0] += 1
                    if healthy.contains(instance.id), failures[instance.id]! >= spec.healthCheck.unhealthyThreshold {
                        trigger = Trigger(kind: .healthCheckFailed, message: "instance \(instance.id) failed \(failures[instance.id]!) health checks in a row: \(reason)",
                                          evidence: ["instance": instance.id, "lastResult": reason, "consecutiveFailures": String(failures[instance.id]!)])
                    }
                case nil:
                    break
                }
                guard let trigger else { continue }
                if instance.role == .baseline, reportedReady {
                    await retireBaseline(instance, service: name, trigger: trigger, mailbox: mailbox)
                    continue
                }
                mailbox.yield(.candidateFailed(instance.role == .baseline ? Self.baselineTrigger(trigger) : trigger))
                return
            }
            if !reportedReady, instances.count >= expected, instances.allSatisfy({ healthy.contains($0.id) }) {
                reportedReady = true
                mailbox.yield(.candidateReady)
            }
            // Poll quickly until ready, so a crash at start is caught at once; then at the configured interval.
            let pause = reportedReady ? spec.healthCheck.interval : min(spec.healthCheck.interval, .milliseconds(200))
            try? await clock.sleep(for: pause)
        }
    }

    /// A baseline instance that fails is not the candidate's fault, but the comparison can no longer be
    /// trusted: it leaves rotation and the rollout holds until a human decides.
    private func retireBaseline(_ instance: InstanceRecord, service name: String, trigger: Trigger,
                                mailbox: AsyncStream<RolloutInput>.Continuation) async {
        services[name]?.baseline.removeAll { $0.id == instance.id }
        try? await publishBackends(service: name, candidateWeight: liveCandidateWeight(service: name))
        mailbox.yield(.pauseForHuman(Self.baselineTrigger(trigger)))
        await driver.stop(instance, grace: settings.stopGrace)
        try? await store.removeInstance(id: instance.id)
    }

    private static func baselineTrigger(_ trigger: Trigger) -> Trigger {
        Trigger(kind: trigger.kind, message: "baseline \(trigger.message): the canary cannot be compared with it",
                evidence: trigger.evidence.merging(["role": InstanceRole.baseline.rawValue]) { ours, _ in ours })
    }

    /// The instances to watch, their spec, and how many must be healthy before the rollout may start.
    private func candidateSnapshot(service name: String) -> ([InstanceRecord], ServiceSpec, Int)? {
        guard let state = services[name], let rollout = state.rollout, !rollout.isTerminal else { return nil }
        let spec = state.candidateSpec ?? state.spec
        return (state.candidate + state.baseline, spec, spec.instances * (rollout.usesBaseline ? 2 : 1))
    }

    /// Waits until every instance passes its health check (used for stable instances at start-up).
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
