/// One step of a guarded flag rollout: this share of users for at least this long.
public struct FlagRolloutStep: Sendable, Codable, Equatable {
    public var percentage: Int
    public var duration: TimeSpan

    public init(percentage: Int, duration: TimeSpan) {
        self.percentage = percentage
        self.duration = duration
    }
}

/// What a guarded flag rollout does: raise `flag`'s rollout percentage step by step while the watched
/// service's traffic is analysed with the same limits and metrics as a deployment.
public struct FlagRolloutPlan: Sendable, Codable, Equatable {
    public var flag: String
    public var environment: String
    public var steps: [FlagRolloutStep]
    /// The service whose router measurements are judged (and `{service}` in provider metrics).
    public var service: String
    public var analysis: AnalysisSpec
    /// A step whose router analysis has not passed this long after its duration turns the flag off:
    /// a rollout never widens on no data.
    public var progressDeadline: TimeSpan

    public init(
        flag: String, environment: String, steps: [FlagRolloutStep], service: String, analysis: AnalysisSpec = AnalysisSpec(),
        progressDeadline: TimeSpan = .seconds(600)
    ) {
        self.flag = flag
        self.environment = environment
        self.steps = steps
        self.service = service
        self.analysis = analysis
        self.progressDeadline = progressDeadline
    }

    /// Why the plan cannot run, or nil: at least one step, percentages rising within 1...100.
    public var problem: String? {
        guard !steps.isEmpty else { return "give at least one step" }
        var previous = 0
        for step in steps {
            guard (1...100).contains(step.percentage) else { return "a step's percentage is 1 to 100 (got \(step.percentage))" }
            guard step.percentage > previous else { return "step percentages must rise (\(step.percentage) after \(previous))" }
            guard step.duration >= .zero else { return "a step's duration cannot be negative" }
            previous = step.percentage
        }
        return nil
    }

    /// Whether each step needs a passing router measurement before the next (there are router limits to judge).
    public var judgesRouterTraffic: Bool { analysis.maxErrorRate != nil || !analysis.maxLatency.isEmpty }
}

public enum FlagRolloutPhase: String, Sendable, Codable, Equatable {
    case running
    /// The last step held with no regression: the flag stays at its percentage.
    case completed
    /// A regression, an exhausted deadline or an abort turned the flag off.
    case disabled

    public var isTerminal: Bool { self != .running }
}

/// What the machine asks the world to do; each is safe to repeat.
public enum FlagRolloutEffect: Sendable, Codable, Equatable {
    case setPercentage(Int)
    /// Turn the flag on (at the start, after the first step's percentage is set).
    case enableFlag
    /// The kill switch, with the reason recorded in the flag's history.
    case disableFlag(reason: String)
    case record(EventDraft)

    /// The same effect, its event (if it records one) credited to `actor` (nil: left as it is).
    public func attributed(to actor: String?) -> FlagRolloutEffect {
        guard case let .record(draft) = self else { return self }
        return .record(draft.attributed(to: actor))
    }
}

public enum FlagRolloutInput: Sendable, Equatable {
    /// Time passed: a step whose duration is over (and whose analysis passed) gives way to the next.
    case tick
    /// A judged window of the watched service's router traffic.
    case measurement(AnalysisMeasurement)
    /// A provider metric failed (or stayed inconclusive) beyond its limits.
    case metricFailed(Trigger)
    case abort(reason: String)
    /// The controller restarted and found the rollout unsettled in the store.
    case resume
    /// An input sent through the API by the token named `by`: the events it causes carry that name.
    indirect case requested(by: String, FlagRolloutInput)

    /// This input as sent by the token named `actor` (nil: by Ripcord itself).
    public func sent(by actor: String?) -> FlagRolloutInput {
        actor.map { .requested(by: $0, self) } ?? self
    }
}

/// A guarded flag rollout as a pure state machine: `handle(input, at:)` moves the state and returns
/// effects; the effects not yet confirmed carried out stay in `pendingEffects` (persisted with the
/// state), so a controller that crashed between the two repeats them on `resume`.
public struct FlagRollout: Sendable, Codable, Equatable {
    public var id: Int64
    public let plan: FlagRolloutPlan
    public private(set) var phase: FlagRolloutPhase
    public private(set) var stepIndex: Int
    public private(set) var percentage: Int
    public private(set) var startedAt: Moment
    public private(set) var stepStartedAt: Moment
    /// Passing router measurements in the current step.
    public private(set) var stepPasses: Int
    /// Failed router measurements in the whole rollout (judged against the analysis' `failureLimit`).
    public private(set) var failures: FailureBudget
    public private(set) var trigger: Trigger?
    public private(set) var finishedAt: Moment?
    public private(set) var pendingEffects: [FlagRolloutEffect]

    public init(id: Int64, plan: FlagRolloutPlan, at now: Moment) {
        self.id = id
        self.plan = plan
        phase = .running
        stepIndex = 0
        percentage = 0
        startedAt = now
        stepStartedAt = now
        stepPasses = 0
        failures = FailureBudget()
        trigger = nil
        finishedAt = nil
        pendingEffects = []
    }

    public var isTerminal: Bool { phase.isTerminal }
    /// Finished and every effect carried out: nothing left to do after a restart.
    public var isSettled: Bool { isTerminal && pendingEffects.isEmpty }
    public var currentStep: FlagRolloutStep { plan.steps[min(stepIndex, plan.steps.count - 1)] }

    /// The effects that begin the rollout: the first step's percentage, then the flag on.
    public mutating func start() -> [FlagRolloutEffect] {
        let steps = plan.steps.map { "\($0.percentage)%" }.joined(separator: ", ")
        let started = FlagRolloutEffect.record(
            EventDraft(
                .flagRolloutStarted, "guarded rollout of \(plan.flag) (\(plan.environment)) in steps \(steps), watching \(plan.service)",
                evidence: ["flag": plan.flag, "environment": plan.environment, "steps": steps, "service": plan.service]))
        return remember([started] + enterStep(0, at: startedAt) + [.enableFlag])
    }

    public mutating func handle(_ input: FlagRolloutInput, at now: Moment) -> [FlagRolloutEffect] {
        if case .resume = input {
            guard !isSettled else { return [] }
            // Created, but the controller stopped before the first step was recorded.
            guard isTerminal || percentage > 0 else { return start() }
            let resumed = FlagRolloutEffect.record(
                EventDraft(
                    .flagRolloutResumed, "resumed in phase \(phase.rawValue) at \(percentage)% after a controller restart",
                    evidence: ["phase": phase.rawValue, "percentage": String(percentage), "step": String(stepIndex + 1)]))
            if !isTerminal, !pendingEffects.contains(.setPercentage(percentage)) { pendingEffects.append(.setPercentage(percentage)) }
            return [resumed] + pendingEffects
        }
        guard !isTerminal else { return [] }
        switch input {
        case .tick:
            let elapsed = now - stepStartedAt
            let passed = !plan.judgesRouterTraffic || stepPasses > 0
            if elapsed >= currentStep.duration, passed { return remember(advance(at: now)) }
            if elapsed.milliseconds > currentStep.duration.milliseconds + plan.progressDeadline.milliseconds {
                return remember(
                    disable(
                        Trigger(
                            kind: .progressDeadline,
                            message: "step \(stepIndex + 1) at \(percentage)% had no passing analysis within \(plan.progressDeadline) after its \(currentStep.duration)",
                            evidence: ["progressDeadline": plan.progressDeadline.description, "step": String(stepIndex + 1)]), at: now))
            }
            return []
        case let .measurement(measurement):
            var evidence = measurement.evidence
            evidence["percentage"] = String(percentage)
            evidence["step"] = String(stepIndex + 1)
            var effects: [FlagRolloutEffect] = [
                .record(
                    EventDraft(
                        .flagRolloutMeasurement, "\(percentage)%: \(measurement.verdict.rawValue): \(measurement.summary)",
                        evidence: evidence))
            ]
            switch measurement.verdict {
            case .pass:
                stepPasses += 1
            case .fail:
                if let trigger = failures.record(measurement, limit: plan.analysis.failureLimit, evidence: evidence) {
                    effects += disable(trigger, at: now)
                }
            case .inconclusive:
                break
            }
            return remember(effects)
        case let .metricFailed(trigger):
            return remember(disable(trigger, at: now))
        case let .abort(reason):
            return remember(disable(Trigger(kind: .abort, message: reason), at: now))
        case .resume:
            return []
        case let .requested(actor, command):
            return handle(command, at: now).map { $0.attributed(to: actor) }
        }
    }

    /// The effects were carried out: nothing to repeat after a restart.
    public mutating func effectsApplied() { pendingEffects = [] }

    // MARK: - Transitions

    private mutating func remember(_ effects: [FlagRolloutEffect]) -> [FlagRolloutEffect] {
        pendingEffects += effects.filter { $0.event == nil }
        return effects
    }

    private mutating func enterStep(_ index: Int, at now: Moment) -> [FlagRolloutEffect] {
        stepIndex = index
        stepStartedAt = now
        stepPasses = 0
        percentage = plan.steps[index].percentage
        let step = plan.steps[index]
        return [
            .setPercentage(step.percentage),
            .record(
                EventDraft(
                    .flagRolloutStep, "step \(index + 1)/\(plan.steps.count): \(plan.flag) at \(step.percentage)% for at least \(step.duration)",
                    evidence: ["step": String(index + 1), "percentage": String(step.percentage), "duration": step.duration.description])),
        ]
    }

    private mutating func advance(at now: Moment) -> [FlagRolloutEffect] {
        guard stepIndex + 1 < plan.steps.count else {
            phase = .completed
            finishedAt = now
            return [
                .record(
                    EventDraft(
                        .flagRolloutCompleted, "\(plan.flag) reached \(percentage)% with no regression",
                        evidence: [
                            "percentage": String(percentage), "duration": (now - startedAt).description,
                            "failures": String(failures.count),
                        ]))
            ]
        }
        return enterStep(stepIndex + 1, at: now)
    }

    private mutating func disable(_ trigger: Trigger, at now: Moment) -> [FlagRolloutEffect] {
        self.trigger = trigger
        phase = .disabled
        finishedAt = now
        var evidence = trigger.evidence
        evidence["trigger"] = trigger.kind.rawValue
        evidence["percentage"] = String(percentage)
        let reason = "guarded rollout \(id) turned it off at \(percentage)% (\(trigger.kind.rawValue): \(trigger.message))"
        return [
            .disableFlag(reason: reason),
            .record(EventDraft(.flagRolloutDisabled, "turned \(plan.flag) off at \(percentage)%: \(trigger.message)", evidence: evidence)),
        ]
    }
}

extension FlagRolloutEffect {
    public var event: EventDraft? {
        if case let .record(draft) = self { return draft }
        return nil
    }
}
