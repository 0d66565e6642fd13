import Logging
import RipcordCore
import RipcordMetricProviders

/// Which version a metric runner measures, read again before every measurement.
struct MetricSubject: Sendable {
    /// The rollout the measurement events belong to.
    var rolloutID: Int64
    var version: SemanticVersion
    var role: InstanceRole
    var stableVersion: SemanticVersion?
}

enum MetricWatch: Sendable {
    case measure(MetricSubject)
    /// Nothing to measure right now (e.g. a pause at 0 %); a router window starts over afterwards.
    case wait
    case stop
}

/// Measures provider and router metrics for rollouts, guard windows and guarded flag rollouts.
struct MetricWatcher: Sendable {
    let traffic: any TrafficManager
    let source: any MetricSource
    let store: any RolloutStore
    let clock: any RipcordClock
    let logger: Logger

    /// The measuring loop: waits `initialDelay`, then every `interval` asks the provider (with its
    /// timeout) about what `watch` names, records each measurement as an event and hands the decision
    /// to `decided`, until `watch` says stop, `decided` returns false, or the metric's `count` is reached.
    /// Returns the decision that `decided` stopped on. Measurements are events of the subject's rollout,
    /// unless `record` keeps them elsewhere (a guarded flag rollout's own log).
    @discardableResult
    func watch(
        _ spec: MetricSpec, service name: String, record: (@Sendable (EventDraft) async -> Void)? = nil,
        watch: @escaping @Sendable () async -> MetricWatch,
        decided: @escaping @Sendable (MetricDecision) async -> Bool
    ) async -> MetricDecision? {
        var check = MetricCheck(spec: spec)
        var routerStart: VersionMetrics?
        while !Task.isCancelled {
            let watched = await watch()
            guard case let .measure(subject) = watched else {
                if case .stop = watched { return nil }
                routerStart = nil
                try? await clock.sleep(for: .milliseconds(100))
                continue
            }
            if routerStart == nil {
                routerStart = await traffic.metrics(service: name, version: subject.version, role: subject.role)
                // A router window needs time to fill; other providers may measure right after the delay.
                let wait = if case .router = spec.provider { max(spec.initialDelay, spec.interval) } else { spec.initialDelay }
                try? await clock.sleep(for: wait)
                continue
            }
            let result: MetricResult
            if case let .router(measure) = spec.provider {
                let silent = await traffic.silentRouters()
                let window = await traffic.metrics(service: name, version: subject.version, role: subject.role) - (routerStart ?? VersionMetrics())
                result =
                    silent.isEmpty
                    ? Self.routerMeasurement(measure, window)
                    : .error("no measurements from routers \(silent.joined(separator: ", ")): the window is incomplete")
            } else {
                let role = subject.role == .candidate ? "canary" : subject.role.rawValue
                let provider = spec.provider.substituted(
                    service: name, version: subject.version.description,
                    stableVersion: subject.stableVersion?.description, role: role)
                result = await source.measure(provider, timeout: spec.timeout)
            }
            // The provider may have taken seconds: what finished meanwhile gets no more measurements.
            guard case let .measure(current) = await watch(), current.rolloutID == subject.rolloutID, !Task.isCancelled else { return nil }
            let decision = check.record(result)
            if let record {
                await record(decision.event)
            } else {
                do {
                    try await store.record(service: name, rolloutID: subject.rolloutID, events: [decision.event], at: clock.now)
                } catch {
                    logger.error("cannot record a measurement of \(spec.name): \(error)")
                }
            }
            if await !decided(decision) { return decision }
            if check.finished { return nil }
            try? await clock.sleep(for: spec.interval)
        }
        return nil
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

extension MetricDecision {
    var event: EventDraft {
        switch self {
        case let .measured(draft), let .complete(draft), let .failed(_, draft), let .inconclusive(_, _, draft): draft
        }
    }
}
