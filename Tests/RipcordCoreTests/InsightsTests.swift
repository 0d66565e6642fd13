import RipcordCore
import RipcordInsights
import RipcordTestSupport
import Testing

/// Reports, post-mortems and the controller's metrics read rollouts from their events; the expectations
/// below are counted by hand from the history each test writes.
@Suite(.tags(.unit)) struct InsightsTests {
    /// Writes a history event by event, the clock in seconds from an origin.
    struct History {
        var events: [Event] = []
        let origin = Moment(millisecondsSinceEpoch: 1_800_000_000_000)

        func at(_ seconds: Double) -> Moment { Moment(millisecondsSinceEpoch: origin.millisecondsSinceEpoch + Int64(seconds * 1000)) }

        mutating func add(_ rollout: Int64, _ service: String, _ kind: EventKind, at seconds: Double, _ evidence: [String: String] = [:], actor: String? = nil) {
            events.append(
                Event(
                    id: Int64(events.count + 1), at: at(seconds), service: service, rolloutID: rollout, kind: kind, message: "\(kind)", evidence: evidence,
                    actor: actor))
        }

        /// A canary: started at `start`, 20 % at `start + 10`.
        mutating func canary(_ rollout: Int64, _ service: String, start: Double, drill: Bool = false) {
            var started = ["candidate": "1.\(rollout).0", "stable": "1.0.0", "kind": "deploy"]
            if drill { started["drill"] = "errors=50%" }
            add(rollout, service, "rollout.started", at: start, started)
            add(rollout, service, "step.setWeight", at: start + 10, ["weight": "20", "step": "1"])
        }

        mutating func rollBack(_ rollout: Int64, _ service: String, at seconds: Double, trigger: String, metric: String? = nil, restoredAfter: Double = 0.5) {
            var evidence = ["trigger": trigger]
            if let metric { evidence["metric"] = metric }
            add(rollout, service, "rollout.rolledBack", at: seconds, evidence)
            add(rollout, service, "traffic.restored", at: seconds + restoredAfter, ["candidateRequests": "120", "candidateErrors": "30"])
        }
    }

    /// Three promotions, rollbacks by three triggers (one before any traffic), an abort and a drill.
    func mixedHistory() -> History {
        var history = History()
        history.canary(1, "checkout", start: 0)
        history.add(1, "checkout", "rollout.promoted", at: 60)
        history.canary(2, "checkout", start: 100)
        history.add(2, "checkout", "analysis.measurement", at: 112, ["verdict": "fail", "judge": "threshold"])
        history.rollBack(2, "checkout", at: 114, trigger: "analysis", metric: "threshold")  // detect 4 s, restore 4.5 s
        history.add(3, "checkout", "rollout.started", at: 200, ["candidate": "1.3.0", "stable": "1.0.0"])
        history.rollBack(3, "checkout", at: 203, trigger: "instanceCrashed")  // before any traffic
        history.canary(4, "cart", start: 300)
        history.add(4, "cart", "flag.disabled", at: 321, ["flag": "new-cart", "environment": "default"])
        history.rollBack(4, "cart", at: 320, trigger: "alert", restoredAfter: 1)  // detect 10 s, restore 11 s
        history.canary(5, "cart", start: 400)
        history.rollBack(5, "cart", at: 430, trigger: "abort")  // a person's abort: not a failure
        history.canary(6, "cart", start: 500)
        history.add(6, "cart", "rollout.promoted", at: 560)
        history.canary(7, "checkout", start: 600, drill: true)
        history.rollBack(7, "checkout", at: 613, trigger: "analysis", metric: "threshold", restoredAfter: 1)  // drill: restore 4 s
        history.add(7, "checkout", "drill.passed", at: 614)
        history.canary(8, "checkout", start: 700)
        history.add(8, "checkout", "rollout.promoted", at: 790)
        return history
    }

    @Test func theReportCountsDeploymentsFailuresAndDurationsAsTheEventsTell() throws {
        let history = mixedHistory()
        let report = DeploymentReport(events: history.events, since: history.at(-1), until: history.at(86_400 - 1))
        let all = report.overall
        #expect(all.promoted == 3 && all.rolledBack == 4 && all.aborted == 1 && all.deployments == 7)
        // Failures: analysis, instanceCrashed, alert (the abort is not one) over 3 promotions + 3 failures.
        #expect(all.changeFailureRate == 0.5)
        #expect(all.rollbacksByTrigger == ["analysis": 1, "instanceCrashed": 1, "alert": 1, "abort": 1])
        #expect(all.rollbacksByMetric == ["threshold": 1])
        #expect(all.caughtBeforeTraffic == 1)
        #expect(all.flagsTurnedOff == 1)
        // Detect: 4 s (rollout 2) and 10 s (rollout 4); restore: 4.5 s and 11 s. The crash never had traffic.
        #expect(all.timeToDetect == Percentiles([.seconds(4), .seconds(10)]))
        #expect(all.timeToDetect?.medianSeconds == 4 && all.timeToDetect?.p90Seconds == 10)
        #expect(all.timeToRestore?.count == 2 && all.timeToRestore?.medianSeconds == 4.5 && all.timeToRestore?.p90Seconds == 11)
        #expect(abs(all.deploymentsPerDay - 3) < 0.001)
        // Most rollbacks first: cart (alert, abort) and checkout (analysis, crash) tie at 2; by name then.
        #expect(report.services.map(\.service) == ["cart", "checkout"])
        let checkout = try #require(report.services.first { $0.service == "checkout" })
        #expect(checkout.promoted == 2 && checkout.rolledBack == 2 && checkout.changeFailureRate == 0.5)
        #expect(report.drills == DrillTally(run: 1, passed: 1, timeToRestore: Percentiles([.seconds(4)])))
        #expect(report.weeks.count == 1 && report.weeks[0].deployments == 7)
        #expect(report.csv().split(separator: "\n").count == 4)
        #expect(report.markdown().contains("| **all services** | 7 | 3 | 50 % | 4 | 1 | 4 s / 10 s | 4.5 s / 11 s |"))
    }

    @Test func aRolloutThatStartedBeforeThePeriodIsLeftOut() {
        let history = mixedHistory()
        let report = DeploymentReport(events: history.events.filter { $0.at >= history.at(300) }, since: history.at(300), until: history.at(1000))
        #expect(report.overall.deployments == 4 && report.overall.promoted == 2)
    }

    @Test func thePostmortemTellsImpactDetectionWhatWasUndoneAndWho() throws {
        var history = History()
        history.canary(4, "cart", start: 300)
        history.add(4, "cart", "analysis.measurement", at: 315, ["verdict": "pass"])
        history.add(4, "cart", "rollout.paused", at: 316, actor: "alice")
        history.add(4, "cart", "flag.disabled", at: 321, ["flag": "new-cart"])
        history.add(4, "cart", "migration.undone", at: 321, ["script": "U2__cart.sql"])
        history.rollBack(4, "cart", at: 320, trigger: "alert", restoredAfter: 1)
        let postmortem = Postmortem(subject: "rollout 4 of cart", rollouts: [(4, "cart", history.events)])
        let member = try #require(postmortem.members.first)
        #expect(member.requestsAnswered == 120 && member.requestsFailed == 30)
        #expect(member.timeToDetectSeconds == 10 && member.timeToRestoreSeconds == 11 && member.trigger == "alert")
        #expect(member.undone.count == 4, "traffic, instances, a flag, a migration: \(member.undone)")
        #expect(postmortem.actors == ["alice"])
        #expect(!postmortem.timeline.contains { $0.kind == "analysis.measurement" }, "a passing measurement is not a line of the incident")
        #expect(postmortem.summary.contains("cart 1.4.0 was rolled back (alert)") && postmortem.summary.contains("120 requests, 30 of them failed"))
        let text = postmortem.markdown()
        for section in ["## Summary", "## Impact", "## Detection", "## What was undone", "## Timeline", "## Who acted", "## Root cause", "## Follow-ups"] {
            #expect(text.contains(section))
        }
    }

    @Test func theMetricsCountTheSameEventsWithTheirDurations() {
        let history = mixedHistory()
        var metrics = ControllerMetrics()
        var timelines: [Int64: RolloutTimeline] = [:]
        for event in history.events {
            let id = event.rolloutID!
            timelines[id, default: RolloutTimeline(rolloutID: id, service: event.service, events: [])].apply(event)
            metrics.observe(event, timeline: timelines[id])
        }
        let text = metrics.render()
        #expect(text.contains(#"ripcord_rollouts_promoted_total{service="checkout"} 2"#))
        #expect(text.contains(#"ripcord_rollouts_rolled_back_total{service="checkout",trigger="analysis"} 2"#), "the drill counts as a rollback here")
        #expect(text.contains(#"ripcord_rollback_detection_seconds_bucket{service="cart",trigger="alert",le="10"} 1"#))
        #expect(text.contains(#"ripcord_rollback_detection_seconds_bucket{service="cart",trigger="alert",le="5"} 0"#))
        #expect(text.contains(#"ripcord_rollback_restoration_seconds_sum{service="cart"} 1"#))
        #expect(text.contains(#"ripcord_flags_disabled_by_rollback_total{service="cart"} 1"#))
        #expect(text.contains(#"ripcord_analysis_verdicts_total{service="checkout",metric="threshold",verdict="fail"} 1"#))
    }
}

/// How a finished drill is judged.
@Suite(.tags(.unit)) struct DrillVerdictTests {
    func verdict(
        _ phase: RolloutPhase, _ trigger: TriggerKind?, restore: TimeSpan?, stableErrors: UInt64 = 0, analysed: Bool = true
    ) -> DrillVerdict {
        DrillVerdict(
            phase: phase, trigger: trigger.map { Trigger(kind: $0, message: "") }, timeToRestore: restore, budget: .seconds(5),
            stableErrors: stableErrors, fault: .errors(percent: 50), analysed: analysed)
    }

    @Test func aDrillPassesOnlyWhenRipcordRollsItBackInTimeWithTheStableVersionUnharmed() {
        #expect(verdict(.rolledBack, .analysis, restore: .seconds(3)).passed)
        #expect(verdict(.rolledBack, .alert, restore: .seconds(5)).passed, "the budget is inclusive")
        let slow = verdict(.rolledBack, .analysis, restore: .seconds(8))
        #expect(!slow.passed && slow.reason.contains("over the budget of 5s"))
        let harmed = verdict(.rolledBack, .analysis, restore: .seconds(2), stableErrors: 3)
        #expect(!harmed.passed && harmed.reason.contains("stable version answered 3 errors"))
        #expect(!verdict(.rolledBack, .abort, restore: .seconds(1)).passed, "a person's abort is not Ripcord catching it")
        let untested = verdict(.rolledBack, .instanceCrashed, restore: nil)
        #expect(!untested.passed && untested.reason.contains("never put to the test"))
        let blind = verdict(.promoted, nil, restore: nil, analysed: false)
        #expect(!blind.passed && blind.reason.contains("no analysis"))
        #expect(verdict(.promoted, nil, restore: nil).reason.contains("did not catch it"))
    }
}
