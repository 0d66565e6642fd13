import Foundation
import Logging
import RipcordCore
import RipcordWire
import RipcordDrivers
import RipcordHooks
import RipcordInsights
import RipcordMetricProviders

/// Runs every service: keeps the registry of services, their stable instances and routing tables, takes
/// commands, and starts one `RolloutReconciler` per rollout, which owns everything about that rollout.
public actor Controller {
    public struct Settings: Sendable {
        /// How long removed instances keep serving in-flight requests before they are stopped.
        public var drainDelay: TimeSpan = .seconds(2)
        /// How long a stopping instance may take before it is killed.
        public var stopGrace: TimeSpan = .seconds(5)
        /// How often timers and analysis are checked.
        public var tickInterval: TimeSpan = .milliseconds(100)
        public init() {}
    }

    struct ServiceState {
        var spec: ServiceSpec
        var stableVersion: SemanticVersion?
        var stable: [InstanceRecord] = []
        /// The stable set's instances when the supervisor last found it as large as its revision asks: until
        /// the set changes there is nothing to top up, and the revision is not read again.
        var stableFoundWhole: [String]?
        /// The rollout in progress, and the task that runs it until its last effect is carried out.
        var reconciler: RolloutReconciler?
        var reconcilerTask: Task<Void, Never>?
        /// The service's latest finished rollout (guard windows and alerts look at it).
        var lastRollout: Rollout?
        /// The rollout's side of the routing table, as its reconciler last published it.
        var rolloutBackends: RolloutBackends?
        /// A deploy or undo is between its checks and its reconciler's launch.
        var beginning = false
        /// Standing by: the candidate instances the leader recorded (a leader knows them from its reconciler).
        var recordedCandidates: [InstanceRecord] = []
    }

    /// As loaded at start; a reload replaces its services.
    public internal(set) var config: RipcordConfiguration
    let store: any StateStore
    let driver: any InstanceDriver
    let traffic: any TrafficManager
    let probe: any HealthChecker
    /// Hears about saved events (webhook notifications); nil without any configured.
    let notifier: (any EventSink)?
    /// Turns off the flags a rolled-back release declared (`RolloutFlags.swift`); nil without a flag service.
    let flags: (any FlagSwitch)?
    /// Applies and undoes services' schema migrations (`SchemaChanges.swift`); nil: services with migrations are refused.
    let schemaMigrator: (any SchemaMigrator)?
    let settings: Settings
    let clock: any RipcordClock
    let logger: Logger
    let parts: RolloutParts
    /// Counts and logs every stored event (`Telemetry.swift`).
    let telemetry: Telemetry
    var instances: Instances { parts.instances }
    nonisolated var metricWatcher: MetricWatcher { parts.metrics }
    var services: [String: ServiceState] = [:]
    /// Keeps every service's stable set whole (`StableSupervisor.swift`), and the repairs it started, by service.
    var stableSupervision: Task<Void, Never>?
    var stableRepairs: [String: Task<Void, Never>] = [:]
    /// Per service, while a promoted release is in its guard window (`GuardWindow.swift`).
    var guards: [String: Task<Void, Never>] = [:]
    /// Releases whose members are rolling out, by id (`Releases.swift`).
    var runningReleases: [Int64: Release] = [:]
    /// The stable version's error count when each service's drill began (`Drills.swift`): a drill fails if it grows.
    var drillBaselines: [String: UInt64] = [:]
    /// Drills that run by themselves, by service, and the loop that starts them (`Drills.swift`).
    var scheduledDrills: [String: DrillSchedule] = [:]
    var drillScheduler: Task<Void, Never>?
    /// Bound front-door addresses by service (differs from the config when it asks for port 0).
    public internal(set) var frontDoors: [String: HostPort] = [:]
    /// Another controller leads: this one answers reads from the store and acts on nothing (`StandingBy.swift`).
    public internal(set) var standingBy = false

    public init(
        config: RipcordConfiguration, store: any StateStore, driver: any InstanceDriver, traffic: any TrafficManager,
        probe: any HealthChecker = HealthProbe(), hooks: any HookRunner = HookExecutor(), metrics: any MetricSource = ExternalMetrics(),
        schema: (any SchemaMigrator)? = nil,
        notifier: (any EventSink)? = nil, flags: (any FlagSwitch)? = nil, settings: Settings = Settings(),
        clock: any RipcordClock = WallClock(), logger: Logger = Logger(label: "ripcord.controller")
    ) {
        self.config = config
        self.store = store
        self.driver = driver
        self.traffic = traffic
        self.probe = probe
        self.schemaMigrator = schema
        self.notifier = notifier
        self.flags = flags
        self.settings = settings
        self.clock = clock
        self.logger = logger
        telemetry = Telemetry(store: store, logger: logger)
        let instances = Instances(driver: driver, store: store, probe: probe, clock: clock, drainDelay: settings.drainDelay, stopGrace: settings.stopGrace)
        let recorder = EventRecorder(store: store, notifier: notifier, clock: clock, logger: logger)
        parts = RolloutParts(
            store: store, driver: driver, traffic: traffic, probe: probe, hooks: hooks, schema: schema, instances: instances,
            metrics: MetricWatcher(traffic: traffic, source: metrics, store: store, clock: clock, logger: logger),
            recorder: recorder, clock: clock, tickInterval: settings.tickInterval, logger: logger)
    }

    // MARK: - Start and recovery

    /// Opens every front door, adopts or restarts stable instances, and resumes unfinished rollouts.
    /// Routes come first: every door serves from the instances still running before anything is stopped,
    /// started or resumed, so after a crash the time to serve again is the start time only.
    public func start() async throws {
        standingBy = false
        await telemetry.start()
        let active = try await store.activeRollouts()
        var found: [String: FoundInstances] = [:]
        for spec in config.services {
            services[spec.name] = ServiceState(spec: spec)
            let kept = try await adoptRunning(service: spec.name, activeRollout: active.first { $0.service == spec.name })
            frontDoors[spec.name] = try await traffic.addService(name: spec.name, listen: spec.listen, previewListen: spec.previewListen)
            try await publishRoutes(service: spec.name)
            found[spec.name] = kept
            if case let .sequential(sequential) = spec.analysis?.judge {
                Task.detached(priority: .utility) { SequentialAnalysis.prepare(sequential) }
            }
        }
        // Standalone routers get the table only now that it is whole, and have it before leftovers stop.
        await traffic.routesComplete()
        for spec in config.services {
            try await recover(service: spec.name, found: found[spec.name] ?? FoundInstances(), activeRollout: active.first { $0.service == spec.name })
        }
        stableSupervision = Task { await self.superviseStable() }
        try await recoverReleases(activeRollouts: active)
        try await startDrillScheduler()
    }

    /// What a restart finds of one service's instances.
    private struct FoundInstances {
        var stableRevision: Revision?
        var stable: [InstanceRecord] = []
        var candidate: [InstanceRecord] = []
        var baseline: [InstanceRecord] = []
        /// Dead, of no use any more, or saved mid-start: stopped if anything runs, and forgotten.
        var leftovers: [InstanceRecord] = []
        var adopted: Int { stable.count + candidate.count + baseline.count }
    }

    /// Sorts the service's saved instances into those kept (the stable ones serve at once) and leftovers.
    private func adoptRunning(service name: String, activeRollout: Rollout?) async throws -> FoundInstances {
        let stableRevision = try await store.stableRevision(service: name)
        let stableVersion = stableRevision?.version
        services[name]?.stableVersion = stableVersion
        let saved = try await store.instances(service: name)
        let alive = Set(await driver.running(saved).map(\.id))
        var found = FoundInstances(stableRevision: stableRevision)
        for instance in saved {
            // A start the controller did not live to record is never adopted: it may not have finished.
            if instance.starting || !alive.contains(instance.id) {
                found.leftovers.append(instance)
            } else if instance.role == .baseline {
                // Stable version, but only worth keeping for the rollout that compares with it.
                if let rollout = activeRollout, rollout.usesBaseline, instance.version == rollout.stableVersion {
                    found.baseline.append(instance)
                } else {
                    found.leftovers.append(instance)
                }
            } else if let rollout = activeRollout, instance.version == rollout.candidateVersion,
                instance.role == .candidate || instance.version != stableVersion
            {
                // By role first: a reconfiguration's candidates run the stable version too.
                found.candidate.append(instance)
            } else if instance.version == stableVersion {
                found.stable.append(instance)
            } else {
                found.leftovers.append(instance)
            }
        }
        services[name]?.stable = found.stable
        return found
    }

    private func recover(service name: String, found: FoundInstances, activeRollout: Rollout?) async throws {
        let stableRevision = found.stableRevision
        let instances = self.instances
        await withTaskGroup(of: Void.self) { group in
            for leftover in found.leftovers { group.addTask { await instances.stop(leftover) } }
        }
        for interrupted in found.leftovers where interrupted.starting {
            try await store.record(
                service: name, rolloutID: activeRollout?.id,
                events: [
                    EventDraft(
                        .instanceStartInterrupted,
                        "the controller stopped while starting \(name) \(interrupted.version) as \(interrupted.role.rawValue) (instance \(interrupted.id)): whatever that start left running was stopped",
                        evidence: ["instance": interrupted.id, "version": interrupted.version.description, "role": interrupted.role.rawValue])
                ], at: clock.now)
        }
        let (adoptedStable, adoptedCandidate, adoptedBaseline) = (found.stable, found.candidate, found.baseline)
        if found.adopted > 0 {
            let baselineNote = adoptedBaseline.isEmpty ? "" : " and \(adoptedBaseline.count) baseline"
            try await store.record(
                service: name, rolloutID: nil,
                events: [
                    EventDraft(
                        .instancesAdopted, "adopted \(adoptedStable.count) stable, \(adoptedCandidate.count) candidate\(baselineNote) instances still running after restart",
                        evidence: [
                            "stable": adoptedStable.map(\.id).joined(separator: ","), "candidate": adoptedCandidate.map(\.id).joined(separator: ","),
                            "baseline": adoptedBaseline.map(\.id).joined(separator: ","),
                        ])
                ],
                at: clock.now)
        }
        if let stableRevision {
            let missing = stableRevision.spec.instances - adoptedStable.count
            if missing > 0 {
                let started = try await instances.start(spec: stableRevision.spec, version: stableRevision.version, count: missing, rolloutID: nil, role: .stable)
                services[name]?.stable += started
                _ = await instances.waitUntilHealthy(started, spec: stableRevision.spec)
            }
        }
        try await publishRoutes(service: name)
        if activeRollout == nil, let last = try await store.rollouts(service: name, limit: 1).first {
            services[name]?.lastRollout = last
            startGuardWindow(service: name, promoted: last)
            await settleDeclaredFlags(after: last)
        }
        if stableRevision != nil || activeRollout != nil {
            // A restart, not a first start: the service's history says when the controller came back.
            let stable = stableRevision.map { "stable \($0.version) (revision \($0.number))" } ?? "no stable version"
            let resumed = activeRollout.map { ", rollout \($0.id) resumes in phase \($0.phase.rawValue)" } ?? ""
            try await store.record(
                service: name, rolloutID: nil,
                events: [
                    EventDraft(
                        .controllerRestarted,
                        "controller restarted: \(stable), \(adoptedStable.count + adoptedCandidate.count + adoptedBaseline.count) instances adopted\(resumed)",
                        evidence: [
                            "stable": stableRevision?.version.description ?? "none", "adopted": String(adoptedStable.count + adoptedCandidate.count + adoptedBaseline.count),
                            "resumedRollout": activeRollout.map { String($0.id) } ?? "none",
                        ])
                ], at: clock.now)
        }
        if let rollout = activeRollout, let configured = services[name]?.spec {
            let spec = try await store.revisions(service: name).first { $0.number == rollout.revision }?.spec ?? configured
            launchReconciler(
                rollout, spec: spec, firstInput: .resume(candidateInstancesAlive: !adoptedCandidate.isEmpty),
                candidate: adoptedCandidate, baseline: adoptedBaseline)
        }
    }

    // MARK: - Commands

    /// - Parameter acceptAppOnlyRollback: deploy even though some of the version's migrations have
    ///   no undo script, so a rollback would restore the code but not the schema.
    /// - Parameter force: deploy a version that was rejected (rolled back for a reason that blames it);
    ///   recorded as an event, and the rollout's analysis still judges it.
    /// - Parameter actor: the name of the token that asked (recorded on the events it causes); nil: Ripcord itself.
    /// - Parameter configChanged: the stable version again with the service's configuration as it is
    ///   now (run, environment, instances), through the strategy like a new version.
    public func deploy(
        service name: String, version: SemanticVersion, acceptAppOnlyRollback: Bool = false,
        force: Bool = false, configChanged: Bool = false, actor: String? = nil
    ) async throws -> Rollout {
        guard let state = services[name] else { throw unknownService(name) }
        try await ensureNoActiveRollout(name)
        services[name]?.beginning = true
        defer { services[name]?.beginning = false }
        await previousRolloutSettled(name)
        if configChanged {
            return try await reconfigure(service: name, version: version, spec: state.spec, actor: actor)
        }
        if version == services[name]?.stableVersion {
            throw ControllerError(.conflict, "already_stable", "\(name) \(version) is already the stable version (deploy --config-changed rolls out a new configuration of it)")
        }
        let forced = try await checkNotRejected(service: name, version: version, force: force)
        // Refused before anything is recorded: a rejected deploy leaves no revision behind.
        let schema = try await planSchema(state.spec, version: version, acceptAppOnlyRollback: acceptAppOnlyRollback)
        let revision = try await store.appendRevision(
            service: name, version: version, spec: state.spec,
            note: "deploy \(version)" + (forced == nil ? "" : " (forced past its rejection)"), at: clock.now)
        return try await begin(
            service: name, revision: revision, kind: .deploy, strategy: nil, schema: schema, notes: forced.map { [$0] } ?? [],
            actor: actor)
    }

    /// A configuration-only change: refused unless `version` is the stable one and the configuration differs from the one it runs with.
    private func reconfigure(service name: String, version: SemanticVersion, spec: ServiceSpec, actor: String?) async throws -> Rollout {
        guard let stable = try await store.stableRevision(service: name), stable.version == version else {
            throw ControllerError(
                .conflict, "not_stable",
                "--config-changed rolls out the stable version with a new configuration; \(name)'s stable version is \(services[name]?.stableVersion?.description ?? "none"), not \(version)"
            )
        }
        guard stable.spec != spec else {
            throw ControllerError(.conflict, "config_unchanged", "\(name) \(version) already runs with this configuration")
        }
        let revision = try await store.appendRevision(service: name, version: version, spec: spec, note: "reconfigure \(version)", at: clock.now)
        return try await begin(service: name, revision: revision, kind: .reconfigure, strategy: nil, schema: nil, actor: actor)
    }

    /// Refuses a rejected version unless forced; a forced one returns the event that says so.
    func checkNotRejected(service name: String, version: SemanticVersion, force: Bool) async throws -> EventDraft? {
        guard let rejection = try await store.rejection(service: name, version: version) else { return nil }
        let why = "rollout \(rejection.rolloutID) rolled it back at \(rejection.at) (\(rejection.trigger.rawValue): \(rejection.message))"
        guard force else {
            throw ControllerError(
                .conflict, "version_rejected",
                "\(name) \(version) was rejected: \(why); deploy --force to try it again anyway, or `ripcord unreject \(name) \(version)`")
        }
        return EventDraft(
            .deployForced, "\(version) deployed although rejected: \(why)",
            evidence: ["version": version.description, "rejectedBy": String(rejection.rolloutID), "trigger": rejection.trigger.rawValue])
    }

    public func rejections(service name: String) async throws -> [Rejection] {
        guard services[name] != nil else { throw unknownService(name) }
        return try await store.rejections(service: name)
    }

    /// Clears a version's rejection, so it may be deployed again without --force.
    public func unreject(service name: String, version: SemanticVersion, actor: String? = nil) async throws {
        guard services[name] != nil else { throw unknownService(name) }
        guard try await store.removeRejection(service: name, version: version) else {
            throw ControllerError(.notFound, "not_rejected", "\(name) \(version) is not rejected")
        }
        _ = try await store.record(
            service: name, rolloutID: nil,
            events: [
                EventDraft(
                    .versionUnrejected, "\(version) may be deployed again", evidence: ["version": version.description], actor: actor)
            ], at: clock.now)
    }

    /// Returns to an earlier revision (by default the one promoted before the current one) as a new
    /// rollout whose candidate is the old version: through the service's strategy and its analysis,
    /// or with `instant` all at once (for emergencies; a release's rollback does this).
    /// - Parameter force: return to a revision that was never promoted or whose version is rejected
    ///   (never instantly: only the strategy's analysis can tell whether it is good).
    public func undo(
        service name: String, toRevision: Int?, note: String? = nil, instant: Bool = false, force: Bool = false,
        actor: String? = nil
    ) async throws -> Rollout {
        guard services[name] != nil else { throw unknownService(name) }
        try await ensureNoActiveRollout(name)
        services[name]?.beginning = true
        defer { services[name]?.beginning = false }
        await previousRolloutSettled(name)
        let plan = try await planUndo(service: name, toRevision: toRevision, force: force)
        if instant && !plan.notes.isEmpty {
            throw ControllerError(
                .conflict, "instant_refused",
                "revision \(plan.target.number) was never promoted or is rejected: an undo to it goes through the strategy's analysis, not --instant")
        }
        let revision = try await store.appendRevision(
            service: name, version: plan.target.version, spec: plan.target.spec,
            note: "undo to revision \(plan.target.number)" + (note.map { " (\($0))" } ?? ""), at: clock.now)
        return try await begin(
            service: name, revision: revision, kind: .undo, strategy: instant ? Self.undoStrategy : nil,
            schema: plan.schema, notes: plan.notes, actor: actor)
    }

    /// An instant undo returns all at once.
    static let undoStrategy = Strategy.canary(CanarySpec(steps: []))

    struct UndoPlan {
        var target: Revision
        var schema: SchemaPlan?
        /// What a forced undo went past, recorded with its start.
        var notes: [EventDraft] = []
    }

    /// The revision an undo returns to and the schema it ran with, refused when there is none to return
    /// to, or (unless forced) when the chosen one was never promoted or its version is rejected.
    func planUndo(service name: String, toRevision: Int?, force: Bool = false) async throws -> UndoPlan {
        let revisions = try await store.revisions(service: name)
        guard let stable = try await store.stableRevision(service: name) else {
            throw ControllerError(.conflict, "nothing_to_undo", "\(name) has no stable revision yet")
        }
        let rollouts = try await store.rollouts(service: name, limit: 1000)
        let promoted = Set(rollouts.filter { $0.phase == .promoted }.map(\.revision))
        let target: Revision
        var notes: [EventDraft] = []
        if let toRevision {
            guard let chosen = revisions.first(where: { $0.number == toRevision }) else {
                throw ControllerError(.notFound, "unknown_revision", "\(name) has no revision \(toRevision) (it has 1...\(revisions.last?.number ?? 0))")
            }
            target = chosen
            if !promoted.contains(chosen.number) {
                guard force else {
                    throw ControllerError(
                        .conflict, "not_promoted",
                        "revision \(chosen.number) (\(chosen.version)) was never promoted: there is no evidence it is good; undo --force runs it through the strategy's analysis")
                }
                notes.append(
                    EventDraft(
                        .undoForced, "undo to revision \(chosen.number), which was never promoted",
                        evidence: ["revision": String(chosen.number), "version": chosen.version.description]))
            }
            if let forced = try await checkNotRejected(service: name, version: chosen.version, force: force) { notes.append(forced) }
        } else {
            guard let previous = revisions.last(where: { $0.number < stable.number && promoted.contains($0.number) && $0.version != stable.version }) else {
                throw ControllerError(.conflict, "nothing_to_undo", "\(name) has no earlier promoted revision to return to")
            }
            target = previous
        }
        if target.version == services[name]?.stableVersion {
            throw ControllerError(.conflict, "already_stable", "revision \(target.number) is \(target.version), which is already stable")
        }
        // The schema that revision ran with when it was promoted (its folder may no longer have the newer undo files).
        let recorded = rollouts.first { $0.phase == .promoted && $0.candidateVersion == target.version && $0.schemaTarget != nil }?.schemaTarget
        let schema = try await planSchema(target.spec, version: target.version, target: recorded, acceptAppOnlyRollback: true)
        return UndoPlan(target: target, schema: schema, notes: notes)
    }

    /// Sends a human's promote and says what it skips.
    @discardableResult
    public func promote(service name: String, full: Bool, actor: String? = nil) async throws -> String {
        let rollout = try await activeRollout(name)
        if let release = rollout.release {
            throw ControllerError(
                .conflict, "part_of_release",
                "\(name) is rolling out as part of release \(release): it goes on with the release's other services, not alone (abort rolls the whole release back)")
        }
        if !full, rollout.awaitingEvidenceSince != nil {
            throw ControllerError(
                .conflict, "waiting_for_evidence",
                "\(name) is waiting for evidence at \(rollout.candidateWeight)% (\(rollout.evidenceProgress)), not in a pause: promote --full skips the remaining steps and their analysis"
            )
        }
        if !full, rollout.phase == .analyzing {
            throw ControllerError(
                .conflict, "analysis_running",
                "\(name) is in an analysis step, not a pause: promote skips only pauses (promote --full skips the remaining steps and their analysis)")
        }
        if rollout.phase == .starting {
            throw ControllerError(.conflict, "not_ready", "\(name) \(rollout.candidateVersion) is still starting; promote once it is healthy")
        }
        if let hook = rollout.pendingHook {
            throw ControllerError(.conflict, "hooks_running", "\(name) is waiting for its \(hook.rawValue) hooks; promote once they pass (or abort)")
        }
        try send(.promote(full: full), to: name, actor: actor)
        switch rollout.phase {
        case .preview, .switched: return "promote sent: \(name) \(rollout.candidateVersion) takes all traffic now"
        case _ where full: return "promote --full sent: \(name) \(rollout.candidateVersion) takes all traffic now; the remaining steps and their analysis are skipped"
        default: return "promote sent: \(name) leaves its pause at step \(rollout.stepIndex + 1) and goes on to the next step (its analysis still gates)"
        }
    }

    public func abort(service name: String, reason: String, actor: String? = nil) async throws {
        _ = try await activeRollout(name)
        try send(.abort(reason: reason), to: name, actor: actor)
    }

    /// Holds the rollout where it is until `resume`: no step, pause or deadline moves it on; analysis
    /// keeps judging and can still roll it back.
    public func hold(service name: String, reason: String, actor: String? = nil) async throws {
        let rollout = try await activeRollout(name)
        if rollout.heldSince != nil {
            throw ControllerError(.conflict, "already_held", "\(name)'s rollout is already paused by hand; `ripcord resume \(name)` goes on")
        }
        if rollout.phase == .starting {
            throw ControllerError(.conflict, "not_ready", "\(name)'s candidate is still starting; pause once it is healthy (or abort)")
        }
        try send(.hold(reason: reason), to: name, actor: actor)
    }

    public func unhold(service name: String, actor: String? = nil) async throws {
        guard await currentRollout(name).map({ !$0.isTerminal && $0.heldSince != nil }) == true else {
            throw ControllerError(.conflict, "not_held", "\(name) has no rollout paused by hand")
        }
        try send(.unhold, to: name, actor: actor)
    }

    /// Runs the version of the service's last rollout again, when a human aborted it (a version
    /// rolled back for any other reason is rejected: deploy --force is the way to try it again).
    public func retry(service name: String, actor: String? = nil) async throws -> Rollout {
        guard services[name] != nil else { throw unknownService(name) }
        guard let last = try await store.rollouts(service: name, limit: 1).first, last.kind != .drill, last.phase == .rolledBack,
            last.trigger?.kind == .abort
        else {
            throw ControllerError(.conflict, "nothing_to_retry", "\(name)'s last rollout was not aborted: retry re-runs an aborted rollout's version")
        }
        return try await deploy(service: name, version: last.candidateVersion, actor: actor)
    }

    /// The service's rollout: the one in progress as its reconciler holds it, else the latest finished one.
    func currentRollout(_ name: String) async -> Rollout? {
        if let reconciler = services[name]?.reconciler { return await reconciler.rollout }
        return services[name]?.lastRollout
    }

    /// The rollout in progress, or the error a command for it answers.
    private func activeRollout(_ name: String) async throws -> Rollout {
        guard services[name] != nil else { throw unknownService(name) }
        guard let rollout = await currentRollout(name), !rollout.isTerminal else {
            throw ControllerError(.conflict, "no_active_rollout", "\(name) has no rollout in progress")
        }
        return rollout
    }

    private func send(_ input: RolloutInput, to name: String, actor: String?) throws {
        guard let reconciler = services[name]?.reconciler else {
            throw ControllerError(.conflict, "no_active_rollout", "\(name) has no rollout in progress")
        }
        reconciler.send(input.sent(by: actor))
    }

    /// - Parameter notes: events recorded with the rollout's start (e.g. that a rejection was forced).
    func begin(
        service name: String, revision: Revision, kind: RolloutKind, strategy: Strategy?,
        schema: SchemaPlan?, release: Int64? = nil, notes: [EventDraft] = [], drill: InjectedFault? = nil, actor: String? = nil
    ) async throws -> Rollout {
        endGuardWindow(service: name)
        let spec = revision.spec
        let stableVersion = services[name]?.stableVersion
        let now = clock.now
        var draft = Rollout(
            id: 0, service: spec, kind: kind, revision: revision.number, stableVersion: stableVersion,
            candidateVersion: revision.version, strategy: strategy ?? services[name]?.spec.strategy ?? spec.strategy, at: now)
        draft.schemaBefore = schema?.before
        draft.schemaTarget = schema?.target
        draft.release = release
        // The flags a release introduces belong to a new version; a new configuration of the same one introduces none.
        if kind == .reconfigure || kind == .drill { draft.declaredFlags = nil }
        draft.drill = drill
        let startEffects = draft.start()
        let prepared = draft
        let rollout = try await store.createRollout(at: now, events: (startEffects.compactMap(\.event) + notes).map { $0.attributed(to: actor) }) { id in
            var rollout = prepared
            rollout.id = id
            return rollout
        }
        if let notifier {
            await notifier.deliver(try await store.events(service: name, rolloutID: rollout.id, afterID: 0, limit: 100))
        }
        launchReconciler(rollout, spec: spec, firstInput: nil, startEffects: startEffects.filter { $0.event == nil })
        return rollout
    }

    /// Starts the rollout's reconciler; the service's registry entry points at it until its last effect is done.
    private func launchReconciler(
        _ rollout: Rollout, spec: ServiceSpec, firstInput: RolloutInput?, startEffects: [RolloutEffect] = [],
        candidate: [InstanceRecord] = [], baseline: [InstanceRecord] = []
    ) {
        let reconciler = RolloutReconciler(rollout: rollout, spec: spec, candidate: candidate, baseline: baseline, controller: self, parts: parts)
        services[rollout.service]?.reconciler = reconciler
        services[rollout.service]?.reconcilerTask = Task {
            await reconciler.run(firstInput: firstInput, startEffects: startEffects)
            await self.reconcilerFinished(reconciler)
        }
    }

    private func reconcilerFinished(_ reconciler: RolloutReconciler) async {
        let rollout = await reconciler.rollout
        let name = reconciler.service
        guard services[name]?.reconciler === reconciler else { return }
        services[name]?.reconciler = nil
        services[name]?.reconcilerTask = nil
        services[name]?.rolloutBackends = nil
        services[name]?.lastRollout = rollout
        startGuardWindow(service: name, promoted: rollout, from: clock.now)
        if rollout.kind == .drill { await judgeDrill(rollout) }
    }

    /// A finished rollout is recorded before its last effects (drain, stop, the candidate becoming the
    /// stable set) are carried out; the next rollout starts from the world those effects leave.
    func previousRolloutSettled(_ name: String) async {
        if let previous = services[name]?.reconcilerTask { await previous.value }
    }

    func ensureNoActiveRollout(_ name: String) async throws {
        if services[name]?.beginning == true {
            throw ControllerError(.conflict, "rollout_in_progress", "\(name) is already starting a rollout")
        }
        if let rollout = await currentRollout(name), !rollout.isTerminal {
            throw ControllerError(
                .conflict, "rollout_in_progress",
                "\(name) is already rolling out \(rollout.candidateVersion) (rollout \(rollout.id), \(rollout.phase.rawValue)); abort or promote it first")
        }
    }

    // MARK: - Routing

    /// Takes the rollout's side of the service's routing table and publishes the whole table.
    func route(service name: String, _ side: RolloutBackends) async throws {
        services[name]?.rolloutBackends = side
        try await publishRoutes(service: name)
    }

    /// Makes the promoted candidate the stable set and routes everything to it; returns the instances it replaced.
    func replaceStable(service name: String, with promoted: [InstanceRecord], version: SemanticVersion) async throws -> [InstanceRecord] {
        let leaving = services[name]?.stable ?? []
        services[name]?.stable = promoted
        services[name]?.stableVersion = version
        // Known whole as promoted: the supervisor's first look need not read the revision to find out.
        if promoted.count >= services[name]?.spec.instances ?? .max { services[name]?.stableFoundWhole = promoted.map(\.id) }
        services[name]?.rolloutBackends = nil
        try await publishRoutes(service: name)
        return leaving
    }

    /// Publishes the service's backends: the rollout's side as its reconciler last gave it, stable instances the rest.
    func publishRoutes(service name: String) async throws {
        guard let state = services[name] else { return }
        let side = state.rolloutBackends
        var backends = Backend.split(
            stable: state.stable.map(\.address), stableVersion: state.stableVersion,
            candidate: side?.candidate.map(\.address) ?? [], candidateVersion: side?.version,
            candidateWeight: side?.weight ?? 0, baseline: side?.baseline.map(\.address) ?? [])
        if let fault = side?.fault {
            for index in backends.indices where backends[index].role == .candidate { backends[index].fault = fault }
        }
        try await traffic.setBackends(service: name, backends, release: side?.release)
    }

    /// Where the service's users reach it (the bound address when the config asked for port 0).
    func frontDoor(of name: String) -> HostPort {
        frontDoors[name] ?? services[name]?.spec.listen ?? HostPort(host: "127.0.0.1", port: 0)
    }

    func unknownService(_ name: String) -> ControllerError {
        ControllerError(.notFound, "unknown_service", "no service named '\(name)' (known: \(services.keys.sorted().joined(separator: ", ")))")
    }

    // MARK: - Queries

    /// The router's cumulative measurements of the service's versions, as its judges read them.
    public func measurements(service name: String) async throws -> RouterMeasurements {
        guard let state = services[name] else { throw unknownService(name) }
        let rollout = await currentRollout(name)
        let candidate = rollout.flatMap { $0.isTerminal ? nil : $0.candidateVersion }
        var snapshot = AnalysisSnapshot(candidate: VersionMetrics(), stable: VersionMetrics(), usesBaseline: rollout?.usesBaseline ?? false)
        if let candidate { snapshot.candidate = await traffic.metrics(service: name, version: candidate, role: .candidate) }
        if let stable = state.stableVersion {
            snapshot.stable = await traffic.metrics(service: name, version: stable, role: .stable)
            snapshot.baseline = await traffic.metrics(service: name, version: stable, role: .baseline)
        }
        return RouterMeasurements(
            service: name, stableVersion: state.stableVersion?.description, candidateVersion: candidate?.description,
            rolloutID: rollout?.id, at: Timestamp.iso8601(clock.now.millisecondsSinceEpoch), snapshot: snapshot)
    }

    public func status(service name: String) async throws -> ServiceStatus {
        guard services[name] != nil else { throw unknownService(name) }
        try await refreshFromStore(service: name)
        let view = await services[name]?.reconciler?.view
        let stableRevision = try await store.stableRevision(service: name)?.number
        guard let state = services[name] else { throw unknownService(name) }
        let rollout = view?.rollout ?? state.lastRollout
        let candidate = view?.candidate ?? (rollout?.isTerminal == false ? state.recordedCandidates : [])
        // A promotion is recorded before its effect moves the instances: show what the store says.
        let promotedPending = rollout?.phase == .promoted && !candidate.isEmpty
        let stableVersion = promotedPending ? rollout?.candidateVersion : state.stableVersion
        return ServiceStatus(
            name: name, listen: frontDoor(of: name).description, previewListen: state.spec.previewListen?.description,
            stableRevision: stableRevision, stableVersion: stableVersion?.description,
            stableInstances: (promotedPending ? candidate : state.stable).map(InstanceStatus.init),
            candidateVersion: rollout.flatMap { $0.isTerminal ? nil : $0.candidateVersion.description },
            candidateInstances: promotedPending ? [] : candidate.map(InstanceStatus.init),
            baselineInstances: (view?.baseline ?? []).map(InstanceStatus.init),
            rollout: rollout.map { rollout in
                var summary = RolloutSummary(rollout)
                if let synthetic = view?.syntheticRequests, synthetic > 0 { summary.syntheticRequests = synthetic }
                return summary
            })
    }

    public func statuses() async throws -> [ServiceStatus] {
        var result: [ServiceStatus] = []
        for name in services.keys.sorted() { result.append(try await status(service: name)) }
        return result
    }

    public func history(service name: String) async throws -> ServiceHistory {
        guard services[name] != nil else { throw unknownService(name) }
        let rollouts = try await store.rollouts(service: name, limit: 1000)
        // Newest first: a revision's outcome is that of its latest rollout.
        var outcomes: [Int: String] = [:]
        // A drill runs the stable revision again; its outcome is the drill's, not the revision's.
        for rollout in rollouts where outcomes[rollout.revision] == nil && rollout.kind != .drill { outcomes[rollout.revision] = rollout.outcome }
        let revisions = try await store.revisions(service: name).map {
            RevisionSummary(
                number: $0.number, version: $0.version.description, createdAt: $0.createdAt.description, note: $0.note,
                outcome: outcomes[$0.number])
        }
        return ServiceHistory(
            service: name, stableRevision: try await store.stableRevision(service: name)?.number,
            revisions: revisions, rollouts: rollouts.prefix(100).map(RolloutSummary.init))
    }

    public func versions(service name: String) async throws -> [VersionOutcome] {
        guard services[name] != nil else { throw unknownService(name) }
        let rejections = Dictionary(try await store.rejections(service: name).map { ($0.version, $0) }, uniquingKeysWith: { _, last in last })
        var latest: [SemanticVersion: Rollout] = [:]
        for rollout in try await store.rollouts(service: name, limit: 1000) where latest[rollout.candidateVersion] == nil {
            latest[rollout.candidateVersion] = rollout
        }
        return latest.sorted { $0.key > $1.key }.map { version, rollout in
            let rejected = rejections[version].map { "rollout \($0.rolloutID) (\($0.trigger.rawValue): \($0.message))" }
            return VersionOutcome(
                version: version.description, outcome: rollout.outcome, rolloutID: rollout.id,
                at: (rollout.finishedAt ?? rollout.startedAt).description, rejected: rejected)
        }
    }

    public func rollout(id: Int64) async throws -> Rollout {
        guard let stored = try await store.rollout(id: id) else {
            throw ControllerError(.notFound, "unknown_rollout", "no rollout with id \(id)")
        }
        // A rollout in progress is read from its reconciler, which takes each state just after the store
        // records it: so a phase seen here is the phase a command sent now is checked against.
        if let live = await services[stored.service]?.reconciler?.rollout, live.id == id { return live }
        return stored
    }

    public func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) async throws -> [Event] {
        if let service, services[service] == nil { throw unknownService(service) }
        return try await store.events(service: service, rolloutID: rolloutID, afterID: afterID, limit: limit)
    }

    public func lastEventID() async throws -> Int64 { try await store.lastEventID() }

    /// Who answers for the service (its `owners`), as configured now.
    public func owners(of service: String) -> [ServiceOwner] { services[service]?.spec.owners ?? [] }

    /// `ripcord report`: the rollouts that started in the last `period` (of one service, or all).
    public func report(period: TimeSpan, service: String?) async throws -> DeploymentReport {
        if let service, services[service] == nil { throw unknownService(service) }
        let now = clock.now
        let since = Moment(millisecondsSinceEpoch: now.millisecondsSinceEpoch - period.milliseconds)
        let events = try await store.events(kinds: DeploymentReport.eventKinds, since: since, service: service, limit: 2_000_000)
        return DeploymentReport(events: events, since: since, until: now)
    }

    /// `ripcord postmortem ROLLOUT`.
    public func postmortem(rollout id: Int64) async throws -> Postmortem {
        let rollout = try await self.rollout(id: id)
        let events = try await store.events(service: nil, rolloutID: id, afterID: 0, limit: 100_000)
        return Postmortem(subject: "rollout \(id) of \(rollout.service)", rollouts: [(id, rollout.service, events)])
    }

    /// `ripcord postmortem release/ID`: every member, and the undo rollouts the release's failure started.
    public func postmortem(release id: Int64) async throws -> Postmortem {
        guard let release = try await store.release(id: id) else { throw unknownRelease(id) }
        var rollouts: [(id: Int64, service: String, events: [Event])] = []
        for member in release.members {
            rollouts.append((member.rolloutID, member.service, try await store.events(service: nil, rolloutID: member.rolloutID, afterID: 0, limit: 100_000)))
            // A member already promoted when the release failed was undone by a rollout of its own, started as the release finished.
            guard release.phase == .rolledBack, let finished = release.finishedAt else { continue }
            let undo = try await store.rollouts(service: member.service, limit: 50).last {
                $0.id > member.rolloutID && $0.kind == .undo && $0.startedAt >= release.createdAt && $0.startedAt <= finished + .seconds(60)
            }
            if let undo {
                rollouts.append((undo.id, member.service, try await store.events(service: nil, rolloutID: undo.id, afterID: 0, limit: 100_000)))
            }
        }
        return Postmortem(subject: "release \(id) (\(release.name))", rollouts: rollouts)
    }

    /// Counts a flag change for `ripcord_flag_changes_total` (the flag service tells; it is not an event).
    public func countFlagChange(environment: String, change: String) async {
        await telemetry.countFlagChange(environment: environment, change: change)
    }

    public nonisolated var eventFeed: EventFeed { store.eventFeed }

    /// Stops the reconcilers (rollouts stay in the store and resume on the next start) and,
    /// unless `keepInstances`, every instance.
    public func shutdown(keepInstances: Bool) async {
        drillScheduler?.cancel()
        drillScheduler = nil
        // Supervision first: it would otherwise replace the instances being stopped.
        await stopSupervisingStable()
        let reconcilers = services.values.compactMap(\.reconciler)
        let tasks = services.values.compactMap(\.reconcilerTask)
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        // After the reconcilers, which start a guard when they finish with a promotion.
        for task in guards.values { task.cancel() }
        for task in guards.values { await task.value }
        guards = [:]
        if !keepInstances {
            var running = services.values.flatMap(\.stable)
            for reconciler in reconcilers {
                let view = await reconciler.view
                running += view.candidate + view.baseline
            }
            for instance in running { await instances.stop(instance) }
            for name in services.keys { services[name]?.stable = [] }
        }
        await telemetry.stop()
    }

    /// Records an event outside a transition (guard windows, releases, restarts) and tells the notifier.
    func recordEvent(service name: String, rolloutID: Int64?, _ event: EventDraft) async {
        await parts.recorder.record(service: name, rolloutID: rolloutID, event)
    }
}

extension RolloutEffect {
    var event: EventDraft? {
        if case let .record(draft) = self { return draft }
        return nil
    }
}
