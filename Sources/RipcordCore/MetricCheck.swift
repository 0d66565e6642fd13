import Foundation

/// A metric measured during a rollout from a provider, judged by conditions, with Argo Rollouts'
/// limits.
public struct MetricSpec: Sendable, Equatable, Codable {
    public var name: String
    public var provider: MetricProviderSpec
    public var interval: TimeSpan
    public var timeout: TimeSpan
    /// Measurements after which the metric is complete; `nil` measures while the rollout runs.
    public var count: Int?
    /// Wait this long after analysis starts before the first measurement.
    public var initialDelay: TimeSpan
    public var successCondition: Condition?
    public var failureCondition: Condition?
    /// The rollout rolls back when failed measurements exceed this.
    public var failureLimit: Int
    /// Inconclusive measurements (provider errors, empty results, neither condition met) beyond this
    /// trigger `onInconclusive`.
    public var inconclusiveLimit: Int
    /// Provider errors in a row beyond this trigger `onInconclusive`.
    public var consecutiveErrorLimit: Int
    public var onInconclusive: InconclusiveAction

    public init(
        name: String, provider: MetricProviderSpec, interval: TimeSpan = .seconds(10), timeout: TimeSpan = .seconds(5),
        count: Int? = nil, initialDelay: TimeSpan = .zero, successCondition: Condition? = nil, failureCondition: Condition? = nil,
        failureLimit: Int = 0, inconclusiveLimit: Int = 0, consecutiveErrorLimit: Int = 4, onInconclusive: InconclusiveAction = .pause
    ) {
        self.name = name
        self.provider = provider
        self.interval = interval
        self.timeout = timeout
        self.count = count
        self.initialDelay = initialDelay
        self.successCondition = successCondition
        self.failureCondition = failureCondition
        self.failureLimit = failureLimit
        self.inconclusiveLimit = inconclusiveLimit
        self.consecutiveErrorLimit = consecutiveErrorLimit
        self.onInconclusive = onInconclusive
    }
}

public enum InconclusiveAction: String, Sendable, Equatable, Codable {
    /// Pause the rollout until a human promotes or aborts it; never promote on its own.
    case pause
    case rollback
}

/// Where a metric's number comes from. Text fields may hold `{service}`, `{version}` (the
/// candidate's), `{stableVersion}` and `{role}` (`canary`).
public enum MetricProviderSpec: Sendable, Equatable, Codable {
    /// A PromQL query against the Prometheus HTTP API. Without a range, an instant query whose result
    /// is the first sample's value; with one, a range query over the last `range.duration` whose first
    /// series is reduced to one number.
    case prometheus(address: String, query: String, range: PrometheusRange?)
    /// GET a JSON document and take the number at a dotted path (`data.errorRate`, `items.0.value`).
    case http(url: String, path: String, headers: [String: String])
    /// Run a command; the result is the number it prints, or its exit status when `exitStatus`.
    case command(command: String, exitStatus: Bool)
    /// The built-in router's measurement of the candidate since analysis started:
    /// `errorRate`, `requests`, or a latency quantile in seconds (`p50`, `p99` …).
    case router(measure: String)

    /// The same provider with `{service}`, `{version}`, `{stableVersion}` and `{role}` filled in.
    public func substituted(service: String, version: String, stableVersion: String?, role: String = "canary") -> MetricProviderSpec {
        let fill = { (text: String) in MetricCheck.substitute(text, service: service, version: version, stableVersion: stableVersion, role: role) }
        switch self {
        case let .prometheus(address, query, range): return .prometheus(address: fill(address), query: fill(query), range: range)
        case let .http(url, path, headers): return .http(url: fill(url), path: path, headers: headers.mapValues(fill))
        case let .command(command, exitStatus): return .command(command: fill(command), exitStatus: exitStatus)
        case .router: return self
        }
    }

    public var kind: String {
        switch self {
        case .prometheus: return "prometheus"
        case .http: return "http"
        case .command: return "command"
        case .router: return "router"
        }
    }
}

public struct PrometheusRange: Sendable, Equatable, Codable {
    public enum Reduction: String, Sendable, Equatable, Codable { case last, mean, min, max }
    public var duration: TimeSpan
    public var step: TimeSpan
    public var reduce: Reduction

    public static let defaultStep = TimeSpan.seconds(15)
    public static let defaultReduction = Reduction.mean

    public init(duration: TimeSpan, step: TimeSpan = defaultStep, reduce: Reduction = defaultReduction) {
        self.duration = duration
        self.step = step
        self.reduce = reduce
    }

    public func reduce(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        switch reduce {
        case .last: return values.last
        case .mean: return values.reduce(0, +) / Double(values.count)
        case .min: return values.min()
        case .max: return values.max()
        }
    }
}

/// What a provider answered.
public enum MetricResult: Sendable, Equatable {
    case value(Double)
    /// The provider failed or returned nothing: inconclusive, never a pass.
    case error(String)
}

/// What one measurement decided.
public enum MetricDecision: Sendable, Equatable {
    /// Recorded; nothing more to do.
    case measured(EventDraft)
    /// Failures exceeded the limit: roll back.
    case failed(Trigger, EventDraft)
    /// Inconclusive results or errors exceeded a limit: act per `onInconclusive`.
    case inconclusive(Trigger, InconclusiveAction, EventDraft)
    /// `count` measurements taken: the metric is done.
    case complete(EventDraft)
}

/// The counting state of one metric during a rollout; pure, so every limit is unit-tested.
public struct MetricCheck: Sendable {
    public let spec: MetricSpec
    public private(set) var measurements = 0
    public private(set) var failures = FailureBudget()
    public private(set) var inconclusives = 0
    public private(set) var consecutiveErrors = 0
    public private(set) var finished = false

    public init(spec: MetricSpec) { self.spec = spec }

    /// The verdict of a value under the conditions: a failure condition that holds fails; a success
    /// condition that holds passes; a success condition that does not hold fails, unless a failure
    /// condition is also given (then neither holding is inconclusive).
    public func verdict(for value: Double) -> Verdict {
        if value.isNaN { return .inconclusive }
        if let failure = spec.failureCondition, failure.evaluate(result: value) { return .fail }
        if let success = spec.successCondition {
            if success.evaluate(result: value) { return .pass }
            return spec.failureCondition == nil ? .fail : .inconclusive
        }
        return .pass
    }

    public mutating func record(_ result: MetricResult) -> MetricDecision {
        guard !finished else { return .measured(EventDraft(.analysisMetric, "\(spec.name): already finished")) }
        measurements += 1
        var evidence = ["metric": spec.name, "provider": spec.provider.kind, "measurement": String(measurements)]
        if let success = spec.successCondition { evidence["successCondition"] = success.source }
        if let failure = spec.failureCondition { evidence["failureCondition"] = failure.source }
        let verdict: Verdict
        switch result {
        case let .value(value):
            consecutiveErrors = 0
            verdict = self.verdict(for: value)
            evidence["value"] = formatDecimal(value, digits: 6)
        case let .error(message):
            consecutiveErrors += 1
            verdict = .inconclusive
            evidence["error"] = message
            evidence["consecutiveErrors"] = String(consecutiveErrors)
        }
        evidence["verdict"] = verdict.rawValue
        let summary = "\(spec.name) = \(evidence["value"] ?? "error: \(evidence["error"] ?? "")") → \(verdict.rawValue)"
        let event = EventDraft(.analysisMetric, summary, evidence: evidence)
        switch verdict {
        case .fail:
            let exceeded = failures.record(verdict, limit: spec.failureLimit)
            evidence.merge(failures.evidence(limit: spec.failureLimit)) { _, budget in budget }
            if exceeded {
                finished = true
                let condition = spec.failureCondition?.source ?? "not (\(spec.successCondition?.source ?? ""))"
                return .failed(
                    Trigger(
                        kind: .analysis, message: "metric \(spec.name) = \(evidence["value"] ?? "?") met \(condition) \(failures.count) time(s)",
                        evidence: evidence), event)
            }
        case .inconclusive:
            inconclusives += 1
            evidence["inconclusives"] = String(inconclusives)
            if inconclusives > spec.inconclusiveLimit || consecutiveErrors > spec.consecutiveErrorLimit {
                finished = true
                let why =
                    consecutiveErrors > spec.consecutiveErrorLimit
                    ? "\(consecutiveErrors) provider errors in a row (limit \(spec.consecutiveErrorLimit))"
                    : "\(inconclusives) inconclusive results (limit \(spec.inconclusiveLimit))"
                return .inconclusive(
                    Trigger(kind: .inconclusiveAnalysis, message: "metric \(spec.name): \(why)", evidence: evidence),
                    spec.onInconclusive, event)
            }
        case .pass:
            break
        }
        if let count = spec.count, measurements >= count {
            finished = true
            return .complete(
                EventDraft(
                    .analysisMetricComplete, "\(spec.name): \(measurements) measurements, \(failures.count) failed, \(inconclusives) inconclusive",
                    evidence: evidence))
        }
        return .measured(event)
    }

    /// Fills `{service}`, `{version}`, `{stableVersion}` and `{role}` in a provider's text.
    public static func substitute(_ text: String, service: String, version: String, stableVersion: String?, role: String = "canary") -> String {
        text.replacingOccurrences(of: "{service}", with: service)
            .replacingOccurrences(of: "{version}", with: version)
            .replacingOccurrences(of: "{stableVersion}", with: stableVersion ?? "")
            .replacingOccurrences(of: "{role}", with: role)
    }
}
