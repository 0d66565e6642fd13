import Foundation
import RipcordFlags

/// The flag the benchmark evaluates: three strategies and five constraints in total, plus
/// feature variants, the shape of a typical targeted rollout.
public func benchmarkState() -> ClientFeatures {
    let flag = FeatureDefinition(
        name: "checkout.new-flow",
        enabled: true,
        strategies: [
            StrategyDefinition(
                name: "userWithId", parameters: ["userIds": "alice, bob, carol, dave"],
                constraints: [Constraint(contextName: "environment", operator: .in, values: ["production", "staging"])]),
            StrategyDefinition(
                name: "flexibleRollout", parameters: ["rollout": "30", "stickiness": "default", "groupId": "checkout"],
                constraints: [
                    Constraint(contextName: "appName", operator: .in, values: ["web", "ios"]),
                    Constraint(contextName: "region", operator: .strStartsWith, values: ["eu-"]),
                ]),
            StrategyDefinition(
                name: "default",
                constraints: [
                    Constraint(contextName: "version", operator: .semverGte, value: "2.1.0"),
                    Constraint(contextName: "tier", operator: .numGte, value: "3"),
                ]),
        ],
        variants: [
            VariantDefinition(name: "control", weight: 500, weightType: .variable, stickiness: "default"),
            VariantDefinition(
                name: "treatment", weight: 500, weightType: .variable, stickiness: "default",
                payload: VariantPayload(type: "string", value: "v2")),
        ])
    return ClientFeatures(features: [flag])
}

/// Measures single-threaded, in-process evaluation (`FlagEvaluator.evaluate`, i.e. state,
/// variant and reason) of the benchmark flag over 256 varied contexts.
/// `checksum` depends on every result so the work cannot be optimised away.
public func benchmarkEvaluation(iterations: Int) -> (evaluationsPerSecond: Double, checksum: Int) {
    let evaluator = FlagEvaluator(state: benchmarkState())
    let apps = ["web", "android", "ios", "backoffice"]
    let regions = ["eu-west-1", "us-east-1", "eu-central-1", "ap-south-1"]
    let contexts: [FlagContext] = (0..<256).map { i in
        FlagContext(
            userId: i % 64 == 0 ? "bob" : "user-\(i)", sessionId: "s\(i)", environment: i % 3 == 0 ? "development" : "production",
            appName: apps[i % apps.count],
            properties: ["region": regions[(i / 4) % regions.count], "version": "2.\(i % 4).\(i % 3)", "tier": String(i % 5)])
    }
    let flag = "checkout.new-flow"
    var checksum = 0
    let warmup = min(iterations, 20_000)
    for i in 0..<warmup {
        let r = evaluator.evaluate(flag, context: contexts[i & 255])
        checksum &+= r.enabled ? 1 : 0
    }
    checksum = 0
    let clock = ContinuousClock()
    let start = clock.now
    for i in 0..<iterations {
        let r = evaluator.evaluate(flag, context: contexts[i & 255])
        checksum &+= (r.enabled ? 1 : 0) &+ r.variant.name.utf8.count
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (seconds > 0 ? Double(iterations) / seconds : 0, checksum)
}

/// The line `ripcord-bench flags` prints: one machine-readable line, e.g.
/// `flags-evaluation iterations=5000000 evaluations_per_second=1234567 checksum=41679688`.
public func benchmarkReport(iterations: Int = 5_000_000) -> String {
    let result = benchmarkEvaluation(iterations: iterations)
    return "flags-evaluation iterations=\(iterations) evaluations_per_second=\(Int(result.evaluationsPerSecond.rounded())) checksum=\(result.checksum)"
}

/// The line `ripcord-bench flags --regex-length N` prints: the per-evaluation time of a flag whose
/// REGEX constraint is `^(a+)+$`, against N `a`s and a `!`, the input on which a backtracking engine
/// tries every way to split the `a`s (seconds at N = 25). E.g.
/// `flags-regex pattern=^(a+)+$ length=10000 first_us=900.0 iterations=2000 mean_us=12.3 max_us=40.1 checksum=0`.
public func benchmarkRegexReport(length: Int, iterations: Int = 2_000) -> String {
    let pattern = "^(a+)+$"
    let flag = FeatureDefinition(
        name: "regex", enabled: true,
        strategies: [
            StrategyDefinition(name: "default", constraints: [Constraint(contextName: "email", operator: .regex, value: pattern)])
        ])
    let evaluator = FlagEvaluator(state: ClientFeatures(features: [flag]))
    let context = FlagContext(properties: ["email": String(repeating: "a", count: length) + "!"])
    let clock = ContinuousClock()
    // The first evaluation also builds RE2's lazy DFA for the pattern: reported apart.
    var checksum = 0
    let first = clock.measure { checksum &+= evaluator.isEnabled("regex", context: context) ? 1 : 0 }
    var slowest = Duration.zero
    let start = clock.now
    for _ in 0..<iterations {
        let begin = clock.now
        checksum &+= evaluator.isEnabled("regex", context: context) ? 1 : 0
        slowest = max(slowest, clock.now - begin)
    }
    func microseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    }
    let mean = microseconds(clock.now - start) / Double(max(iterations, 1))
    return "flags-regex pattern=\(pattern) length=\(length) first_us=\(String(format: "%.1f", microseconds(first)))"
        + " iterations=\(iterations) mean_us=\(String(format: "%.1f", mean))"
        + " max_us=\(String(format: "%.1f", microseconds(slowest))) checksum=\(checksum)"
}
