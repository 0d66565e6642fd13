#if canImport(Glibc)
    import Glibc
#endif
import Logging
import RipcordCore
import RipcordDrivers
import RipcordHooks

/// One rollout, from its first effect to its last: it owns the rollout's state machine, its candidate
/// and baseline instances, its analysis and its gating hooks. Inputs — ticks, health reports, metric
/// decisions, hooks finishing, commands — arrive in its mailbox and are handled one at a time: the
/// machine decides (`Rollout.handle`), the transition and its events are saved, then the effects are
/// carried out. Watchers only send messages; nothing but `handle` changes the rollout's state, so no
/// await in the middle of an effect can see it changed underneath.
///
/// Every effect is safe to repeat: after a crash the rollout resumes from the store with the instances
/// that still run (`Controller.recover`), and ensuring candidates, moving traffic or stopping instances
/// again finds the world as far as it got.
actor RolloutReconciler {
    enum Message: Sendable {
        case rollout(RolloutInput)
        /// A baseline instance failed after the candidate was ready (from the health monitor).
        case baselineFailed(InstanceRecord, Trigger)
    }

    /// What status shows of a rollout in progress.
    struct View: Sendable {
        var rollout: Rollout
        var candidate: [InstanceRecord]
        var baseline: [InstanceRecord]
        var syntheticRequests: UInt64
    }

    let service: String
    /// The configuration of the revision the candidate belongs to (an undo may bring back an older one).
    let spec: ServiceSpec
    let controller: Controller
    let parts: RolloutParts
    private(set) var rollout: Rollout
    private var candidate: [InstanceRecord]
    private var baseline: [InstanceRecord]
    private var analysis: (any CandidateAnalysis)?
    /// The candidate's request count when its current weight began, and when a rollout waiting for
    /// evidence last had its requests counted (at most once a second).
    private var requestsAtWeightStart: UInt64?
    private var trafficReportedAt: Moment?
    /// The routers whose silence the events last reported.
    private var routerSilence = RouterSilence()
    /// Synthetic requests sent to the candidate (`runSyntheticTraffic`).
    private var syntheticRequests: UInt64 = 0
    /// The gating hooks the rollout waits for.
    private var hookRun: Task<Void, Never>?
    private let mailbox = Mailbox<Message>()

    init(rollout: Rollout, spec: ServiceSpec, candidate: [InstanceRecord] = [], baseline: [InstanceRecord] = [], controller: Controller, parts: RolloutParts) {
        service = rollout.service
        self.rollout = rollout
        self.spec = spec
        self.candidate = candidate
        self.baseline = baseline
        self.controller = controller
        self.parts = parts
    }

    var view: View { View(rollout: rollout, candidate: candidate, baseline: baseline, syntheticRequests: syntheticRequests) }

    /// Hands a command or a report to the rollout; it is handled after those before it.
    nonisolated func send(_ input: RolloutInput) { mailbox.send(.rollout(input)) }

    /// Runs the rollout to its end: `startEffects` (a new rollout's first actions) first, so an abort that
    /// arrives while instances start is handled after them; then every input until the rollout is finished.
    func run(firstInput: RolloutInput?, startEffects: [RolloutEffect]) async {
        if let firstInput { send(firstInput) }
        var feeders: [@Sendable () async -> Void] = [{ await self.monitorCandidate() }]
        for metric in rollout.analysis?.metrics ?? [] { feeders.append { await self.runMetric(metric) } }
        if let analysis = rollout.analysis, let synthetic = analysis.syntheticTraffic {
            feeders.append { await self.runSyntheticTraffic(synthetic, analysis: analysis) }
        }
        await mailbox.run(
            tick: .rollout(.tick), every: parts.tickInterval, clock: parts.clock, feeders: feeders,
            prepare: { await self.apply(startEffects) }, handle: { await self.handle($0) })
        cancelHooks()
    }

    // MARK: - Handling one input

    /// Returns true once the rollout has finished and its effects are carried out.
    private func handle(_ message: Message) async -> Bool {
        switch message {
        case let .rollout(input):
            return await process(input)
        case let .baselineFailed(instance, trigger):
            await retireBaseline(instance, trigger: trigger)
            return rollout.isTerminal
        }
    }

    private func process(_ input: RolloutInput) async -> Bool {
        let now = parts.clock.now
        var next = rollout
        if case .tick = input, next.awaitingEvidenceSince != nil { await reportTraffic(&next, at: now) }
        var effects = next.handle(input, at: now)
        if case .tick = input, effects.isEmpty, next.analysisActive {
            if let silence = routerSilence.update(await parts.traffic.silentRouters()) {
                effects = [.record(silence)]
            } else if !routerSilence.holdsAnalysis, let measurement = await measure(next, at: now) {
                effects = next.handle(.measurement(measurement), at: now)
            }
        }
        guard !effects.isEmpty || next != rollout else { return rollout.isTerminal }
        if !next.analysisActive { analysis = nil }
        // The transition happens once it is recorded. Inputs such as a crash report or an abort come
        // only once, so a failed save is retried rather than dropped.
        guard let recorded = await save(next, events: effects.compactMap(\.event), at: now) else { return false }
        let before = rollout
        rollout = next
        if !next.isTerminal, next.stepIndex != before.stepIndex || next.candidateWeight != before.candidateWeight {
            // Each step is judged on its own traffic (and a sequential test that finished in an earlier step starts over).
            analysis = nil
            requestsAtWeightStart = await parts.traffic.metrics(service: service, version: next.candidateVersion, role: .candidate).requests
        }
        await parts.recorder.notifier?.deliver(recorded)
        // Before this rollout's own effects: a failure reaches the release's other services at once.
        if let release = next.release { await controller.coordinateRelease(release) }
        await apply(effects.filter { $0.event == nil })
        return rollout.isTerminal
    }

    private func save(_ next: Rollout, events: [EventDraft], at now: Moment) async -> [Event]? {
        for attempt in 1...20 {
            do {
                return try await parts.store.save(next, events: events, at: now)
            } catch {
                parts.logger.error("cannot save rollout \(next.id) (attempt \(attempt)): \(error)")
                if next.phase == .rolledBack {
                    // Safety first even before the record: traffic back to stable.
                    try? await publish(candidateWeight: 0)
                }
                try? await parts.clock.sleep(for: .milliseconds(250 * Int64(attempt)))
            }
        }
        return nil
    }

    /// Tells a rollout that waits for evidence how many requests its candidate has answered at this
    /// weight: at most once a second, and only when the count moved (each report is saved).
    private func reportTraffic(_ next: inout Rollout, at now: Moment) async {
        if let last = trafficReportedAt, now - last < .seconds(1) { return }
        trafficReportedAt = now
        let requests = await parts.traffic.metrics(service: service, version: next.candidateVersion, role: .candidate).requests
        guard let start = requestsAtWeightStart else {
            // Resumed after a restart: count from here.
            requestsAtWeightStart = requests
            return
        }
        let seen = requests >= start ? requests - start : 0
        guard seen != next.requestsAtWeight else { return }
        _ = next.handle(.candidateTraffic(requestsAtWeight: seen), at: now)
    }

    /// Reads the router's measurements of the candidate and of the stable version's instances (the
    /// long-running ones and the baseline's) and asks the rollout's judge for a measurement when one is due.
    private func measure(_ rollout: Rollout, at now: Moment) async -> AnalysisMeasurement? {
        guard rollout.analysisActive else { return nil }
        let traffic = parts.traffic
        var snapshot = AnalysisSnapshot(
            candidate: await traffic.metrics(service: service, version: rollout.candidateVersion, role: .candidate),
            stable: VersionMetrics(), usesBaseline: rollout.usesBaseline)
        if let version = rollout.stableVersion {
            snapshot.stable = await traffic.metrics(service: service, version: version, role: .stable)
            snapshot.baseline = await traffic.metrics(service: service, version: version, role: .baseline)
        }
        guard var current = analysis else {
            let spec = rollout.effectiveAnalysis
            analysis =
                switch spec.judge {
                case .threshold: ThresholdAnalysis(spec: spec, candidate: snapshot.candidate, at: now)
                case let .sequential(sequential): SequentialAnalysis(spec: spec, sequential: sequential, at: snapshot, now: now)
                case let .canaryBaseline(judge): CanaryBaselineAnalysis(spec: spec, judge: judge, at: snapshot, now: now)
                }
            return nil
        }
        let measurement = current.observe(snapshot, at: now)
        analysis = current
        return measurement
    }

    // MARK: - Effects

    private func apply(_ effects: [RolloutEffect]) async {
        for effect in effects {
            do {
                switch effect {
                case .ensureCandidateInstances:
                    try await ensureCandidateInstances()
                case let .setCandidateWeight(weight):
                    try await publish(candidateWeight: weight)
                    if weight == 0, rollout.phase == .rolledBack { await recordTrafficRestored() }
                case let .runHooks(point):
                    await runHooks(point)
                case .stopCandidateInstances:
                    cancelHooks()
                    let leaving = candidate + baseline
                    candidate = []
                    baseline = []
                    try await publish(candidateWeight: 0)
                    await controller.disableDeclaredFlags(of: rollout)
                    if let before = rollout.schemaBefore {
                        // Traffic is back on stable: now the schema it expects (a failure is recorded and does not stop the rollback).
                        try? await changeSchema(to: before)
                    }
                    await parts.instances.drainAndStop(leaving)
                case .replaceStableWithCandidate:
                    // Recorded as stable now, so a restarted controller adopts them as such.
                    let promoted = candidate.map { $0.withRole(.stable) }
                    for instance in promoted { try await parts.store.saveInstance(instance) }
                    let leaving = try await controller.replaceStable(service: service, with: promoted, version: rollout.candidateVersion) + baseline
                    candidate = []
                    baseline = []
                    await parts.instances.drainAndStop(leaving)
                case .record:
                    continue
                }
            } catch {
                parts.logger.error("effect \(effect) on \(service) failed: \(error)")
                if case .ensureCandidateInstances = effect {
                    let kind: TriggerKind = error is SchemaChangeFailed ? .migrationFailed : .instanceFailedToStart
                    send(.candidateFailed(Trigger(kind: kind, message: "\(error)", evidence: (error as? DriverError)?.evidence ?? [:])))
                }
            }
        }
    }

    /// The rollout's side of the service's routing table: candidate and baseline instances join it once
    /// they are healthy (so a pinned request never meets a cold one); the baseline gets the candidate's share.
    /// When users stopped getting the failed version: the end of the time to restore.
    private func recordTrafficRestored() async {
        let decidedAt = rollout.finishedAt ?? parts.clock.now
        let target = rollout.stableVersion.map { "all traffic on \($0) again" } ?? "no traffic to \(rollout.candidateVersion)"
        let afterDecision = parts.clock.now - decidedAt
        // The router's count of what the failed version answered: the impact a post-mortem reports.
        let answered = await parts.traffic.metrics(service: service, version: rollout.candidateVersion, role: .candidate)
        await parts.recorder.record(
            service: service, rolloutID: rollout.id,
            EventDraft(
                .trafficRestored, "\(target), \(afterDecision) after the rollback decision",
                evidence: [
                    "afterDecision": afterDecision.description, "version": rollout.candidateVersion.description,
                    "candidateRequests": String(answered.requests), "candidateErrors": String(answered.errors),
                ]))
    }

    private func publish(candidateWeight weight: Int) async throws {
        let routable = rollout.candidateRoutable
        try await controller.route(
            service: service,
            RolloutBackends(
                candidate: routable ? candidate : [], baseline: routable ? baseline : [], version: rollout.candidateVersion,
                weight: weight, release: routable ? rollout.release : nil, fault: rollout.drill.flatMap { $0.isRouterFault ? $0 : nil }))
        if weight > 0, rollout.drill == .crash { crashCandidates() }
    }

    /// A crash drill: the candidate's processes die the way a faulty build's would, once they have traffic.
    private func crashCandidates() {
        for instance in candidate where instance.pid > 0 { kill(instance.pid, SIGKILL) }
    }

    private func ensureCandidateInstances() async throws {
        guard !rollout.isTerminal else { return }
        // Expand before the new version starts: the stable version keeps running against the new schema.
        if let target = rollout.schemaTarget { try await changeSchema(to: target) }
        candidate = await parts.driver.running(candidate.filter { $0.version == rollout.candidateVersion })
        let missing = spec.instances - candidate.count
        if missing > 0 {
            candidate += try await parts.instances.start(spec: spec, version: rollout.candidateVersion, count: missing, rolloutID: rollout.id, role: .candidate)
        }
        try await ensureBaselineInstances(count: spec.instances)
    }

    /// A baseline is as many fresh instances of the stable version (run as its revision says) as the candidate has.
    private func ensureBaselineInstances(count: Int) async throws {
        guard rollout.usesBaseline, let stableVersion = rollout.stableVersion else { return }
        baseline = await parts.driver.running(baseline.filter { $0.version == stableVersion })
        guard baseline.count < count else { return }
        let stableSpec = try await parts.store.stableRevision(service: service)?.spec ?? spec
        baseline += try await parts.instances.start(spec: stableSpec, version: stableVersion, count: count - baseline.count, rolloutID: rollout.id, role: .baseline)
    }

    /// A baseline instance that fails is not the candidate's fault, but the comparison can no longer be
    /// trusted: it leaves rotation and the rollout holds until a human decides.
    private func retireBaseline(_ instance: InstanceRecord, trigger: Trigger) async {
        guard baseline.contains(where: { $0.id == instance.id }) else { return }
        baseline.removeAll { $0.id == instance.id }
        try? await publish(candidateWeight: rollout.isTerminal ? 0 : rollout.candidateWeight)
        _ = await process(.pauseForHuman(Self.baselineTrigger(trigger)))
        await parts.instances.stop(instance)
    }

    static func baselineTrigger(_ trigger: Trigger) -> Trigger {
        Trigger(
            kind: trigger.kind, message: "baseline \(trigger.message): the canary cannot be compared with it",
            evidence: trigger.evidence.merging(["role": InstanceRole.baseline.rawValue]) { ours, _ in ours })
    }

    // MARK: - Schema

    /// Brings the database to `target` for the candidate's version and records each script run. Safe to repeat.
    private func changeSchema(to target: String) async throws {
        guard let migrations = spec.migrations else { return }
        let runs: [SchemaScriptRun]
        do {
            guard let migrator = parts.schema else { throw ControllerError(.invalid, "migrations_unsupported", "this controller has no schema migrator") }
            runs = try await migrator.change(migrations, to: target, version: rollout.candidateVersion, service: service)
        } catch {
            await parts.recorder.record(
                service: service, rolloutID: rollout.id,
                EventDraft(
                    .migrationFailed, "schema change to \(target) for \(rollout.candidateVersion) failed: \(error)",
                    evidence: ["target": target, "error": "\(error)"]))
            throw SchemaChangeFailed(description: "schema change to \(target) failed: \(error)")
        }
        guard !runs.isEmpty else { return }
        try await parts.store.record(
            service: service, rolloutID: rollout.id,
            events: runs.map { run in
                EventDraft(
                    run.direction == "undo" ? .migrationUndone : .migrationApplied, "\(run.direction) \(run.script) in \(run.duration)",
                    evidence: ["script": run.script, "version": run.version ?? "", "direction": run.direction, "duration": run.duration.description, "schema": target])
            }, at: parts.clock.now)
    }

    // MARK: - Hooks

    /// The service's hooks at a point run one after the other, each recorded with its result, output and
    /// duration. At gating points they run beside the mailbox (an abort still gets through) and report
    /// `hooksFinished`; the first failure is the rollback's trigger.
    private func runHooks(_ point: HookPoint) async {
        let hooks = spec.hooks.filter { $0.point == point }
        let context = HookContext(
            point: point, service: service, rolloutID: rollout.id, version: rollout.candidateVersion.description,
            stableVersion: rollout.stableVersion?.description, phase: rollout.phase.rawValue,
            candidateWeight: rollout.candidateWeight, step: point == .afterStep ? rollout.stepIndex : nil,
            frontDoor: await controller.frontDoor(of: service).description, trigger: rollout.trigger?.kind.rawValue)
        guard point.gatesRollout else {
            // Told what happened; the outcome changes nothing.
            _ = await runInOrder(hooks, context: context)
            return
        }
        hookRun?.cancel()
        hookRun = Task {
            let failure = await self.runInOrder(hooks, context: context)
            if !Task.isCancelled { self.send(.hooksFinished(point, failure: failure)) }
        }
    }

    private func cancelHooks() {
        hookRun?.cancel()
        hookRun = nil
    }

    /// Returns the first failure of a gating hook as a trigger; later hooks at the point do not run.
    private nonisolated func runInOrder(_ hooks: [HookSpec], context: HookContext) async -> Trigger? {
        for hook in hooks {
            let outcome = await parts.hooks.run(hook, context: context)
            guard !Task.isCancelled else { return nil }
            let evidence = [
                "hook": hook.name, "point": context.point.rawValue, "result": outcome.result,
                "output": outcome.output, "duration": outcome.duration.description,
            ]
            let verdict = outcome.passed ? "passed" : "failed"
            await parts.recorder.record(
                service: context.service, rolloutID: context.rolloutID,
                EventDraft(
                    outcome.passed ? .hookPassed : .hookFailed, "hook \(hook.name) (\(context.point.rawValue)) \(verdict): \(outcome.result) in \(outcome.duration)",
                    evidence: evidence))
            if !outcome.passed, context.point.gatesRollout {
                return Trigger(kind: .hookFailed, message: "hook \(hook.name) (\(context.point.rawValue)) \(outcome.result)", evidence: evidence)
            }
        }
        return nil
    }

    // MARK: - Watchers (they only send messages)

    /// Watches the candidate's instances (and the baseline's): reports `candidateReady` once all pass
    /// their health check, and `candidateFailed` when one exits or, once healthy, fails its check repeatedly.
    private func monitorCandidate() async {
        var successes: [String: Int] = [:]
        var failures: [String: Int] = [:]
        var healthy: Set<String> = []
        var reportedReady = false
        var retired: Set<String> = []
        let check = spec.healthCheck
        while !Task.isCancelled {
            let watched = view
            guard !watched.rollout.isTerminal else { return }
            let instances = (watched.candidate + watched.baseline).filter { !retired.contains($0.id) }
            let expected = spec.instances * (watched.rollout.usesBaseline ? 2 : 1)
            let checks = await withTaskGroup(of: (InstanceRecord, String?, HealthProbe.Result?).self) { group in
                for instance in instances {
                    group.addTask {
                        if let exit = await self.parts.driver.exitStatus(of: instance) { return (instance, exit, nil) }
                        if !(await self.parts.driver.isRunning(instance)) { return (instance, "is no longer running", nil) }
                        return (instance, nil, await self.parts.probe.check(instance.address, spec: check))
                    }
                }
                var results: [(InstanceRecord, String?, HealthProbe.Result?)] = []
                for await result in group { results.append(result) }
                return results
            }
            for (instance, exit, result) in checks {
                var trigger: Trigger?
                if let exit {
                    trigger = Trigger(
                        kind: .instanceCrashed, message: "instance \(instance.id) \(exit)",
                        evidence: [
                            "instance": instance.id, "pid": String(instance.pid), "exit": exit,
                            "uptime": (parts.clock.now - instance.startedAt).description,
                        ])
                }
                switch result {
                case .healthy?:
                    failures[instance.id] = 0
                    successes[instance.id, default: 0] += 1
                    if successes[instance.id]! >= check.healthyThreshold { healthy.insert(instance.id) }
                case let .unhealthy(reason)?:
                    successes[instance.id] = 0
                    failures[instance.id, default: 0] += 1
                    if healthy.contains(instance.id), failures[instance.id]! >= check.unhealthyThreshold {
                        trigger = Trigger(
                            kind: .healthCheckFailed, message: "instance \(instance.id) failed \(failures[instance.id]!) health checks in a row: \(reason)",
                            evidence: ["instance": instance.id, "lastResult": reason, "consecutiveFailures": String(failures[instance.id]!)])
                    }
                case nil:
                    break
                }
                guard let trigger else { continue }
                if instance.role == .baseline, reportedReady {
                    retired.insert(instance.id)
                    mailbox.send(.baselineFailed(instance, trigger))
                    continue
                }
                send(.candidateFailed(instance.role == .baseline ? Self.baselineTrigger(trigger) : trigger))
                return
            }
            if !reportedReady, instances.count >= expected, instances.allSatisfy({ healthy.contains($0.id) }) {
                reportedReady = true
                send(.candidateReady)
            }
            // Poll quickly until ready, so a crash at start is caught at once; then at the configured interval.
            try? await parts.clock.sleep(for: reportedReady ? check.interval : min(check.interval, .milliseconds(200)))
        }
    }

    /// Measures one analysis metric while the analysis is active, and tells the rollout when the metric
    /// fails (roll back) or stays inconclusive (pause or roll back).
    private nonisolated func runMetric(_ spec: MetricSpec) async {
        await parts.metrics.watch(spec, service: service) {
            let rollout = await self.rollout
            guard !rollout.isTerminal else { return .stop }
            guard rollout.analysisActive else { return .wait }
            return .measure(
                MetricSubject(
                    rolloutID: rollout.id, version: rollout.candidateVersion, role: .candidate,
                    stableVersion: rollout.stableVersion))
        } decided: { decision in
            switch decision {
            case .measured, .complete:
                break
            case let .failed(trigger, _):
                self.send(.candidateFailed(trigger))
            case let .inconclusive(trigger, action, _):
                self.send(action == .rollback ? .candidateFailed(trigger) : .pauseForHuman(trigger))
            }
            return true
        }
    }

    func countSynthetic(_ sent: UInt64) { syntheticRequests = sent }
}

/// What every rollout's reconciler works with: the controller's seams and settings.
struct RolloutParts: Sendable {
    let store: any StateStore
    let driver: any InstanceDriver
    let traffic: any TrafficManager
    let probe: any HealthChecker
    let hooks: any HookRunner
    let schema: (any SchemaMigrator)?
    let instances: Instances
    let metrics: MetricWatcher
    let recorder: EventRecorder
    let clock: any RipcordClock
    let tickInterval: TimeSpan
    let logger: Logger
}

/// The rollout's side of a service's routing table, as its reconciler last published it.
struct RolloutBackends: Sendable {
    var candidate: [InstanceRecord]
    var baseline: [InstanceRecord]
    var version: SemanticVersion
    var weight: Int
    var release: Int64?
    /// A drill's fault, for the router to apply to the candidate's requests.
    var fault: InjectedFault? = nil
}

struct SchemaChangeFailed: Error, CustomStringConvertible {
    var description: String
}
