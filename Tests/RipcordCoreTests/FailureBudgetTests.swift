import Foundation
import RipcordCore
import Testing

@Suite struct FailureBudgetTests {
    @Test func toleratesTheLimitAndIsExhaustedByOneFailureMore() {
        var budget = FailureBudget()
        let exhausted = [Verdict.fail, .fail, .pass, .inconclusive, .fail].map { budget.record($0, limit: 2) }
        #expect(exhausted == [false, false, false, false, true], "two failures are tolerated; passes and inconclusive ones cost nothing")
        #expect(budget.count == 3)
        #expect(budget.evidence(limit: 2) == ["failures": "3", "failureLimit": "2"])
    }

    @Test func aMeasurementThatExhaustsTheBudgetIsAnAnalysisTriggerWithItsReasonsAndTheCount() throws {
        let failing = AnalysisMeasurement(
            verdict: .fail, requests: 100, errors: 30, errorRate: 0.3, latencyMilliseconds: [:],
            window: .seconds(1), reasons: ["error rate 30% > 5%"])
        var budget = FailureBudget()
        let first = budget.record(failing, limit: 1)
        #expect(first == nil)
        let second = budget.record(failing, limit: 1, evidence: ["step": "2"])
        let trigger = try #require(second)
        #expect(trigger.kind == .analysis && trigger.message == "error rate 30% > 5%")
        #expect(trigger.evidence == ["step": "2", "failures": "2", "failureLimit": "1"])
    }

    /// Rollouts stored their failure count as a number before the budget existed; they still load.
    @Test func encodesAsTheBareCount() throws {
        var budget = FailureBudget()
        _ = budget.record(.fail, limit: 0)
        #expect(String(decoding: try JSONEncoder().encode([budget]), as: UTF8.self) == "[1]")
        #expect(try JSONDecoder().decode([FailureBudget].self, from: Data("[4]".utf8)) == [FailureBudget(count: 4)])
    }
}
