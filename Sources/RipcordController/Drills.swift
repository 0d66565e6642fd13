import RipcordCore
import RipcordInsights

/// Rollback drills (`ripcord drill`): the stable version is rolled out again as a candidate whose traffic
/// the router corrupts (or whose processes are killed), through the service's own strategy and analysis.
/// Ripcord should roll it back by itself; the drill passes when it does within the service's budget
/// (`drill.maxTimeToRestore`) and the stable version failed no request meanwhile.
extension Controller {
    /// Starts a drill. It skips the service's hooks, declared flags and migrations (a drill tests detection
    /// and the way back, and must not page anyone, turn features off or touch the schema), and sends
    /// synthetic traffic to the candidate while its real traffic is too thin to judge.
    public func drill(service name: String, fault requested: InjectedFault?, actor: String? = nil) async throws -> Rollout {
        guard var spec = services[name]?.spec else { throw unknownService(name) }
        let fault = requested ?? spec.drill.fault
        try checkDrillable(spec, fault)
        try await ensureNoActiveRollout(name)
        services[name]?.beginning = true
        defer { services[name]?.beginning = false }
        await previousRolloutSettled(name)
        guard let stable = try await store.stableRevision(service: name) else {
            throw ControllerError(.conflict, "nothing_to_drill", "\(name) has no stable version to drill yet")
        }
        spec.hooks = []
        spec.flags = []
        spec.migrations = nil
        if var analysis = spec.analysis, analysis.syntheticTraffic == nil {
            // Brisk enough that a window fills in a fraction of a second: the drill is timed from the first request.
            analysis.syntheticTraffic = SyntheticTrafficSpec(requestsPerSecond: 20)
            spec.analysis = analysis
        }
        let drilled = Revision(service: name, number: stable.number, version: stable.version, spec: spec, createdAt: stable.createdAt, note: stable.note)
        drillBaselines[name] = await traffic.metrics(service: name, version: stable.version, role: .stable).errors
        return try await begin(service: name, revision: drilled, kind: .drill, strategy: nil, schema: nil, drill: fault, actor: actor)
    }

    private func checkDrillable(_ spec: ServiceSpec, _ fault: InjectedFault) throws {
        if fault.isRouterFault, !traffic.injectsFaults {
            throw ControllerError(
                .conflict, "drill_unsupported",
                "\(spec.name)'s traffic goes through HAProxy or nginx, which cannot inject \(fault): drill it with --fault crash, or route it with Ripcord's router")
        }
        if fault == .crash, spec.driver != .process {
            throw ControllerError(.conflict, "drill_unsupported", "a crash drill kills local processes; \(spec.name)'s instances run through its command driver")
        }
    }

    // MARK: - Drills that run by themselves

    /// `ripcord drill SERVICE --schedule 7d`: the first drill runs `every` from now, then every `every`.
    /// - Parameter actor: the token that set it, recorded on a `drill.scheduled` event.
    public func scheduleDrill(service name: String, every: TimeSpan, fault: InjectedFault?, actor: String? = nil) async throws -> DrillSchedule {
        guard let spec = services[name]?.spec else { throw unknownService(name) }
        try checkDrillable(spec, fault ?? spec.drill.fault)
        let schedule = DrillSchedule(service: name, every: every, fault: fault, nextAt: clock.now + every)
        try await store.saveDrillSchedule(schedule)
        scheduledDrills[name] = schedule
        await recordEvent(
            service: name, rolloutID: nil,
            EventDraft(
                .drillScheduled, "a drill every \(every) (\(fault?.description ?? "drill.fault")), the next at \(schedule.nextAt)",
                evidence: ["every": every.description, "fault": fault?.description ?? "", "nextAt": schedule.nextAt.description], actor: actor))
        return schedule
    }

    /// False when the service had no schedule; else a `drill.unscheduled` event names who stopped it.
    public func unscheduleDrill(service name: String, actor: String? = nil) async throws -> Bool {
        guard services[name] != nil else { throw unknownService(name) }
        scheduledDrills[name] = nil
        guard try await store.removeDrillSchedule(service: name) else { return false }
        await recordEvent(service: name, rolloutID: nil, EventDraft(.drillUnscheduled, "drills no longer run by themselves", actor: actor))
        return true
    }

    public func drillSchedules() -> [DrillSchedule] { scheduledDrills.values.sorted { $0.service < $1.service } }

    /// Loads the schedules and checks every second for a drill that is due.
    func startDrillScheduler() async throws {
        scheduledDrills = Dictionary(uniqueKeysWithValues: try await store.drillSchedules().map { ($0.service, $0) })
        drillScheduler = Task {
            while !Task.isCancelled {
                try? await clock.sleep(for: .seconds(1))
                await runDueDrills()
            }
        }
    }

    /// A due drill starts unless the service is rolling out (then it waits a minute, or its own period if shorter);
    /// one that cannot start at all is recorded as failed, so the people it notifies hear of it.
    func runDueDrills() async {
        let now = clock.now
        for var schedule in scheduledDrills.values where schedule.nextAt <= now && services[schedule.service] != nil {
            do {
                _ = try await drill(service: schedule.service, fault: schedule.fault)
                schedule.nextAt = now + schedule.every
            } catch let refusal as ControllerError where refusal.code == "rollout_in_progress" {
                schedule.nextAt = now + min(schedule.every, .seconds(60))
            } catch {
                schedule.nextAt = now + schedule.every
                await recordEvent(
                    service: schedule.service, rolloutID: nil,
                    EventDraft(.drillFailed, "scheduled drill could not start: \(error)", evidence: ["reason": "\(error)", "schedule": schedule.every.description]))
            }
            guard scheduledDrills[schedule.service] != nil else { continue }
            scheduledDrills[schedule.service] = schedule
            try? await store.saveDrillSchedule(schedule)
        }
    }

    /// Records the drill's verdict once everything it did is undone (the traffic restored, the candidate stopped).
    func judgeDrill(_ rollout: Rollout) async {
        let name = rollout.service
        let events = (try? await store.events(service: nil, rolloutID: rollout.id, afterID: 0, limit: 10_000)) ?? []
        let timeline = RolloutTimeline(rolloutID: rollout.id, service: name, events: events)
        let stableNow = await traffic.metrics(service: name, version: rollout.candidateVersion, role: .stable).errors
        let before = drillBaselines.removeValue(forKey: name) ?? stableNow
        let stableErrors = stableNow >= before ? stableNow - before : 0
        let budget = services[name]?.spec.drill.maxTimeToRestore ?? DrillSpec.defaultMaxTimeToRestore
        let fault = rollout.drill ?? DrillSpec.defaultFault
        let verdict = DrillVerdict(
            phase: rollout.phase, trigger: rollout.trigger, timeToRestore: timeline.timeToRestore, budget: budget, stableErrors: stableErrors,
            fault: fault, analysed: rollout.analysis != nil)
        var evidence = [
            "fault": fault.description, "budget": budget.description, "outcome": rollout.phase.rawValue, "stableErrors": String(stableErrors),
            "reason": verdict.reason,
        ]
        if let trigger = rollout.trigger { evidence["trigger"] = trigger.kind.rawValue }
        if let detect = timeline.timeToDetect { evidence["timeToDetect"] = detect.description }
        if let restore = timeline.timeToRestore { evidence["timeToRestore"] = restore.description }
        await recordEvent(
            service: name, rolloutID: rollout.id,
            EventDraft(verdict.passed ? .drillPassed : .drillFailed, "drill \(verdict.passed ? "passed" : "FAILED"): \(verdict.reason)", evidence: evidence))
    }

    /// Every drill's verdict, newest first (`ripcord drill history`).
    public func drillHistory(service: String?) async throws -> [Event] {
        if let service, services[service] == nil { throw unknownService(service) }
        let verdicts = try await store.events(
            kinds: [.drillPassed, .drillFailed], since: Moment(millisecondsSinceEpoch: 0), service: service, limit: 100_000)
        return verdicts.reversed()
    }
}
