/// What starts a rollback.
public enum TriggerKind: String, Sendable, Codable, Equatable {
    case analysis
    case startupDeadline
    case progressDeadline
    case instanceCrashed
    case healthCheckFailed
    case instanceFailedToStart
    case instancesLost
    /// A monitoring alert (Alertmanager) fired for the service.
    case alert
    /// A metric stayed inconclusive (provider errors, empty results) beyond its limit.
    case inconclusiveAnalysis
    /// A lifecycle hook before promotion failed or timed out.
    case hookFailed
    /// The candidate's schema migrations could not be applied.
    case migrationFailed
    /// Another service of the same release rolled back, so this one does too.
    case releasePartnerFailed
    /// The progress deadline passed before the candidate showed the evidence a step needs.
    case noEvidence
    case abort
}

/// Why a rollout was rolled back, with the measurements that decided it.
public struct Trigger: Sendable, Codable, Equatable {
    public var kind: TriggerKind
    public var message: String
    public var evidence: [String: String]

    public init(kind: TriggerKind, message: String, evidence: [String: String] = [:]) {
        self.kind = kind
        self.message = message
        self.evidence = evidence
    }
}

public enum RolloutPhase: String, Sendable, Codable, Equatable {
    /// Candidate instances are starting; no traffic yet.
    case starting
    /// Canary: running an analysis step.
    case analyzing
    /// Canary: in a pause step (timed, or until promoted).
    case paused
    /// Blue-green: candidate up at 0 % (reachable through the preview door).
    case preview
    /// Blue-green: candidate at 100 %, old version kept warm for `scaleDownDelay`.
    case switched
    case promoted
    case rolledBack

    public var isTerminal: Bool { self == .promoted || self == .rolledBack }
}

public enum RolloutKind: String, Sendable, Codable, Equatable {
    case deploy
    case undo
    /// The stable version again with the service's new configuration (run, environment, instances):
    /// through the strategy like a new version, judged against the instances on the old one.
    case reconfigure
    /// A rollback drill: the stable version again, its traffic corrupted by an injected fault; it should
    /// be rolled back (`ripcord drill`). It rejects nothing, turns off no flag and runs no hook.
    case drill
}

/// An event the machine asks to be recorded; the store adds identity and time.
public struct EventDraft: Sendable, Codable, Equatable {
    public var kind: EventKind
    public var message: String
    public var evidence: [String: String]
    /// The name of the token whose API call caused the event; nil when Ripcord decided on its own.
    public var actor: String?

    public init(_ kind: EventKind, _ message: String, evidence: [String: String] = [:], actor: String? = nil) {
        self.kind = kind
        self.message = message
        self.evidence = evidence
        self.actor = actor
    }

    /// This event credited to `actor` (nil: left as it is).
    public func attributed(to actor: String?) -> EventDraft {
        guard let actor else { return self }
        var credited = self
        credited.actor = actor
        return credited
    }
}

/// What the machine asks the world to do. Every effect is idempotent, so a reconciler that crashed
/// half-way can apply the same effects again.
public enum RolloutEffect: Sendable, Equatable {
    /// Make sure the candidate's instances run (start the missing ones).
    case ensureCandidateInstances
    /// Route this percentage to the candidate and the rest to the stable version.
    case setCandidateWeight(Int)
    /// Take the candidate out of rotation, let in-flight requests finish, stop its instances.
    case stopCandidateInstances
    /// The candidate's instances become the stable set; the previous stable instances (if any)
    /// are taken out of rotation, drained and stopped.
    case replaceStableWithCandidate
    /// Run the service's hooks at this point. For points that gate the rollout, the machine waits for
    /// `hooksFinished`; running them again after a crash is part of the hook contract.
    case runHooks(HookPoint)
    case record(EventDraft)

    /// The same effect, its event (if it records one) credited to `actor` (nil: left as it is).
    public func attributed(to actor: String?) -> RolloutEffect {
        guard case let .record(draft) = self else { return self }
        return .record(draft.attributed(to: actor))
    }
}

public enum RolloutInput: Sendable, Equatable {
    /// Time passed; timers (pauses, deadlines, auto-promotion, scale-down delay) are checked.
    case tick
    /// Every candidate instance passed its health check.
    case candidateReady
    /// A candidate instance crashed, failed its health check or could not start.
    case candidateFailed(Trigger)
    case measurement(AnalysisMeasurement)
    /// A human's promote: end the current pause and go on to the next step, or with `full` skip every
    /// remaining step and its analysis.
    case promote(full: Bool)
    /// A human's abort: roll back now.
    case abort(reason: String)
    /// A human's pause: hold the rollout where it is — no timer moves it on, analysis keeps judging
    /// and can still roll it back — until `resume` (or promote, or abort).
    case hold(reason: String)
    /// A human's resume after `hold`: timers go on where they stopped.
    case unhold
    /// How many requests the candidate has answered at its current weight (reported while the
    /// rollout waits for evidence, so status and a `noEvidence` rollback can say so).
    case candidateTraffic(requestsAtWeight: UInt64)
    /// The controller restarted and found the rollout in the store.
    case resume(candidateInstancesAlive: Bool)
    /// Stop progressing until a human promotes or aborts (e.g. analysis stayed inconclusive).
    case pauseForHuman(Trigger)
    /// The hooks at a gating point are done: all passed (`failure` nil) or one failed.
    case hooksFinished(HookPoint, failure: Trigger?)
    /// Every service of the rollout's release has reached this barrier: go on.
    case releaseProceed(ReleaseBarrier)
    /// An input sent through the API by the token named `by`: the events it causes carry that name.
    indirect case requested(by: String, RolloutInput)

    /// This input as sent by the token named `actor` (nil: by Ripcord itself).
    public func sent(by actor: String?) -> RolloutInput {
        actor.map { .requested(by: $0, self) } ?? self
    }
}

/// A rollout from the stable version to a candidate, as a pure state machine:
/// `handle(input, at:)` moves the state and returns the effects to carry out.
/// It never reads a clock; time comes in with every input.
public struct Rollout: Sendable, Codable, Equatable {
    public var id: Int64
    public var service: String
    public var kind: RolloutKind
    /// The revision this rollout will make stable when promoted.
    public var revision: Int
    public var stableVersion: SemanticVersion?
    public var candidateVersion: SemanticVersion
    public var strategy: Strategy
    public var analysis: AnalysisSpec?
    public var startupDeadline: TimeSpan
    public var progressDeadline: TimeSpan

    public private(set) var phase: RolloutPhase
    public private(set) var stepIndex: Int
    public private(set) var candidateWeight: Int
    public private(set) var startedAt: Moment
    /// When the current phase or step began: the base of deadlines and analysis-step progress.
    public private(set) var stepStartedAt: Moment
    /// End of a timed pause, of the blue-green preview or of its scale-down delay.
    public private(set) var waitUntil: Moment?
    public private(set) var analysisPasses: Int
    public private(set) var analysisFailures: FailureBudget
    public private(set) var trigger: Trigger?
    public private(set) var finishedAt: Moment?
    /// Analysis windows passed at the current traffic weight (nil: none, or stored before it was counted).
    public private(set) var passedWindowsAtWeight: Int?
    /// Since when the rollout has been waiting for evidence before leaving its current weight.
    public private(set) var awaitingEvidenceSince: Moment?
    /// The candidate's requests at the current weight, as last reported while waiting for evidence.
    public private(set) var requestsAtWeight: UInt64?
    /// The progress deadline passed while waiting for evidence and the rollout paused for a human.
    public private(set) var evidenceOverdue: Bool?
    /// Since when a human has held the rollout (`ripcord pause`).
    public private(set) var heldSince: Moment?
    /// Points at which the service has hooks (nil in rollouts stored before hooks existed).
    public private(set) var hookPoints: [HookPoint]?
    /// The gating hooks the rollout is waiting for; nothing advances meanwhile.
    public private(set) var pendingHook: HookPoint?
    /// Blue-green: the `beforeTraffic` hooks passed, so the switch may happen.
    public private(set) var trafficHooksPassed: Bool?
    /// The schema version the database had when the rollout began (what a rollback restores), and
    /// the one the candidate needs; nil without migrations. Set by the controller at the start.
    public var schemaBefore: String?
    public var schemaTarget: String?
    /// The release this rollout belongs to: it then waits at each barrier until the release lets it on.
    public var release: Int64?
    /// The barrier the rollout waits at for its release's other services.
    public private(set) var heldAt: ReleaseBarrier?
    /// Rank of the last barrier the release let the rollout through.
    public private(set) var releaseGrantedRank: Int?
    /// The flags the release introduces, as the service declared them when the rollout began: a
    /// rollback turns them off (nil: none, or a rollout stored before flags could be declared).
    public var declaredFlags: [DeclaredFlag]?
    /// A drill's fault (`kind == .drill`).
    public var drill: InjectedFault?

    public init(
        id: Int64, service: ServiceSpec, kind: RolloutKind = .deploy, revision: Int,
        stableVersion: SemanticVersion?, candidateVersion: SemanticVersion, strategy: Strategy? = nil,
        at now: Moment
    ) {
        self.id = id
        self.service = service.name
        self.kind = kind
        self.revision = revision
        self.stableVersion = stableVersion
        self.candidateVersion = candidateVersion
        self.strategy = strategy ?? service.strategy
        self.analysis = service.analysis
        self.startupDeadline = service.startupDeadline
        self.progressDeadline = service.progressDeadline
        self.phase = .starting
        self.stepIndex = 0
        self.candidateWeight = 0
        self.startedAt = now
        self.stepStartedAt = now
        self.waitUntil = nil
        self.analysisPasses = 0
        self.analysisFailures = FailureBudget()
        self.trigger = nil
        self.finishedAt = nil
        let points = HookPoint.allCases.filter { point in service.hooks.contains { $0.point == point } }
        self.hookPoints = points.isEmpty ? nil : points
        self.pendingHook = points.contains(.beforeDeploy) ? .beforeDeploy : nil
        self.declaredFlags = service.flags.isEmpty ? nil : service.flags
    }

    public func hasHooks(at point: HookPoint) -> Bool { hookPoints?.contains(point) == true }

    /// The effects that begin the rollout.
    public func start() -> [RolloutEffect] {
        let from = stableVersion.map { "from \($0) " } ?? ""
        return [
            .record(
                EventDraft(
                    .rolloutStarted,
                    kind == .drill
                        ? "drill of \(candidateVersion) with \(drill?.description ?? "a fault") injected (\(strategyDescription)): it should be rolled back"
                        : "\(kind == .deploy ? "rollout" : kind.rawValue) \(from)to \(candidateVersion)\(kind == .reconfigure ? " with the new configuration" : "") (\(strategyDescription))",
                    evidence: [
                        "candidate": candidateVersion.description, "stable": stableVersion?.description ?? "none",
                        "strategy": strategy.name, "revision": String(revision), "kind": kind.rawValue,
                    ].merging(drill.map { ["drill": $0.description] } ?? [:]) { first, _ in first })),
            pendingHook == .beforeDeploy ? .runHooks(.beforeDeploy) : .ensureCandidateInstances,
        ]
    }

    public var isTerminal: Bool { phase.isTerminal }

    /// Whether analysis should be measuring the candidate now.
    public var analysisActive: Bool {
        switch phase {
        case .analyzing: return true
        case .paused, .switched: return analysis != nil && candidateWeight > 0
        case .preview: return analysis != nil
        case .starting, .promoted, .rolledBack: return false
        }
    }

    /// Whether baseline instances (fresh stable ones with the candidate's share) run beside the
    /// candidate: asked for by the analysis, and only meaningful for a canary with steps and a stable version.
    public var usesBaseline: Bool {
        guard analysis?.baseline == true, stableVersion != nil, case let .canary(canary) = strategy else { return false }
        return !canary.steps.isEmpty
    }

    /// The analysis settings in force: the service's, or defaults for an analysis step without them.
    public var effectiveAnalysis: AnalysisSpec { analysis ?? AnalysisSpec() }

    public var currentStep: CanaryStep? {
        guard case let .canary(canary) = strategy, canary.steps.indices.contains(stepIndex) else { return nil }
        return canary.steps[stepIndex]
    }

    public var strategyDescription: String {
        switch strategy {
        case let .canary(canary):
            return canary.steps.isEmpty ? "all at once" : "canary, \(canary.steps.count) steps"
        case .blueGreen:
            return "blue-green"
        }
    }

    public mutating func handle(_ input: RolloutInput, at now: Moment) -> [RolloutEffect] {
        guard !phase.isTerminal else { return [] }
        switch input {
        case .tick:
            // The hooks' own timeouts bound the wait; timers resume once they are done. A hold stops them all.
            return pendingHook == nil && heldSince == nil ? checkTimers(at: now) : []
        case let .hold(reason):
            return hold(reason, at: now)
        case .unhold:
            return unhold(at: now)
        case .candidateReady:
            guard phase == .starting, pendingHook == nil else { return [] }
            let effects: [RolloutEffect] = [
                .record(
                    EventDraft(
                        .candidateReady, "all \(candidateVersion) instances are healthy",
                        evidence: ["startup": (now - startedAt).description]))
            ]
            return effects + (hasHooks(at: .afterStart) ? waitForHooks(.afterStart) : beforeFirstStep(at: now))
        case let .releaseProceed(barrier):
            return proceedWithRelease(barrier, at: now)
        case let .requested(actor, command):
            return handle(command, at: now).map { $0.attributed(to: actor) }
        case let .hooksFinished(point, failure):
            guard pendingHook == point else { return [] }
            pendingHook = nil
            if let failure { return rollBack(failure, at: now) }
            return continueAfterHooks(point, at: now)
        case let .candidateFailed(trigger):
            return rollBack(trigger, at: now)
        case let .measurement(measurement):
            return judge(measurement, at: now)
        case let .promote(full):
            return promoteByHand(full: full, at: now)
        case let .abort(reason):
            return rollBack(Trigger(kind: .abort, message: reason), at: now)
        case let .candidateTraffic(requests):
            if awaitingEvidenceSince != nil { requestsAtWeight = requests }
            return []
        case let .pauseForHuman(trigger):
            return pauseForHuman(trigger)
        case let .resume(alive):
            if let pending = pendingHook, phase == .starting, pending == .beforeDeploy {
                return [.record(EventDraft(.rolloutResumed, "resumed before deploy after a controller restart")), .runHooks(pending)]
            }
            if !alive && phase != .starting {
                return rollBack(Trigger(kind: .instancesLost, message: "candidate \(candidateVersion) instances were gone after a controller restart"), at: now)
            }
            // A deadline that passed while the controller was down decides first, so a rollback
            // still moves traffic before anything else and starts no instances it would stop.
            let timers = pendingHook == nil ? checkTimers(at: now) : []
            if phase.isTerminal { return timers }
            return [
                .record(EventDraft(.rolloutResumed, "resumed in phase \(phase.rawValue) at \(candidateWeight)% after a controller restart")),
                .ensureCandidateInstances, .setCandidateWeight(candidateWeight),
            ] + timers + (pendingHook.map { [.runHooks($0)] } ?? [])
        }
    }

    // MARK: - Transitions

    private mutating func waitForHooks(_ point: HookPoint) -> [RolloutEffect] {
        pendingHook = point
        // Smoke tests before traffic reach the healthy candidate through the pin header, at 0 %.
        let publish: [RolloutEffect] = point == .afterStart || point == .beforeTraffic ? [.setCandidateWeight(candidateWeight)] : []
        return publish + [.runHooks(point)]
    }

    /// Whether the candidate's instances belong in the routing table (for weighted or pinned requests).
    public var candidateRoutable: Bool {
        switch phase {
        case .rolledBack: false
        case .starting: pendingHook == .afterStart || pendingHook == .beforeTraffic
        default: true
        }
    }

    /// Where a rollout goes once the hooks at a gating point passed.
    private mutating func continueAfterHooks(_ point: HookPoint, at now: Moment) -> [RolloutEffect] {
        switch point {
        case .beforeDeploy:
            return [.ensureCandidateInstances]
        case .afterStart:
            return beforeFirstStep(at: now)
        case .beforeTraffic:
            if case .blueGreen = strategy {
                trafficHooksPassed = true
                return promote(at: now, message: "beforeTraffic hooks passed: switching to \(candidateVersion)")
            }
            return enterFirstStep(at: now)
        case .afterStep:
            return runSteps(at: now)
        case .afterPromotion, .onRollback:
            return []
        }
    }

    /// A canary waits for its `beforeTraffic` hooks here; blue-green runs them before the switch instead.
    private mutating func beforeFirstStep(at now: Moment) -> [RolloutEffect] {
        if case .canary = strategy, stableVersion != nil, hasHooks(at: .beforeTraffic) { return waitForHooks(.beforeTraffic) }
        return enterFirstStep(at: now)
    }

    private mutating func enterFirstStep(at now: Moment) -> [RolloutEffect] {
        stepIndex = 0
        stepStartedAt = now
        guard stableVersion != nil else {
            return promote(at: now, message: "first version of \(service): all traffic to \(candidateVersion)")
        }
        switch strategy {
        case .canary:
            if let hold = holdForRelease(.traffic) { return hold }
            return runSteps(at: now)
        case let .blueGreen(blueGreen):
            phase = .preview
            waitUntil = blueGreen.autoPromotionAfter.map { now + $0 }
            let door = blueGreen.previewListen.map { " on preview \($0)" } ?? ""
            let when = blueGreen.autoPromotionAfter.map { "switching in \($0)" } ?? (release == nil ? "waiting for promote" : "switching with its release")
            let preview: [RolloutEffect] = [.setCandidateWeight(0), .record(EventDraft(.bluegreenPreview, "\(candidateVersion) in preview\(door), \(when)"))]
            // Without a preview period the switch waits only for the release's other services.
            if waitUntil == nil, let hold = holdForRelease(.promotion) { return preview + hold }
            return preview
        }
    }

    /// Executes canary steps from `stepIndex` until one has to wait.
    private mutating func runSteps(at now: Moment) -> [RolloutEffect] {
        guard case let .canary(canary) = strategy else { return [] }
        var effects: [RolloutEffect] = []
        while stepIndex < canary.steps.count {
            if stepIndex > 0, let hold = holdForRelease(.step(stepIndex)) { return effects + hold }
            let step = canary.steps[stepIndex]
            let label = "step \(stepIndex + 1)/\(canary.steps.count)"
            stepStartedAt = now
            switch step {
            case let .setWeight(weight):
                if weight != candidateWeight, let wait = awaitEvidence(at: now) { return effects + wait }
                candidateWeight = weight
                passedWindowsAtWeight = 0
                requestsAtWeight = 0
                // Traffic flows from here on: routable and measured, also while `afterStep` hooks run.
                if phase == .starting { phase = .paused }
                effects += [
                    .setCandidateWeight(weight),
                    .record(
                        EventDraft(
                            .stepSetWeight, "\(label): \(weight)% of traffic to \(candidateVersion)",
                            evidence: ["weight": String(weight), "step": String(stepIndex + 1)])),
                ]
                stepIndex += 1
                if hasHooks(at: .afterStep) { return effects + waitForHooks(.afterStep) }
            case let .pause(duration):
                phase = .paused
                waitUntil = duration.map { now + $0 }
                // An indefinite pause needs a human: its own kind, so notifications tell someone by default.
                effects.append(
                    .record(
                        EventDraft(
                            duration == nil ? .stepPauseUntilPromoted : .stepPause,
                            "\(label): " + (duration.map { "pause \($0)" } ?? "paused until promoted"),
                            evidence: ["step": String(stepIndex + 1)])))
                return effects
            case let .confirm(message):
                phase = .paused
                waitUntil = nil
                effects.append(
                    .record(
                        EventDraft(
                            .stepConfirm, "\(label): waiting for `ripcord promote`: \(message)",
                            evidence: ["step": String(stepIndex + 1), "message": message, "weight": String(candidateWeight)])))
                return effects
            case let .analysis(passes):
                phase = .analyzing
                analysisPasses = 0
                effects.append(
                    .record(
                        EventDraft(
                            .stepAnalysis, "\(label): analysis until \(passes) measurements pass",
                            evidence: ["step": String(stepIndex + 1), "passesNeeded": String(passes)])))
                return effects
            }
        }
        if let wait = awaitEvidence(at: now) { return effects + wait }
        return effects + promote(at: now, message: "all steps passed: all traffic to \(candidateVersion)")
    }

    /// Whether the candidate has passed enough analysis windows at its current weight to leave it.
    /// Only a canary of a service with analysis, once traffic flows to the candidate, needs any.
    public var hasEvidenceAtWeight: Bool {
        // A blue-green preview (0 %) needs none; its switch to 100 % does before the old version stops.
        guard let analysis, candidateWeight > 0, stableVersion != nil else { return true }
        return (passedWindowsAtWeight ?? 0) >= analysis.minPassedWindows
    }

    /// Holds the rollout at its current weight until it has evidence (nil when it has). Time alone
    /// never promotes: a quiet step waits, and `progressDeadline` ends the wait.
    private mutating func awaitEvidence(at now: Moment) -> [RolloutEffect]? {
        guard !hasEvidenceAtWeight else {
            awaitingEvidenceSince = nil
            evidenceOverdue = nil
            return nil
        }
        guard awaitingEvidenceSince == nil else { return [] }
        awaitingEvidenceSince = now
        if case .canary = strategy {
            phase = .paused
            waitUntil = nil
        }
        var evidence = evidenceFacts
        evidence["deadline"] = progressDeadline.description
        return [.record(EventDraft(.evidenceWaiting, "waiting for evidence at \(candidateWeight)%: \(evidenceProgress)", evidence: evidence))]
    }

    /// What the candidate has shown at its current weight, for the waiting event and a `noEvidence` trigger.
    private var evidenceFacts: [String: String] {
        let spec = effectiveAnalysis
        return [
            "weight": String(candidateWeight), "passedWindows": String(passedWindowsAtWeight ?? 0),
            "minPassedWindows": String(spec.minPassedWindows), "minRequests": String(spec.minRequests),
            "requestsSeen": String(requestsAtWeight ?? 0),
        ]
    }

    /// Where a rollout that waited for evidence goes once it has it.
    private mutating func goOnWithEvidence(at now: Moment) -> [RolloutEffect] {
        awaitingEvidenceSince = nil
        evidenceOverdue = nil
        if case .blueGreen = strategy {
            return promote(
                at: now, message: "scale-down delay over and evidence at 100 %: \(candidateVersion) promoted, \(stableVersion.map(\.description) ?? "old version") stopped")
        }
        return runSteps(at: now)
    }

    /// "0 of 1 passed windows; 3 requests seen at this weight (a window needs 10)".
    public var evidenceProgress: String {
        let spec = effectiveAnalysis
        return "\(passedWindowsAtWeight ?? 0) of \(spec.minPassedWindows) passed analysis windows; "
            + "\(requestsAtWeight ?? 0) requests seen at this weight (a window needs \(spec.minRequests))"
    }

    private mutating func advanceStep(at now: Moment) -> [RolloutEffect] {
        stepIndex += 1
        waitUntil = nil
        return hasHooks(at: .afterStep) ? waitForHooks(.afterStep) : runSteps(at: now)
    }

    private mutating func promote(at now: Moment, message: String) -> [RolloutEffect] {
        if let hold = holdForRelease(.promotion) { return hold }
        if case .blueGreen = strategy, phase == .preview, stableVersion != nil, hasHooks(at: .beforeTraffic), trafficHooksPassed != true {
            waitUntil = nil
            return waitForHooks(.beforeTraffic)
        }
        candidateWeight = 100
        if case let .blueGreen(blueGreen) = strategy, stableVersion != nil, phase != .switched {
            phase = .switched
            waitUntil = now + blueGreen.scaleDownDelay
            passedWindowsAtWeight = 0
            requestsAtWeight = 0
            return [
                .setCandidateWeight(100),
                .record(EventDraft(.bluegreenSwitched, "all traffic switched to \(candidateVersion); \(stableVersion!) kept warm for \(blueGreen.scaleDownDelay)")),
            ]
        }
        phase = .promoted
        finishedAt = now
        waitUntil = nil
        var effects: [RolloutEffect] = [.setCandidateWeight(100), .replaceStableWithCandidate]
        effects.append(
            .record(
                EventDraft(
                    .rolloutPromoted, message,
                    evidence: [
                        "version": candidateVersion.description, "revision": String(revision),
                        "duration": (now - startedAt).description,
                    ])))
        if hasHooks(at: .afterPromotion) { effects.append(.runHooks(.afterPromotion)) }
        return effects
    }

    private mutating func rollBack(_ trigger: Trigger, at now: Moment) -> [RolloutEffect] {
        let weightBefore = candidateWeight
        self.trigger = trigger
        phase = .rolledBack
        candidateWeight = 0
        finishedAt = now
        waitUntil = nil
        pendingHook = nil
        heldAt = nil
        var evidence = trigger.evidence
        evidence["trigger"] = trigger.kind.rawValue
        evidence["candidateWeightBefore"] = String(weightBefore)
        let target = stableVersion.map { "all traffic back to \($0)" } ?? "no stable version to return to"
        return [
            .setCandidateWeight(0),
            .stopCandidateInstances,
            .record(
                EventDraft(
                    .rolloutRolledBack, "rolled back \(candidateVersion) (\(trigger.kind.rawValue): \(trigger.message)); \(target)",
                    evidence: evidence)),
        ] + (hasHooks(at: .onRollback) ? [.runHooks(.onRollback)] : [])
    }

    /// Stops at a release barrier not yet granted: traffic stays as it is, analysis keeps watching
    /// (a failure still rolls back), and no timer moves the rollout on. Nil when the rollout may pass.
    private mutating func holdForRelease(_ barrier: ReleaseBarrier) -> [RolloutEffect]? {
        guard let release, barrier.rank > (releaseGrantedRank ?? -1) else { return nil }
        guard heldAt != barrier else { return [] }
        heldAt = barrier
        waitUntil = nil
        if phase == .starting || phase == .analyzing { phase = .paused }
        return [
            .record(
                EventDraft(
                    .releaseWaiting, "\(barrier) at \(candidateWeight)%: waiting for the other services of release \(release)",
                    evidence: ["release": String(release), "barrier": barrier.description, "weight": String(candidateWeight)]))
        ]
    }

    private mutating func proceedWithRelease(_ barrier: ReleaseBarrier, at now: Moment) -> [RolloutEffect] {
        guard let release, heldAt == barrier else { return [] }
        heldAt = nil
        releaseGrantedRank = barrier.rank
        let note = EventDraft(
            .releaseProceeding, "every service of release \(release) is \(barrier): going on",
            evidence: ["release": String(release), "barrier": barrier.description])
        switch barrier {
        case .traffic:
            return [.record(note)] + enterFirstStep(at: now)
        case .step:
            return [.record(note)] + runSteps(at: now)
        case .promotion:
            return [.record(note)] + promote(at: now, message: "release \(release): every service passed; all traffic to \(candidateVersion)")
        }
    }

    private mutating func checkTimers(at now: Moment) -> [RolloutEffect] {
        switch phase {
        case .starting:
            if now - startedAt > startupDeadline {
                return rollBack(
                    Trigger(
                        kind: .startupDeadline, message: "candidate instances not healthy within \(startupDeadline)",
                        evidence: ["startupDeadline": startupDeadline.description]), at: now)
            }
        case .paused:
            if let since = awaitingEvidenceSince, evidenceOverdue != true, now - since > progressDeadline {
                return noEvidence(at: now)
            }
            if let until = waitUntil, now >= until { return advanceStep(at: now) }
        case .analyzing:
            if now - stepStartedAt > progressDeadline {
                return rollBack(
                    Trigger(
                        kind: .progressDeadline, message: "analysis step made no decision within \(progressDeadline)",
                        evidence: ["progressDeadline": progressDeadline.description, "passes": String(analysisPasses)]), at: now)
            }
        case .preview:
            if let until = waitUntil, now >= until { return promote(at: now, message: "automatic promotion after preview") }
        case .switched:
            if let since = awaitingEvidenceSince, evidenceOverdue != true, now - since > progressDeadline {
                return noEvidence(at: now)
            }
            if let until = waitUntil, now >= until {
                // The old version stops only once the candidate has shown, at 100 %, that it is good.
                if let wait = awaitEvidence(at: now) { return wait }
                return promote(at: now, message: "scale-down delay over: \(candidateVersion) promoted, \(stableVersion.map(\.description) ?? "old version") stopped")
            }
        case .promoted, .rolledBack:
            break
        }
        return []
    }

    private mutating func judge(_ measurement: AnalysisMeasurement, at now: Moment) -> [RolloutEffect] {
        guard analysisActive else { return [] }
        var effects: [RolloutEffect] = [
            .record(
                EventDraft(
                    .analysisMeasurement, "\(measurement.verdict.rawValue): \(measurement.summary)",
                    evidence: measurement.evidence))
        ]
        switch measurement.verdict {
        case .fail:
            if let trigger = analysisFailures.record(measurement, limit: effectiveAnalysis.failureLimit) {
                effects += rollBack(trigger, at: now)
            }
        case .pass:
            if candidateWeight > 0 { passedWindowsAtWeight = (passedWindowsAtWeight ?? 0) + 1 }
            if phase == .analyzing, case let .analysis(needed)? = currentStep {
                analysisPasses += 1
                if analysisPasses >= needed, heldSince == nil { effects += advanceStep(at: now) }
            } else if awaitingEvidenceSince != nil, hasEvidenceAtWeight, pendingHook == nil, heldSince == nil {
                effects.append(
                    .record(
                        EventDraft(
                            .evidenceReceived, "evidence at \(candidateWeight)%: going on",
                            evidence: ["weight": String(candidateWeight), "passedWindows": String(passedWindowsAtWeight ?? 0)])))
                effects += goOnWithEvidence(at: now)
            }
        case .inconclusive:
            break
        }
        return effects
    }

    /// Holds the rollout where it is — traffic unchanged, no timer advances it — until promoted or aborted.
    private mutating func pauseForHuman(_ trigger: Trigger) -> [RolloutEffect] {
        switch phase {
        case .starting, .promoted, .rolledBack:
            return []
        case .analyzing, .paused:
            phase = .paused
            waitUntil = nil
        case .preview, .switched:
            waitUntil = nil
        }
        var evidence = trigger.evidence
        evidence["trigger"] = trigger.kind.rawValue
        return [.record(EventDraft(.rolloutPaused, "paused at \(candidateWeight)% until promoted or aborted: \(trigger.message)", evidence: evidence))]
    }

    private mutating func hold(_ reason: String, at now: Moment) -> [RolloutEffect] {
        guard heldSince == nil, phase != .starting else { return [] }
        heldSince = now
        return [
            .record(
                EventDraft(
                    .rolloutHeld, "held at \(candidateWeight)% until resumed: \(reason); analysis keeps judging",
                    evidence: ["weight": String(candidateWeight), "phase": phase.rawValue, "reason": reason]))
        ]
    }

    /// Timers go on where the hold stopped them, and what came in meanwhile (passed windows) counts now.
    private mutating func unhold(at now: Moment) -> [RolloutEffect] {
        guard let since = heldSince else { return [] }
        heldSince = nil
        let held = now - since
        waitUntil = waitUntil.map { $0 + held }
        if let waiting = awaitingEvidenceSince { awaitingEvidenceSince = waiting + held }
        if phase == .analyzing || phase == .starting { stepStartedAt = stepStartedAt + held }
        var effects: [RolloutEffect] = [
            .record(
                EventDraft(
                    .rolloutUnheld, "resumed at \(candidateWeight)% after a hold of \(held)",
                    evidence: ["held": held.description]))
        ]
        if phase == .analyzing, case let .analysis(needed)? = currentStep, analysisPasses >= needed {
            effects += advanceStep(at: now)
        } else if awaitingEvidenceSince != nil, hasEvidenceAtWeight, pendingHook == nil {
            effects += goOnWithEvidence(at: now)
        } else if pendingHook == nil {
            effects += checkTimers(at: now)
        }
        return effects
    }

    /// The progress deadline passed while waiting for evidence: roll back, or hold for a human.
    private mutating func noEvidence(at now: Moment) -> [RolloutEffect] {
        var evidence = evidenceFacts
        evidence["progressDeadline"] = progressDeadline.description
        let trigger = Trigger(
            kind: .noEvidence, message: "no evidence within \(progressDeadline) at \(candidateWeight)%: \(evidenceProgress)",
            evidence: evidence)
        guard effectiveAnalysis.onNoEvidence == .pause else { return rollBack(trigger, at: now) }
        evidenceOverdue = true
        return pauseForHuman(trigger)
    }

    private mutating func promoteByHand(full: Bool, at now: Moment) -> [RolloutEffect] {
        if heldSince != nil, pendingHook == nil, release == nil {
            // The human who promotes decides the hold is over.
            heldSince = nil
        }
        // A release member goes on with its release, never alone: its release may end an indefinite
        // pause for all members at once, and nothing skips steps.
        guard pendingHook == nil, release == nil || (!full && heldAt == nil) else { return [] }
        switch phase {
        case .starting:
            return []
        case .preview, .switched:
            return promote(at: now, message: "promoted by hand")
        case .paused where !full && awaitingEvidenceSince != nil:
            // Not a pause step: the evidence is missing, and only --full skips analysis.
            return []
        case .paused where !full:
            // Like Argo's promote: the pause ends and the next step runs, so its analysis still gates.
            let pause = if case .confirm? = currentStep { "confirmation step" } else { waitUntil == nil ? "indefinite pause" : "timed pause" }
            return [
                .record(
                    EventDraft(
                        .stepPromoted, "\(pause) ended by hand: going on to the next step",
                        evidence: ["step": String(stepIndex + 1), "skipped": pause]))
            ] + advanceStep(at: now)
        case .analyzing where !full:
            return []
        case .paused, .analyzing:
            awaitingEvidenceSince = nil
            evidenceOverdue = nil
            var skipped = "the rest of the rollout"
            if case let .canary(canary) = strategy {
                skipped = "steps \(stepIndex + 1)–\(canary.steps.count) and their analysis"
                stepIndex = canary.steps.count
            }
            return [
                .record(
                    EventDraft(
                        .stepPromoted, "promoted by hand with --full: \(skipped) skipped",
                        evidence: ["skipped": skipped, "analysisSkipped": "true"]))
            ]
                + promote(at: now, message: "promoted by hand: all traffic to \(candidateVersion)")
        case .promoted, .rolledBack:
            return []
        }
    }
}
