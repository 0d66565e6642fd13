import Foundation
import RipcordController
import RipcordCore
import RipcordServer
import RipcordTestSupport
import Testing

/// Lifecycle hooks against real processes: a smoke-test command that reaches the candidate through
/// the pin header, webhooks after each step, a command told about the rollback.
@Suite(.serialized, .tags(.integration)) struct HookIntegrationTests {
    /// Exits 1 unless the candidate, reached through the front door with the pin header, answers 200 as itself.
    static let smokeTest = """
        import os, sys, urllib.request, urllib.error
        request = urllib.request.Request('http://' + os.environ['RIPCORD_FRONT_DOOR'] + '/', headers={'x-ripcord-route': 'candidate'})
        try:
            response = urllib.request.urlopen(request, timeout=5)
            status, version = response.status, response.headers.get('x-sample-version')
        except urllib.error.HTTPError as error:
            status, version = error.code, error.headers.get('x-sample-version')
        print(f"smoke test of {os.environ['RIPCORD_VERSION']}: HTTP {status} from {version}")
        sys.exit(0 if status == 200 and version == os.environ['RIPCORD_VERSION'] else 1)
        """

    @Test func smokeTestBeforeTrafficRollsBackABrokenCandidateWithItsOutput() async throws {
        let directory = try temporaryDirectory("smoke")
        try Self.smokeTest.write(toFile: "\(directory)/smoke.py", atomically: true, encoding: .utf8)
        let hooks = "hooks:\n      - { name: smoke, at: afterStart, command: \"python3 \(directory)/smoke.py\", timeout: 10s }"
        try await withHarness(
            "hook-smoke", strategy: "canary:\n  steps:\n    - setWeight: 50", faults: "2.0.0=errorRate:1", instances: 1,
            serviceExtra: hooks
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var promoted: Rollout?
            _ = try await underLoad(harness) { promoted = try await harness.finish(try await harness.deploy("1.1.0")) }
            let healthy = try #require(promoted)
            #expect(healthy.phase == .promoted)
            let passed = try #require(try await harness.events(healthy).first { $0.kind == "hook.passed" })
            #expect(passed.evidence["output"]?.contains("HTTP 200 from 1.1.0") == true && passed.evidence["point"] == "afterStart")

            let broken = try await harness.finish(try await harness.deploy("2.0.0"))
            #expect(broken.phase == .rolledBack && broken.trigger?.kind == .hookFailed)
            #expect(broken.trigger?.evidence["output"]?.contains("HTTP 500 from 2.0.0") == true)
            #expect(broken.trigger?.message == "hook smoke (afterStart) exited with status 1")
            let weights = try await harness.events(broken).filter { $0.kind == "step.setWeight" }
            #expect(weights.isEmpty, "no traffic moved before the smoke test")
            #expect(try await get(await harness.frontDoor + "/").1 == "1.1.0")
        }
    }

    @Test func webhookAfterEachStepAndACommandToldAboutTheRollback() async throws {
        let directory = try temporaryDirectory("hook-webhook")
        let receiver = try await WebhookReceiver.start(directory: directory, status: 200)
        defer { receiver.stop() }
        let told = "\(directory)/rolled-back"
        let hooks = """
            hooks:
                  - { name: step-check, at: afterStep, http: { url: "http://127.0.0.1:\(receiver.port)/step", headers: { X-Check: yes } } }
                  - { name: page, at: onRollback, command: "sh -c 'echo $RIPCORD_VERSION $RIPCORD_TRIGGER > \(told)'" }
            """
        try await withHarness(
            "hook-webhook", strategy: "canary:\n  steps:\n    - setWeight: 20\n    - setWeight: 60\n    - pause: {}",
            instances: 1, serviceExtra: hooks
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var started: Rollout?
            // Each weight needs a passed window before the next: traffic gives the evidence.
            _ = try await underLoad(harness) {
                let rollout = try await harness.deploy("1.1.0")
                started = rollout
                try await eventually("the indefinite pause") {
                    let now = try await harness.rollout(rollout.id)
                    return now.phase == .paused && now.awaitingEvidenceSince == nil && now.candidateWeight == 60
                }
            }
            let rollout = try #require(started)
            // The hook passes on the receiver's answer; its log line may land just after.
            try await eventually("both step webhooks logged") { receiver.received.count >= 2 }
            let bodies = receiver.received.compactMap { $0["body"] as? [String: String] }
            #expect(bodies.map { $0["step"] } == ["1", "2"] && bodies.map { $0["candidateWeight"] } == ["20", "60"])
            #expect(bodies.allSatisfy { $0["hook"] == "afterStep" && $0["version"] == "1.1.0" && $0["stableVersion"] == "1.0.0" })
            try await harness.server.controller.abort(service: "checkout", reason: "by hand")
            #expect(try await harness.finish(rollout).phase == .rolledBack)
            // The shell creates the file before echo writes into it: wait for the whole line.
            try await eventually("the rollback hook wrote its line") {
                (try? String(contentsOfFile: told, encoding: .utf8))?.hasSuffix("\n") == true
            }
            #expect(try String(contentsOfFile: told, encoding: .utf8) == "1.1.0 abort\n")
        }
    }
}
