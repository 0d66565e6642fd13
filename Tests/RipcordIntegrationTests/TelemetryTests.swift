import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import RipcordCore
import RipcordDrivers
import RipcordInsights
import RipcordLoadGenerator
import RipcordTestSupport
import RipcordWire
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// What a real `ripcord serve` tells about itself: its metrics, its JSON decision log, its event stream.
@Suite(.serialized, .tags(.integration)) struct TelemetryTests {
    /// The events an `/api/v1/events` stream delivered, as they came.
    actor StreamedEvents {
        private(set) var events: [EventView] = []
        private(set) var ids: [Int64] = []
        func add(_ event: ServerSentEventParser.Event) throws {
            events.append(try JSONDecoder().decode(EventView.self, from: Data(event.data.utf8)))
            ids.append(Int64(event.id ?? "") ?? -1)
        }
    }

    /// Follows the stream until cancelled; `lastEventID` resumes after that event.
    func follow(_ api: ServeProcessTests.API, _ query: String, lastEventID: Int64? = nil, into events: StreamedEvents) -> Task<Void, Never> {
        Task {
            var request = HTTPClientRequest(url: api.base + "/api/v1/events" + query)
            request.headers.add(name: "authorization", value: "Bearer \(api.token)")
            if let lastEventID { request.headers.add(name: "last-event-id", value: String(lastEventID)) }
            guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(300)) else { return }
            var parser = ServerSentEventParser()
            do {
                for try await chunk in response.body {
                    for event in try parser.feed(chunk.readableBytesView) { try await events.add(event) }
                }
            } catch {}
        }
    }

    /// Half the traffic, a second's pause, then all of it; 10 % errors fail a window.
    static let judgedCanary = """
        strategy:
          canary:
            steps: [ { setWeight: 50 }, { pause: { duration: 1s } } ]
        analysis:
          interval: 500ms
          minRequests: 5
          maxErrorRate: 10%
        """

    /// The value of one sample of the exposition (0 when absent).
    func sample(_ exposition: String, _ series: String) -> Double {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? 0
        }
        return 0
    }

    func scrape(_ api: ServeProcessTests.API) async throws -> String {
        var request = HTTPClientRequest(url: api.base + "/metrics")
        request.headers.add(name: "authorization", value: "Bearer \(api.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 22))
    }

    @Test func aRolloutAndARollbackShowInTheMetricsTheJSONLogAndTheEventStream() async throws {
        let directory = try temporaryDirectory("telemetry")
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        // Nothing listens on the webhook's port: every notification fails (and is counted).
        let deadPort = try FreePort.allocate()
        try ServeProcessTests.sampleConfig(
            apiPort: apiPort,
            service: """
                healthCheck: { interval: 200ms }
                guardWindow: 1s
                hooks:
                  - { name: smoke, at: afterStart, command: "true", timeout: 10s }
                \(Self.judgedCanary)
                """,
            topLevel: "notifications:\n  - { name: ops, url: \"http://127.0.0.1:\(deadPort)/hook\", events: [rollout.rolledBack] }",
            faults: "1.2.0=errorRate:0.6"
        ).write(toFile: config, atomically: true, encoding: .utf8)
        let log = "\(directory)/serve.log"
        let server = try ChildProcess(ripcordBinary, ["serve", "--config", config, "--log-format", "json"], outputPath: log)
        defer { server.signal(SIGKILL) }
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        let idle = try await scrape(api)
        for family in [
            "ripcord_build_info", "ripcord_controller_leader", "ripcord_rollouts_started_total", "ripcord_rollouts_rolled_back_total",
            "ripcord_rollback_detection_seconds", "ripcord_rollback_restoration_seconds", "ripcord_analysis_verdicts_total",
            "ripcord_hooks_total", "ripcord_migrations_total", "ripcord_flag_changes_total", "ripcord_guard_windows_total",
            "ripcord_notification_failures_total", "ripcord_rollout_phase", "ripcord_candidate_weight_percent",
        ] {
            #expect(idle.contains("# TYPE \(family) "), "\(family) is exposed before anything happened")
        }
        #expect(sample(idle, #"ripcord_build_info{version="\#(RipcordBuild.version)"}"#) == 1)

        let everything = StreamedEvents()
        var firstStream = follow(api, "?service=checkout", into: everything)
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        let frontDoor = try #require(try await api.call("GET", "/api/v1/services/checkout").1["listen"] as? String)
        let load = LoadGenerator(url: "http://\(frontDoor)/", requestsPerSecond: 100, concurrency: 4)
        let running = Task { await load.run() }

        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.1.0"}"#).0 == 202)
        try await eventually("1.1.0 at 50%") { sample(try await scrape(api), #"ripcord_candidate_weight_percent{service="checkout"}"#) == 50 }
        let midway = try await scrape(api)
        #expect(sample(midway, #"ripcord_rollout_step{service="checkout"}"#) >= 1)
        #expect(sample(midway, #"ripcord_rollout_phase{service="checkout",phase="idle"}"#) == 0)
        // A 1 s window is shorter than draining 1.0.0 takes: it is measured from when watching begins.
        try await eventually("1.1.0 promoted and its guard window over") {
            sample(try await scrape(api), #"ripcord_guard_windows_total{service="checkout",result="passed"}"#) == 1
        }
        // The stream drops here and resumes after the last event it delivered.
        firstStream.cancel()
        await firstStream.value
        let seenBeforeDrop = await everything.ids.last ?? 0
        firstStream = follow(api, "?service=checkout", lastEventID: seenBeforeDrop, into: everything)

        let (_, faulty) = try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.2.0"}"#)
        let faultyID = try #require(faulty["id"] as? Int)
        try await eventually("1.2.0 rolled back and traffic restored") {
            sample(try await scrape(api), #"ripcord_rollback_restoration_seconds_count{service="checkout"}"#) == 1
        }
        running.cancel()
        await running.value
        await load.shutdown()

        let after = try await scrape(api)
        #expect(sample(after, #"ripcord_rollouts_started_total{service="checkout",kind="deploy"}"#) == 3)
        #expect(sample(after, #"ripcord_rollouts_promoted_total{service="checkout"}"#) == 2)
        #expect(sample(after, #"ripcord_rollouts_rolled_back_total{service="checkout",trigger="analysis"}"#) == 1)
        #expect(sample(after, #"ripcord_rollout_duration_seconds_count{service="checkout",outcome="rolledBack"}"#) == 1)
        #expect(sample(after, #"ripcord_rollback_detection_seconds_count{service="checkout",trigger="analysis"}"#) == 1)
        #expect(sample(after, #"ripcord_analysis_verdicts_total{service="checkout",metric="threshold",verdict="pass"}"#) >= 1)
        #expect(sample(after, #"ripcord_analysis_verdicts_total{service="checkout",metric="threshold",verdict="fail"}"#) >= 1)
        #expect(sample(after, #"ripcord_hooks_total{service="checkout",point="afterStart",result="passed"}"#) >= 2)
        #expect(sample(after, #"ripcord_hook_duration_seconds_count{service="checkout",point="afterStart"}"#) >= 2)
        try await eventually("the failed notification counted") {
            sample(try await scrape(api), #"ripcord_notification_failures_total{service="checkout"}"#) >= 1
        }
        #expect(sample(after, #"ripcord_rollout_phase{service="checkout",phase="idle"}"#) == 1)
        #expect(sample(after, #"ripcord_candidate_weight_percent{service="checkout"}"#) == 0)

        // Flag changes are counted whoever makes them.
        #expect(try await api.call("POST", "/api/v1/flags", body: #"{"name":"new-checkout","enabled":true}"#).0 == 201)
        try await eventually("the flag change counted") {
            sample(try await scrape(api), #"ripcord_flag_changes_total{environment="default",change="updated"}"#) == 1
        }

        // The stream delivered the faulty rollout's events in order, each once, resumed without a gap.
        let (_, detail) = try await api.call("GET", "/api/v1/rollouts/\(faultyID)")
        let stored = (detail["events"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }.map(Int64.init)
        try await eventually("the stream to deliver the rollback") { await everything.events.contains { $0.kind.rawValue == "traffic.restored" } }
        firstStream.cancel()
        let ids = await everything.ids
        #expect(ids == ids.sorted() && Set(ids).count == ids.count, "in order, none twice: \(ids)")
        #expect(stored.allSatisfy(ids.contains), "every stored event of rollout \(faultyID) was streamed")
        let allStored = try await storedEventIDs(api).filter { $0 >= (ids.first ?? 0) }
        #expect(ids == allStored, "the resumed stream holds exactly the service's events from its start")

        // The JSON log: one object per line, the rollback decision with its evidence as an object.
        server.signal(SIGTERM)
        _ = try await server.wait()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.count == lines.count, "every line is a JSON object: \(lines.filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil }.prefix(3))")
        let rollback = try #require(records.first { $0["event.action"] as? String == "rollout.rolledBack" })
        #expect(rollback["log.level"] as? String == "info" && rollback["@timestamp"] != nil && rollback["ecs.version"] != nil)
        let evidence = try #require(rollback["ripcord.evidence"] as? [String: Any])
        #expect(evidence["trigger"] as? String == "analysis")
        #expect(Double(evidence["errorRate"] as? String ?? "0")! > 0.1)
        #expect((rollback["message"] as? String)?.contains("rolled back 1.2.0") == true)
        #expect(records.contains { $0["event.action"] as? String == "step.setWeight" })
        #expect(!lines.contains { $0.contains(api.token) }, "the token never appears in the log")
    }

    /// Promotions, rollbacks by three triggers and an abort, then what `report`, `postmortem` and `runbook`
    /// make of them, compared with a count by hand of the events the API returns.
    @Test func reportPostmortemAndRunbookTellTheHistoryAsItsEventsDo() async throws {
        let directory = try temporaryDirectory("insights")
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try ServeProcessTests.sampleConfig(
            apiPort: apiPort,
            service: """
                healthCheck: { interval: 200ms }
                owners: [ { name: Payments team, contact: "#payments-oncall" } ]
                flags: [ new-checkout ]
                drill: { maxTimeToRestore: 15s }
                hooks:
                  - { name: smoke, at: afterStart, command: "sh -c 'test \\"$RIPCORD_VERSION\\" != 1.4.0'", timeout: 10s }
                \(Self.judgedCanary)
                """,
            faults: "1.2.0=errorRate:0.6;1.3.0=crashAtStart"
        ).write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log")
        defer { server.signal(SIGKILL) }
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        #expect(try await api.call("POST", "/api/v1/flags", body: #"{"name":"new-checkout","enabled":true}"#).0 == 201)

        func deploy(_ version: String, to phase: String) async throws -> Int {
            let (status, rollout) = try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"\#(version)"}"#)
            #expect(status == 202, "\(version): \(rollout)")
            let id = try #require(rollout["id"] as? Int)
            if phase == "aborted" {
                #expect(try await api.call("POST", "/api/v1/services/checkout/abort", body: #"{"reason":"wrong build"}"#).0 == 202)
            }
            try await eventually("\(version) \(phase)") {
                let (_, detail) = try await api.call("GET", "/api/v1/rollouts/\(id)")
                return ((detail["rollout"] as? [String: Any])?["phase"] as? String) == (phase == "aborted" ? "rolledBack" : phase)
            }
            return id
        }
        _ = try await deploy("1.0.0", to: "promoted")
        let frontDoor = try #require(try await api.call("GET", "/api/v1/services/checkout").1["listen"] as? String)
        let load = LoadGenerator(url: "http://\(frontDoor)/", requestsPerSecond: 100, concurrency: 4)
        let running = Task { await load.run() }
        _ = try await deploy("1.1.0", to: "promoted")
        let faulty = try await deploy("1.2.0", to: "rolledBack")
        _ = try await deploy("1.3.0", to: "rolledBack")
        _ = try await deploy("1.4.0", to: "rolledBack")
        _ = try await deploy("1.5.0", to: "aborted")
        _ = try await deploy("1.6.0", to: "promoted")
        running.cancel()
        await running.value
        await load.shutdown()

        // The count by hand, from the events as the API returns them.
        let events = try await storedEvents(api)
        let rollbacks = events.filter { $0.kind.rawValue == "rollout.rolledBack" }
        let triggers = Dictionary(grouping: rollbacks, by: { $0.evidence["trigger"] ?? "" }).mapValues(\.count)
        #expect(triggers == ["analysis": 1, "instanceCrashed": 1, "hookFailed": 1, "abort": 1])
        let ofFaulty = events.filter { $0.rolloutID == Int64(faulty) }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func at(_ event: EventView?) throws -> Double {
            let stamp = try #require(event).at
            return try #require(iso.date(from: stamp)).timeIntervalSince1970
        }
        let exposed = try at(ofFaulty.first { $0.kind.rawValue == "step.setWeight" && $0.evidence["weight"] != "0" })
        let decided = try at(ofFaulty.first { $0.kind.rawValue == "rollout.rolledBack" })
        let restored = try at(ofFaulty.first { $0.kind.rawValue == "traffic.restored" })

        let (status, output) = try await ChildProcess.runRipcord(["report", "--format", "json", "--since", "1d", "--config", config])
        #expect(status == 0, "\(output)")
        let report = try JSONDecoder().decode(DeploymentReport.self, from: Data(output.utf8))
        let all = report.overall
        #expect(all.promoted == events.filter { $0.kind.rawValue == "rollout.promoted" }.count && all.promoted == 3)
        #expect(all.rolledBack == 4 && all.aborted == 1 && all.rollbacksByTrigger == triggers)
        #expect(all.changeFailureRate == 0.5, "3 failures over 3 promotions and 3 failures")
        #expect(all.caughtBeforeTraffic == 3, "the crash, the failed hook and the abort came before any traffic")
        #expect(all.timeToDetect?.count == 1 && abs((all.timeToDetect?.medianSeconds ?? 0) - (decided - exposed)) < 0.002)
        #expect(all.timeToRestore?.count == 1 && abs((all.timeToRestore?.medianSeconds ?? 0) - (restored - exposed)) < 0.002)
        #expect(all.rollbacksByMetric == ["threshold": 1])
        let (_, csv) = try await ChildProcess.runRipcord(["report", "--format", "csv", "--config", config])
        #expect(csv.split(separator: "\n").count == 3 && csv.contains("\"checkout\",7,3,4,1,"), "\(csv)")

        let (_, postmortemJSON) = try await ChildProcess.runRipcord(["postmortem", String(faulty), "--format", "json", "--config", config])
        let postmortem = try JSONDecoder().decode(Postmortem.self, from: Data(postmortemJSON.utf8))
        let member = try #require(postmortem.members.first)
        #expect(member.trigger == "analysis" && member.version == "1.2.0" && member.previousVersion == "1.1.0")
        #expect((member.requestsAnswered ?? 0) > 0 && (member.requestsFailed ?? 0) > 0 && member.requestsFailed! <= member.requestsAnswered!)
        #expect(member.undone.contains { $0.hasPrefix("traffic:") } && member.undone.contains { $0.hasPrefix("flags:") && $0.contains("new-checkout") })
        let (_, postmortemText) = try await ChildProcess.runRipcord(["postmortem", "rollout/\(faulty)", "--config", config])
        #expect(postmortemText.contains("# Post-mortem: rollout \(faulty) of checkout") && postmortemText.contains("## Root cause"))
        #expect(try await ChildProcess.runRipcord(["postmortem", "release/x", "--config", config]).0 == 64)

        let (_, runbook) = try await ChildProcess.runRipcord(["runbook", "checkout", "--config", config])
        for line in [
            "- Payments team — #payments-oncall", "`ripcord abort checkout --reason \"…\"`", "`ripcord undo checkout`",
            "returns to 1.1.0 (revision 2)", "`ripcord flags disable new-checkout --environment default`", "rejected versions: ",
        ] {
            #expect(runbook.contains(line), "runbook lacks \(line):\n\(runbook)")
        }
        #expect(runbook.contains("1.2.0") && runbook.contains("stable: 1.6.0"))

        // A drill is practice: the report counts it apart, not as a deployment or a failure.
        #expect(try await ChildProcess.runRipcord(["drill", "checkout", "--config", config]).0 == 0)
        let (_, afterDrill) = try await ChildProcess.runRipcord(["report", "--format", "json", "--since", "1d", "--config", config])
        let withDrill = try JSONDecoder().decode(DeploymentReport.self, from: Data(afterDrill.utf8))
        #expect(withDrill.drills.run == 1 && withDrill.drills.passed == 1 && withDrill.overall == all, "\(withDrill.drills)")
        server.signal(SIGTERM)
        _ = try await server.wait()
    }

    /// Every event of `checkout` the API has stored, in order.
    func storedEventIDs(_ api: ServeProcessTests.API) async throws -> [Int64] { try await storedEvents(api).map(\.id) }

    func storedEvents(_ api: ServeProcessTests.API) async throws -> [EventView] {
        var request = HTTPClientRequest(url: api.base + "/api/v1/services/checkout/events?limit=5000")
        request.headers.add(name: "authorization", value: "Bearer \(api.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = Data(buffer: try await response.body.collect(upTo: 1 << 24))
        return try JSONDecoder().decode([EventView].self, from: data)
    }
}
