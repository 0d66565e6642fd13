import Foundation
import RipcordController
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordServer
import RipcordTestSupport
import RipcordWire
import Testing

/// Analysis metrics from real providers: a command, an HTTP JSON endpoint, Prometheus.
@Suite(.serialized, .tags(.integration)) struct MetricProviderTests {
    static let pausedAtHalf = "canary:\n  steps:\n    - setWeight: 50\n    - pause: {}"

    /// An analysis block (at the harness's indentation) whose router threshold never fails, so only
    /// the metric decides.
    static func analysis(metric lines: [String]) -> String {
        (["interval: 500ms", "maxErrorRate: 100%", "metrics:"] + lines.map { "  " + $0 }).joined(separator: "\n      ")
    }

    @Test func commandMetricThatMeetsItsFailureConditionRollsBack() async throws {
        let analysis = Self.analysis(metric: [
            "- name: queue-depth", "  command: { run: \"sh -c 'echo 42'\" }", "  interval: 200ms", "  failureCondition: result > 10",
        ])
        try await withHarness("metric-command", strategy: Self.pausedAtHalf, instances: 1, analysis: analysis) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.finish(try await harness.deploy("1.1.0"))
            #expect(rollout.stableVersion?.description == "1.0.0", "deployed right after 1.0.0's promotion was recorded")
            #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .analysis)
            #expect(rollout.trigger?.evidence["metric"] == "queue-depth")
            #expect(rollout.trigger?.evidence["value"] == "42")
            #expect(rollout.trigger?.evidence["failureCondition"] == "result > 10")
            let metricEvents = try await harness.events(rollout).filter { $0.kind == "analysis.metric" }
            #expect(metricEvents.first?.evidence["provider"] == "command")
        }
    }

    @Test func httpMetricReadsANumberByPath() async throws {
        let directory = try temporaryDirectory("json")
        try #"{"data": {"checks": [{"errorRate": "0.002"}]}}"#.write(toFile: "\(directory)/health.json", atomically: true, encoding: .utf8)
        let port = try FreePort.allocate()
        let server = try ChildProcess(
            "/usr/bin/env", ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory],
            outputPath: "\(directory)/server.log")
        defer { server.signal(SIGKILL) }
        try await eventually("the JSON server to answer") { (try? await get("http://127.0.0.1:\(port)/health.json").0) == 200 }
        let analysis = Self.analysis(metric: [
            "- name: downstream-errors", "  http: { url: \"http://127.0.0.1:\(port)/health.json\", path: data.checks.0.errorRate }",
            "  interval: 200ms", "  count: 3", "  successCondition: result < 0.01",
        ])
        try await withHarness(
            "metric-http", strategy: "canary:\n  steps:\n    - setWeight: 50\n    - pause: { duration: 3s }",
            instances: 1, analysis: analysis
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var finished: Rollout?
            // The router's windows give the evidence each weight needs; the metric must not fail it.
            _ = try await underLoad(harness) {
                let rollout = try await harness.deploy("1.1.0")
                try await harness.waitForPhase(rollout, .paused)
                try await eventually("three measurements") {
                    try await harness.events(rollout).contains { $0.kind == "analysis.metricComplete" }
                }
                finished = try await harness.finish(rollout)
            }
            let rollout = try #require(finished)
            let values = try await harness.events(rollout).filter { $0.kind == "analysis.metric" }.map { $0.evidence["value"] }
            #expect(values == ["0.002", "0.002"], "the third measurement completes the metric")
            #expect(rollout.phase == .promoted)
        }
        server.signal(SIGTERM)
        try await server.wait()
    }

    @Test func unreachableProviderIsInconclusiveAndPausesNeverPromotes() async throws {
        let closed = try FreePort.allocate()
        let analysis = Self.analysis(metric: [
            "- name: latency-slo", "  prometheus: { address: \"http://127.0.0.1:\(closed)\", query: up }", "  interval: 200ms",
            "  timeout: 500ms", "  successCondition: result == 1", "  inconclusiveLimit: 2",
        ])
        try await withHarness(
            "metric-down", strategy: "canary:\n  steps:\n    - setWeight: 50\n    - analysis: { passes: 1 }",
            instances: 1, analysis: analysis
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.deploy("1.1.0")
            try await eventually("paused by inconclusive analysis") {
                try await harness.events(rollout).contains { $0.kind == "rollout.paused" }
            }
            let current = try await harness.rollout(rollout.id)
            #expect(current.phase == .paused && current.candidateWeight == 50, "paused where it was, not promoted")
            let paused = try #require(try await harness.events(rollout).first { $0.kind == "rollout.paused" })
            #expect(paused.evidence["trigger"] == "inconclusiveAnalysis")
            #expect(paused.evidence["error"]?.contains("failed") == true)
            try await harness.server.controller.abort(service: "checkout", reason: "metrics unavailable")
            #expect(try await harness.finish(rollout).phase == .rolledBack)
        }
    }

    @Test func prometheusMetricOverTheRoutersOwnMeasurements() async throws {
        let prometheusPort = try FreePort.allocate()
        let query = #"sum(increase(ripcord_requests_total{service=\"{service}\",role=\"{role}\",class=\"5xx\"}[10s])) or vector(0)"#
        let analysis = Self.analysis(metric: [
            "- name: canary-5xx", "  prometheus: { address: \"http://127.0.0.1:\(prometheusPort)\", query: \"\(query)\" }",
            "  interval: 1s", "  initialDelay: 2s", "  failureCondition: result > 2", "  inconclusiveLimit: 60",
            "- name: stable-requests-range",
            "  prometheus: { address: \"http://127.0.0.1:\(prometheusPort)\", query: \"sum(ripcord_requests_total{service=\\\"{service}\\\",role=\\\"stable\\\"})\", range: { duration: 10s, step: 1s, reduce: max } }",
            "  interval: 1s", "  failureCondition: result < 0", "  inconclusiveLimit: 60",
            "- name: stable-instance-answers",
            "  prometheus: { address: \"http://127.0.0.1:\(prometheusPort)\", query: \"sum(sample_requests_total{service=\\\"{service}\\\",version=\\\"{stableVersion}\\\"})\" }",
            "  interval: 1s", "  failureCondition: result < 0", "  inconclusiveLimit: 60",
        ])
        try await withHarness(
            "metric-prometheus", strategy: Self.pausedAtHalf, faults: "2.0.0=errorRate:0.5", instances: 1,
            analysis: analysis
        ) { harness in
            try await withLiveAPI(harness) {
                let stack = try PrometheusStack.start(
                    directory: harness.directory, prometheusPort: prometheusPort,
                    apiAddress: harness.server.config.api.description, tokenFile: harness.server.tokenFile)
                _ = try await underLoad(harness, requestsPerSecond: 40) {
                    do {
                        try await harness.finish(try await harness.deploy("1.0.0"))
                        let stable = try await harness.server.controller.status(service: "checkout").stableInstances.map(\.address)
                        try PrometheusStack.writeInstanceTargets(directory: harness.directory, addresses: stable)
                        try await PrometheusStack.waitForSeries(#"ripcord_requests_total{role="stable"}"#, prometheusPort: prometheusPort)
                        try await PrometheusStack.waitForSeries(#"sample_requests_total{version="1.0.0",code="200"}"#, prometheusPort: prometheusPort)
                        let rollout = try await harness.finish(try await harness.deploy("2.0.0"), within: 90)
                        #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .analysis)
                        #expect(rollout.trigger?.evidence["metric"] == "canary-5xx")
                        #expect(rollout.trigger?.evidence["provider"] == "prometheus")
                        #expect(Double(rollout.trigger?.evidence["value"] ?? "0")! > 2)
                        let first = try #require(try await harness.events(rollout).first { $0.evidence["metric"] == "canary-5xx" })
                        let analysisStart = try #require(try await harness.events(rollout).first { $0.kind == "step.setWeight" })
                        #expect(first.at - analysisStart.at >= .seconds(2), "initialDelay holds the first measurement back")
                        let ranged = try await harness.events(rollout).filter { $0.evidence["metric"] == "stable-requests-range" }
                        #expect(ranged.contains { Double($0.evidence["value"] ?? "") ?? 0 > 0 }, "the range query measured stable's requests")
                        let scraped = try await harness.events(rollout).filter { $0.evidence["metric"] == "stable-instance-answers" }
                        #expect(scraped.contains { Double($0.evidence["value"] ?? "") ?? 0 > 0 }, "Prometheus scraped the stable instances themselves")
                    } catch {
                        Issue.record("\(stack.logs)")
                        throw error
                    }
                }
                try await stack.stop()
            }
        }
    }
}
