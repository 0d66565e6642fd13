import RipcordCore
import RipcordTestSupport
import Testing

@Suite(.tags(.unit)) struct ConditionTests {
    @Test(arguments: [
        ("result < 0.05", 0.04, true), ("result < 0.05", 0.05, false), ("result <= 0.05", 0.05, true),
        ("result >= 0.95 && result <= 1", 0.97, true), ("result >= 0.95 && result <= 1", 1.2, false),
        ("result > 10 || result == 0", 0, true), ("!(result > 10)", 11, false), ("(result != 3)", 3, false),
        ("0.5 < result", 0.7, true), ("result > -1", -0.5, true),
    ])
    func evaluates(_ source: String, _ value: Double, _ expected: Bool) throws {
        #expect(try Condition(parsing: source).evaluate(result: value) == expected)
    }

    @Test(arguments: ["result", "result < ", "result = 3", "value < 3", "result < 3 &&", "(result < 3", "result < 3 )", "result & 3"])
    func rejects(_ source: String) {
        #expect(throws: Condition.ParseError.self) { try Condition(parsing: source) }
    }
}

@Suite(.tags(.unit)) struct MetricCheckTests {
    func spec(
        success: String? = nil, failure: String? = nil, failureLimit: Int = 0, inconclusiveLimit: Int = 0,
        consecutiveErrorLimit: Int = 4, count: Int? = nil, onInconclusive: InconclusiveAction = .pause
    ) -> MetricSpec {
        MetricSpec(
            name: "errors", provider: .router(measure: "errorRate"), count: count,
            successCondition: success.map { try! Condition(parsing: $0) }, failureCondition: failure.map { try! Condition(parsing: $0) },
            failureLimit: failureLimit, inconclusiveLimit: inconclusiveLimit, consecutiveErrorLimit: consecutiveErrorLimit,
            onInconclusive: onInconclusive)
    }

    @Test func verdictsFollowArgoRules() {
        let both = MetricCheck(spec: spec(success: "result < 0.01", failure: "result > 0.05"))
        #expect(both.verdict(for: 0.001) == .pass)
        #expect(both.verdict(for: 0.1) == .fail)
        #expect(both.verdict(for: 0.02) == .inconclusive, "neither condition holds")
        let successOnly = MetricCheck(spec: spec(success: "result < 0.01"))
        #expect(successOnly.verdict(for: 0.02) == .fail)
        let failureOnly = MetricCheck(spec: spec(failure: "result > 0.05"))
        #expect(failureOnly.verdict(for: 0.02) == .pass)
        #expect(failureOnly.verdict(for: .nan) == .inconclusive)
    }

    @Test func failsOnceFailuresExceedTheLimit() {
        var check = MetricCheck(spec: spec(failure: "result > 0.05", failureLimit: 1))
        guard case .measured = check.record(.value(0.1)) else {
            Issue.record("first failure is tolerated")
            return
        }
        guard case let .failed(trigger, _) = check.record(.value(0.2)) else {
            Issue.record("second failure fails")
            return
        }
        #expect(trigger.kind == .analysis)
        #expect(trigger.evidence["value"] == "0.2" && trigger.evidence["failures"] == "2" && trigger.evidence["failureCondition"] == "result > 0.05")
        #expect(check.finished)
    }

    @Test func errorsAreInconclusiveNeverPasses() {
        var check = MetricCheck(spec: spec(failure: "result > 0.05", inconclusiveLimit: 1, onInconclusive: .rollback))
        guard case let .measured(event) = check.record(.error("connection refused")) else {
            Issue.record("one inconclusive tolerated")
            return
        }
        #expect(event.evidence["verdict"] == "inconclusive" && event.evidence["error"] == "connection refused")
        guard case let .inconclusive(trigger, action, _) = check.record(.error("empty result")) else {
            Issue.record("limit exceeded")
            return
        }
        #expect(action == .rollback && trigger.kind == .inconclusiveAnalysis)
    }

    @Test func consecutiveErrorsHaveTheirOwnLimit() {
        var check = MetricCheck(spec: spec(inconclusiveLimit: 100, consecutiveErrorLimit: 2))
        _ = check.record(.error("a"))
        _ = check.record(.error("b"))
        _ = check.record(.value(0))
        _ = check.record(.error("c"))
        _ = check.record(.error("d"))
        guard case let .inconclusive(trigger, .pause, _) = check.record(.error("e")) else {
            Issue.record("three errors in a row")
            return
        }
        #expect(trigger.message.contains("3 provider errors in a row"))
    }

    @Test func completesAfterCount() {
        var check = MetricCheck(spec: spec(failure: "result > 1", count: 2))
        guard case .measured = check.record(.value(0)) else {
            Issue.record("first")
            return
        }
        guard case .complete = check.record(.value(0)) else {
            Issue.record("complete after count")
            return
        }
    }

    @Test func placeholdersAreFilled() {
        let provider = MetricProviderSpec.prometheus(
            address: "http://p:9090", query: #"rate(x{service="{service}",version="{version}",role="{role}"}[1m])"#,
            range: nil)
        #expect(
            provider.substituted(service: "checkout", version: "1.2.0", stableVersion: "1.1.0")
                == .prometheus(address: "http://p:9090", query: #"rate(x{service="checkout",version="1.2.0",role="canary"}[1m])"#, range: nil))
    }

    @Test func rangesReduceToOneNumber() {
        let values = [1.0, 4, 2]
        #expect(PrometheusRange(duration: .seconds(60), step: .seconds(1), reduce: .mean).reduce(values) == 7.0 / 3)
        #expect(PrometheusRange(duration: .seconds(60), step: .seconds(1), reduce: .max).reduce(values) == 4)
        #expect(PrometheusRange(duration: .seconds(60), step: .seconds(1), reduce: .last).reduce(values) == 2)
        #expect(PrometheusRange(duration: .seconds(60), step: .seconds(1), reduce: .min).reduce([]) == nil)
    }
}
