import Logging
import RipcordCore

/// Runs guarded flag rollouts (`FlagRollout.swift`): per rollout, a processor that feeds inputs to the
/// machine, saves the transition with its pending effects and events, then carries the effects out
/// through the flag service; and children that feed it — a ticker, the watched service's router
/// windows judged against the analysis limits, and one runner per provider metric (the deployments'
/// `MetricWatcher`). Unsettled rollouts resume when Ripcord starts.
public actor FlagRolloutRunner {
    let store: any FlagRolloutStore
    let flags: any FlagSwitch
    public let controller: Controller
    let tickInterval: TimeSpan
    let clock: any RipcordClock
    let logger: Logger
    private var rollouts: [Int64: FlagRollout] = [:]
    private var mailboxes: [Int64: AsyncStream<FlagRolloutInput>.Continuation] = [:]
    private var processors: [Int64: Task<Void, Never>] = [:]
    /// "environment/flag" of starts between their checks and their first save.
    private var starting: Set<String> = []
    /// Rollouts whose effects last failed, so retrying them on every tick records the failure once.
    private var failing: Set<Int64> = []

    public init(
        store: any FlagRolloutStore, flags: any FlagSwitch, controller: Controller, tickInterval: TimeSpan = .milliseconds(100),
        clock: any RipcordClock = WallClock(), logger: Logger = Logger(label: "ripcord.flag-rollouts")
    ) {
        self.store = store
        self.flags = flags
        self.controller = controller
        self.tickInterval = tickInterval
        self.clock = clock
        self.logger = logger
    }

    /// Resumes every rollout the store holds unsettled.
    public func resume() async throws {
        for rollout in try await store.unsettledFlagRollouts() where processors[rollout.id] == nil {
            launch(rollout, firstInput: .resume)
        }
    }

    /// The analysis `service` is configured with, which a guarded rollout uses unless it names its own.
    public func configuredAnalysis(service: String) async -> AnalysisSpec? {
        await controller.config.service(named: service)?.analysis
    }

    /// Starts a guarded rollout of an existing flag (the caller checks that it exists).
    /// - Parameter actor: the name of the token that asked (recorded on the events it causes).
    public func start(_ plan: FlagRolloutPlan, actor: String? = nil) async throws -> FlagRollout {
        if let problem = plan.problem { throw ControllerError(.invalid, "invalid_guarded_rollout", problem) }
        guard await controller.hasService(plan.service) else {
            throw ControllerError(.notFound, "unknown_service", "no service named '\(plan.service)' to watch")
        }
        let key = "\(plan.environment)/\(plan.flag)"
        guard !starting.contains(key) else { throw Self.inProgress(plan.flag) }
        starting.insert(key)
        defer { starting.remove(key) }
        if let running = try await store.flagRollouts(flag: plan.flag, environment: plan.environment).first(where: { !$0.isTerminal }) {
            throw ControllerError(
                .conflict, "guarded_rollout_in_progress",
                "\(plan.flag) already has guarded rollout \(running.id) at \(running.percentage)%; abort it first")
        }
        let now = clock.now
        var rollout = try await store.createFlagRollout(at: now) { FlagRollout(id: $0, plan: plan, at: now) }
        let effects = rollout.start().map { $0.attributed(to: actor) }
        try await store.save(rollout, events: effects.compactMap(\.event), at: now)
        // The processor carries out the first effects, so they never race with its own.
        launch(rollout, firstInput: .tick)
        return rollout
    }

    public func abort(id: Int64, reason: String, actor: String? = nil) async throws {
        let rollout = try await self.rollout(id: id)
        guard !rollout.isTerminal, let mailbox = mailboxes[id] else {
            throw ControllerError(.conflict, "guarded_rollout_finished", "guarded rollout \(id) is already \(rollout.phase.rawValue)")
        }
        mailbox.yield(FlagRolloutInput.abort(reason: reason).sent(by: actor))
    }

    public func rollout(id: Int64) async throws -> FlagRollout {
        guard let rollout = try await store.flagRollout(id: id) else {
            throw ControllerError(.notFound, "unknown_guarded_rollout", "no guarded flag rollout with id \(id)")
        }
        return rollout
    }

    public func rollouts(flag: String, environment: String) async throws -> [FlagRollout] {
        try await store.flagRollouts(flag: flag, environment: environment)
    }

    public func events(id: Int64) async throws -> [Event] {
        try await store.flagRolloutEvents(rolloutID: id)
    }

    /// Stops the processors; unsettled rollouts resume on the next start.
    public func shutdown() async {
        for task in processors.values { task.cancel() }
        for task in processors.values { await task.value }
        processors = [:]
    }

    // MARK: - Processing

    private func launch(_ rollout: FlagRollout, firstInput: FlagRolloutInput?) {
        let id = rollout.id
        let mailbox = Mailbox<FlagRolloutInput>()
        rollouts[id] = rollout
        mailboxes[id] = mailbox.continuation
        if let firstInput { mailbox.send(firstInput) }
        var feeders: [@Sendable () async -> Void] = []
        if rollout.plan.judgesRouterTraffic {
            feeders.append { await self.judgeRouterWindows(id, plan: rollout.plan, mailbox: mailbox.continuation) }
        }
        for metric in rollout.plan.analysis.metrics {
            feeders.append { await self.runMetric(metric, id: id, plan: rollout.plan, mailbox: mailbox.continuation) }
        }
        processors[id] = Task {
            await mailbox.run(tick: .tick, every: tickInterval, clock: clock, feeders: feeders) { await self.process($0, id: id) }
            self.finished(id)
        }
    }

    private func finished(_ id: Int64) {
        mailboxes[id] = nil
        processors[id] = nil
        rollouts[id] = nil
        failing.remove(id)
    }

    /// Feeds one input to the machine; returns true once the rollout is settled.
    private func process(_ input: FlagRolloutInput, id: Int64) async -> Bool {
        guard var rollout = rollouts[id] else { return true }
        let now = clock.now
        let effects = rollout.handle(input, at: now)
        if !effects.isEmpty {
            do {
                try await store.save(rollout, events: effects.compactMap(\.event), at: now)
            } catch {
                // Not recorded, so not happened: the next tick decides again.
                logger.error("cannot save guarded rollout \(id): \(error)")
                return false
            }
            rollouts[id] = rollout
        }
        if !rollout.pendingEffects.isEmpty { await carryOut(id) }
        return rollouts[id]?.isSettled ?? true
    }

    /// Carries out the rollout's pending effects; once all succeeded they are cleared in the store.
    /// A failure is recorded (once until they succeed) and retried on the next input.
    private func carryOut(_ id: Int64) async {
        guard var rollout = rollouts[id] else { return }
        let plan = rollout.plan
        do {
            for effect in rollout.pendingEffects {
                switch effect {
                case let .setPercentage(percentage):
                    try await flags.setRolloutPercentage(
                        percentage, flag: plan.flag, environment: plan.environment,
                        reason: "guarded rollout \(id): step \(rollout.stepIndex + 1)/\(plan.steps.count) at \(percentage)%")
                case .enableFlag:
                    try await flags.enable(flag: plan.flag, environment: plan.environment, reason: "guarded rollout \(id) started")
                case let .disableFlag(reason):
                    try await flags.disable(flag: plan.flag, environment: plan.environment, reason: reason)
                case .record:
                    continue
                }
            }
            rollout.effectsApplied()
            try await store.save(rollout, events: [], at: clock.now)
            rollouts[id] = rollout
            failing.remove(id)
        } catch {
            logger.error("guarded rollout \(id): \(error)")
            guard failing.insert(id).inserted else { return }
            await record(
                id,
                EventDraft(
                    .flagRolloutEffectFailed, "could not change \(plan.flag): \(error); retrying",
                    evidence: ["flag": plan.flag, "error": "\(error)"]))
        }
    }

    private func record(_ id: Int64, _ event: EventDraft) async {
        do {
            try await store.recordFlagRolloutEvents([event], rolloutID: id, at: clock.now)
        } catch {
            logger.error("cannot record \(event.kind) of guarded rollout \(id): \(error)")
        }
    }

    private func running(_ id: Int64) -> FlagRollout? {
        rollouts[id].flatMap { $0.isTerminal ? nil : $0 }
    }

    // MARK: - Analysis

    /// Judges windows of the watched service's traffic (its stable version, where the flag is evaluated)
    /// against the analysis limits; each step, and each new stable version, opens a fresh window.
    private func judgeRouterWindows(_ id: Int64, plan: FlagRolloutPlan, mailbox: AsyncStream<FlagRolloutInput>.Continuation) async {
        var window: AnalysisWindow?
        var judged: (step: Int, version: SemanticVersion)?
        var silence = RouterSilence()
        while !Task.isCancelled {
            try? await clock.sleep(for: min(plan.analysis.interval, .milliseconds(250)))
            guard let rollout = running(id) else { return }
            if let event = silence.update(await controller.traffic.silentRouters()) { await record(id, event) }
            guard !silence.holdsAnalysis else { continue }
            guard let version = await controller.stableVersion(of: plan.service) else { continue }
            let cumulative = await controller.traffic.metrics(service: plan.service, version: version, role: .stable)
            guard var current = window, judged?.step == rollout.stepIndex, judged?.version == version else {
                window = AnalysisWindow(spec: plan.analysis, baseline: cumulative, at: clock.now)
                judged = (rollout.stepIndex, version)
                continue
            }
            if let measurement = current.observe(cumulative: cumulative, at: clock.now) { mailbox.yield(.measurement(measurement)) }
            window = current
        }
    }

    /// One provider metric on the watched service's stable version, its measurements in the rollout's log.
    private func runMetric(_ metric: MetricSpec, id: Int64, plan: FlagRolloutPlan, mailbox: AsyncStream<FlagRolloutInput>.Continuation) async {
        await controller.metricWatcher.watch(metric, service: plan.service, record: { await self.record(id, $0) }) {
            guard await self.running(id) != nil else { return .stop }
            guard let version = await self.controller.stableVersion(of: plan.service) else { return .wait }
            return .measure(MetricSubject(rolloutID: id, version: version, role: .stable, stableVersion: version))
        } decided: { decision in
            switch decision {
            case let .failed(trigger, _), let .inconclusive(trigger, _, _):
                // Never widen on a failing or unmeasurable metric: the kill switch.
                mailbox.yield(.metricFailed(trigger))
                return false
            case .measured, .complete:
                return true
            }
        }
    }

    private static func inProgress(_ flag: String) -> ControllerError {
        ControllerError(.conflict, "guarded_rollout_in_progress", "\(flag) is already starting a guarded rollout")
    }
}

extension Controller {
    func hasService(_ name: String) -> Bool { services[name] != nil }

    /// The version of the service its users reach now (where a flag is evaluated); nil before its first release.
    func stableVersion(of name: String) -> SemanticVersion? { services[name]?.stableVersion }
}
