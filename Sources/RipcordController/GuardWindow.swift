import RipcordCore

/// The guard window: for `guardWindow` after a promotion, analysis keeps running on the new stable
/// version — the router's error-rate and latency limits and every provider metric — and a failure
/// undoes the release to the previous revision on its own. (Alerts in the window undo it too; see
/// `Alerts.swift`.) A new rollout of the service ends the window.
extension Controller {
    /// Starts watching a promoted release for its window from `start`: the moment its promotion's clean-up
    /// is over (draining the old version may take longer than a short window), or after a restart the
    /// promotion itself, so a restart never lengthens a window; nothing when it is already over.
    func startGuardWindow(service name: String, promoted rollout: Rollout, from start: Moment? = nil) {
        guard rollout.phase == .promoted, rollout.kind == .deploy, rollout.stableVersion != nil, rollout.analysis != nil,
            let finished = rollout.finishedAt, let window = services[name]?.spec.guardWindow, window > .zero
        else { return }
        let until = (start ?? finished) + window
        guard clock.now < until else { return }
        guards[name]?.cancel()
        guards[name] = Task { await self.guardRelease(service: name, rollout: rollout, until: until) }
    }

    func endGuardWindow(service name: String) {
        guards[name]?.cancel()
        guards[name] = nil
    }

    private enum GuardInput: Sendable {
        case tick
        case failed(Trigger)
    }

    /// The window's watchers (router limits, provider metrics) report a failure to its mailbox; the first
    /// failure undoes the release, and the window's end with none is recorded as passed.
    private func guardRelease(service name: String, rollout: Rollout, until: Moment) async {
        let analysis = rollout.effectiveAnalysis
        let subject = MetricSubject(rolloutID: rollout.id, version: rollout.candidateVersion, role: .stable, stableVersion: rollout.stableVersion)
        let limits = (analysis.maxErrorRate.map { ["error rate ≤ \(formatPercent($0))"] } ?? []) + analysis.maxLatency.map { "\($0.label) ≤ \($0.limit)" }
        let watched = limits + analysis.metrics.map(\.name) + ["alerts"]
        await recordEvent(
            service: name, rolloutID: rollout.id,
            EventDraft(
                .guardStarted, "guarding \(rollout.candidateVersion) until \(until): \(watched.joined(separator: ", "))",
                evidence: ["version": rollout.candidateVersion.description, "until": until.description, "metrics": analysis.metrics.map(\.name).joined(separator: ",")]))
        let mailbox = Mailbox<GuardInput>()
        let clock = self.clock
        var feeders: [@Sendable () async -> Void] = [
            {
                if let trigger = await self.guardRouterLimits(analysis, service: name, subject: subject, until: until) { mailbox.send(.failed(trigger)) }
            }
        ]
        for metric in analysis.metrics {
            feeders.append {
                await self.metricWatcher.watch(metric, service: name) {
                    clock.now < until ? .measure(subject) : .stop
                } decided: { decision in
                    switch decision {
                    case let .failed(trigger, _):
                        mailbox.send(.failed(trigger))
                        return false
                    case let .inconclusive(trigger, action, _) where action == .rollback:
                        mailbox.send(.failed(trigger))
                        return false
                    case .measured, .complete, .inconclusive:
                        return true
                    }
                }
            }
        }
        await mailbox.run(tick: .tick, every: settings.tickInterval, clock: clock, feeders: feeders) { input in
            switch input {
            case .tick:
                guard clock.now >= until else { return false }
                await self.guardWindowOver(service: name)
                await self.recordEvent(
                    service: name, rolloutID: rollout.id,
                    EventDraft(
                        .guardPassed, "guard window of \(rollout.candidateVersion) over with no failure", evidence: ["version": rollout.candidateVersion.description]))
            case let .failed(trigger):
                await self.guardTriggered(rollout, by: trigger)
            }
            return true
        }
    }

    private func guardWindowOver(service name: String) { guards[name] = nil }

    private func guardTriggered(_ rollout: Rollout, by trigger: Trigger) async {
        // Over before the undo begins: a new rollout ends the service's guard window, which must not be this task.
        guards[rollout.service] = nil
        var evidence = trigger.evidence
        evidence["trigger"] = trigger.kind.rawValue
        evidence["promotedAt"] = rollout.finishedAt?.description
        await recordEvent(
            service: rollout.service, rolloutID: rollout.id,
            EventDraft(
                .guardTriggered, "\(trigger.message) \(clock.now - (rollout.finishedAt ?? clock.now)) after \(rollout.candidateVersion) was promoted: undoing",
                evidence: evidence))
        do {
            _ = try await undoAfterPromotion(rollout, note: "guard window of revision \(rollout.revision): \(trigger.message)")
        } catch {
            await recordEvent(service: rollout.service, rolloutID: rollout.id, EventDraft(.guardUndoFailed, "could not undo \(rollout.candidateVersion): \(error)"))
        }
    }

    /// The router's limits (`maxErrorRate`, `maxLatency`) judged on the new stable version's windows;
    /// more failed windows than `failureLimit` trip the guard.
    private func guardRouterLimits(_ analysis: AnalysisSpec, service name: String, subject: MetricSubject, until: Moment) async -> Trigger? {
        guard analysis.maxErrorRate != nil || !analysis.maxLatency.isEmpty else { return nil }
        var window = AnalysisWindow(spec: analysis, baseline: await traffic.metrics(service: name, version: subject.version, role: subject.role), at: clock.now)
        var failures = FailureBudget()
        var silence = RouterSilence()
        while !Task.isCancelled, clock.now < until {
            try? await clock.sleep(for: min(analysis.interval, .milliseconds(250)))
            if let event = silence.update(await traffic.silentRouters()) { await recordEvent(service: name, rolloutID: subject.rolloutID, event) }
            guard !silence.holdsAnalysis else { continue }
            let cumulative = await traffic.metrics(service: name, version: subject.version, role: subject.role)
            guard let measurement = window.observe(cumulative: cumulative, at: clock.now), !Task.isCancelled else { continue }
            await recordEvent(
                service: name, rolloutID: subject.rolloutID,
                EventDraft(
                    .guardMeasurement, "\(measurement.verdict.rawValue): \(measurement.summary)", evidence: measurement.evidence))
            if let trigger = failures.record(measurement, limit: analysis.failureLimit) { return trigger }
        }
        return nil
    }
}
