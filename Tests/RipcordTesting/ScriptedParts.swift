import Foundation
import RipcordCore
import RipcordDrivers
import RipcordHooks
import RipcordMetricProviders

/// Health checks that pass unless the test marks an address unhealthy.
public actor ScriptedHealth: HealthChecker {
    private var unhealthy: Set<HostPort> = []
    public private(set) var checks = 0

    public init() {}

    public func check(_ address: HostPort, spec: HealthCheckSpec) -> HealthProbe.Result {
        checks += 1
        return unhealthy.contains(address) ? .unhealthy("HTTP 503 (test)") : .healthy
    }

    public func setHealthy(_ address: HostPort, _ healthy: Bool) {
        if healthy { unhealthy.remove(address) } else { unhealthy.insert(address) }
    }
}

/// Hooks that pass unless the test says otherwise; every run is recorded with its context. A held hook
/// does not finish until the test lets it go, as a slow smoke test would not.
public actor ScriptedHooks: HookRunner {
    public private(set) var runs: [(hook: String, context: HookContext)] = []
    private var failing: Set<String> = []
    private var held: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func fail(_ hook: String) { failing.insert(hook) }

    public func hold(_ hook: String) { held.insert(hook) }

    /// Lets a held hook finish (with its scripted result).
    public func letGo(_ hook: String) {
        held.remove(hook)
        for continuation in waiting.removeValue(forKey: hook) ?? [] { continuation.resume() }
    }

    public func isWaiting(_ hook: String) -> Bool { !(waiting[hook] ?? []).isEmpty }

    public func run(_ hook: HookSpec, context: HookContext) async -> HookOutcome {
        runs.append((hook.name, context))
        if held.contains(hook.name) {
            await withCheckedContinuation { waiting[hook.name, default: []].append($0) }
        }
        let passed = !failing.contains(hook.name)
        return HookOutcome(passed: passed, result: passed ? "exited with status 0" : "exited with status 1", output: "", duration: .milliseconds(5))
    }

    public var ranHooks: [String] { runs.map(\.hook) }
}

/// Provider metrics answered from a table the test fills (a missing one is an error, as an unreachable Prometheus is).
public actor ScriptedMetrics: MetricSource {
    private var values: [String: Double] = [:]

    public init() {}

    public func set(_ query: String, _ value: Double) { values[query] = value }

    public func measure(_ provider: MetricProviderSpec, timeout: TimeSpan) -> MetricResult {
        let key: String
        switch provider {
        case let .prometheus(_, query, _): key = query
        case let .http(url, _, _): key = url.description
        case let .command(command, _): key = command
        case .router: return .error("router metrics are measured by the controller")
        }
        guard let value = values[key] else { return .error("no value for \(key) (test)") }
        return .value(value)
    }
}
