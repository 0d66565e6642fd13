import RipcordCore
import RipcordMetricProviders

extension Controller {
    /// Measures one analysis metric while the rollout's analysis is active: waits `initialDelay`, then
    /// every `interval` asks the provider (with its timeout), records each measurement as an event, and
    /// tells the rollout when the metric fails (roll back) or stays inconclusive (pause or roll back).
    func runMetric(_ spec: MetricSpec, service name: String, mailbox: AsyncStream<RolloutInput>.Continuation) async {
        var check = MetricCheck(spec: spec)
        var routerStart: VersionMetrics?
        while !Task.isCancelled {
            guard let rollout = services[name]?.rollout, !rollout.isTerminal else { return }
            guard rollout.analysisActive else {
                routerStart = nil
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            if routerStart == nil {
                routerStart = await traffic.metrics(service: name, version: rollout.candidateVersion)
                // A router window needs time to fill; other providers may measure right after the delay.
                let wait = if case .router = spec.provider { max(spec.initialDelay, spec.interval) } else { spec.initialDelay }
                try? await Task.sleep(for: wait.duration)
                continue
            }
            let result: MetricResult
            if case let .router(measure) = spec.provider {
                let window = await traffic.metrics(service: name, version: rollout.candidateVersion) - (routerStart ?? VersionMetrics())
                result = Self.routerMeasurement(measure, window)
            } else {
                let provider = spec.provider.substituted(service: name, version: rollout.candidateVersion.description,
                                                         stableVersion: rollout.stableVersion?.description)
                result = await externalMetrics.measure(provider, timeout: spec.timeout)
            }
            // The provider may have taken seconds: a rollout that finished meanwhile gets no more measurements.
            guard let current = services[name]?.rollout, current.id == rollout.id, !current.isTerminal else { return }
            let decision = check.record(result)
            let event: EventDraft
            switch decision {
            case let .measured(draft), let .complete(draft):
                event = draft
            case let .failed(trigger, draft):
                event = draft
                mailbox.yield(.candidateFailed(trigger))
            case let .inconclusive(trigger, action, draft):
                event = draft
                mailbox.yield(action == .rollback ? .candidateFailed(trigger) : .pauseForHuman(trigger))
            }
            do {
                try await store.record(service: name, rolloutID: rollout.id, events: [event], at: clock())
            } catch {
                logger.error("cannot record a measurement of \(spec.name): \(error)")
            }
            if check.finished { return }
            try? await Task.sleep(for: spec.interval.duration)
        }
    }

    /// A router measurement of the candidate's requests since analysis started.
    static func routerMeasurement(_ measure: String, _ window: VersionMetrics) -> MetricResult {
        switch measure {
        case "requests":
            return .value(Double(window.requests))
        case "errorRate":
            return window.requests == 0 ? .error("no candidate requests yet") : .value(window.errorRate)
        default:
            guard measure.hasPrefix("p"), let percent = Double(measure.dropFirst()), percent > 0, percent < 100 else {
                return .error("unknown router measure '\(measure)' (use errorRate, requests, p50, p99 …)")
            }
            guard let milliseconds = window.latency.quantileMilliseconds(percent / 100) else { return .error("no candidate requests yet") }
            return .value(milliseconds / 1000)
        }
    }
}
