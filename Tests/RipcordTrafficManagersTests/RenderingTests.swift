import Foundation
import RipcordCore
@testable import RipcordTrafficManagers
import RipcordTestSupport
import Testing

private let checkout = TrafficService(
    name: "checkout", listen: HostPort(host: "127.0.0.1", port: 8080),
    previewListen: HostPort(host: "127.0.0.1", port: 8081))
private func address(_ port: Int) -> HostPort { HostPort(host: "127.0.0.1", port: port) }
private let v1 = SemanticVersion(major: 1, minor: 0, patch: 0)
private let v2 = SemanticVersion(major: 2, minor: 0, patch: 0)

@Suite(.tags(.unit)) struct WeightTests {
    @Test func ratiosAreKeptInTheSmallestWholeNumbers() {
        #expect(Weights.reduced([160, 40], maximum: 256) == [4, 1])
        #expect(Weights.reduced([0, 100], maximum: 256) == [0, 1])
        #expect(Weights.reduced([0, 0], maximum: 256) == [0, 0])
    }

    @Test func weightsAboveTheMaximumAreScaledDownWithoutLosingABackend() {
        let split = Backend.split(
            stable: [address(1), address(2), address(3)], stableVersion: v1, candidate: [address(4)],
            candidateVersion: v2, candidateWeight: 99)
        #expect(split.map(\.weight) == [1, 1, 1, 297])
        #expect(Weights.reduced(split.map(\.weight), maximum: 256) == [1, 1, 1, 256], "98.8 % instead of 99 %, and no stable instance dropped")
        #expect(Weights.reduced([1000, 1], maximum: 256) == [256, 1])
    }
}

@Suite(.tags(.unit)) struct HAProxyRenderingTests {
    @Test func rendersTheAdminSocketAFrontendPerDoorAndTwoBackendsOfSlots() {
        let text = HAProxyConfigRenderer.render(services: [checkout], spec: HAProxySpec(socket: "/run/haproxy/admin.sock", backendPrefix: "rc_", slots: 6))
        #expect(text.contains("stats socket /run/haproxy/admin.sock mode 600 level admin"))
        #expect(text.contains("frontend rc_checkout_front\n    bind 127.0.0.1:8080"))
        #expect(text.contains("use_backend rc_checkout_preview if { req.hdr(x-ripcord-route) -m str candidate } { nbsrv(rc_checkout_preview) gt 0 }"))
        #expect(text.contains("frontend rc_checkout_preview_front\n    bind 127.0.0.1:8081\n    default_backend rc_checkout_preview"))
        #expect(text.contains("backend rc_checkout\n    balance roundrobin\n    server-template s 1-6 127.0.0.1:1 disabled weight 0"))
        #expect(text.contains("backend rc_checkout_preview\n    balance roundrobin\n    server-template s 1-6 127.0.0.1:1 disabled weight 1"))
    }

    @Test func slotsAreKeptWhileTheirBackendStaysAndReusedLongestFreeFirst() throws {
        var table = SlotTable(capacity: 3)
        let assignedFirst = table.assign([address(1), address(2)])
        let first = try #require(assignedFirst)
        #expect(first.assigned.map(\.slot) == [1, 2] && first.released.isEmpty)
        let assignedSecond = table.assign([address(2), address(3)])
        let second = try #require(assignedSecond)
        #expect(second.slots == [address(2): 2, address(3): 3] && second.released == [1])
        let assignedThird = table.assign([address(2), address(4)])
        let third = try #require(assignedThird)
        #expect(third.assigned.map(\.slot) == [1] && third.released == [3], "slot 1 was free longer than slot 3")
        let tooMany = table.assign([address(5), address(6), address(7), address(8)])
        #expect(tooMany == nil)
        #expect(table.occupant == [1: address(4), 2: address(2)], "a change that does not fit changes nothing")
    }

    @Test func readsServerCountersAndLiveSlots() throws {
        let csv = """
            # pxname,svname,econ,eresp,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,rtime,
            fe,FRONTEND,,,0,10,0,0,0,,
            ripcord_checkout,s1,1,2,0,90,0,3,7,12,
            ripcord_checkout,BACKEND,0,0,0,90,0,3,7,12,

            """
        let counters = HAProxyRuntimeOutput.serverCounters(csv: csv)
        #expect(counters.count == 1)
        let s1 = try #require(counters[.init(backend: "ripcord_checkout", slot: 1)])
        #expect(s1.responsesByClass == [0, 0, 90, 0, 3, 7] && s1.failures == 3 && s1.averageResponseMilliseconds == 12)
        let metrics = s1.metrics(since: ServerCounters())
        #expect(metrics.requests == 103 && metrics.errors == 10)
        #expect(metrics.latency.quantileMilliseconds(0.5).map { abs($0 - 12) < 1.5 } == true)

        let state = """
            1
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port
            3 ripcord_checkout 1 s1 127.0.0.1 2 4 10 0 0 1 0 0 8 0 0 0 - 18091
            3 ripcord_checkout 2 s2 127.0.0.1 0 5 0 0 5 1 0 0 8 0 0 0 - 1
            """
        let (slots, live) = HAProxyRuntimeOutput.liveSlots(serversState: state)
        #expect(slots == 2 && live == [1: address(18091)])
    }

    @Test func splitsABatchIntoOneAnswerPerCommand() {
        let output = "no need to change the addr, port changed from '1' to '18091' by 'stats socket command'\n\n\n\nNo such server.\n\n"
        let answers = HAProxyRuntimeOutput.answers(output)
        #expect(answers.count == 4)
        #expect(answers.map(HAProxyRuntimeOutput.isSuccess) == [true, true, true, false])
    }
}

@Suite(.tags(.unit)) struct NginxRenderingTests {
    let backends = [
        Backend(address: address(9001), version: v1, role: .stable, weight: 160),
        Backend(address: address(9002), version: v2, role: .candidate, weight: 40),
        Backend(address: address(9003), version: v1, role: .stable, weight: 0),
    ]

    @Test func rendersWeightedAndCandidateUpstreamsTheDoorsAndTheGeneration() {
        let text = NginxConfigRenderer.render(services: [checkout], backends: ["checkout": backends], generation: 7, accessLog: "/tmp/a.log")
        #expect(text.contains("upstream ripcord_checkout {\n    server 127.0.0.1:9001 weight=4; # 1.0.0 stable\n    server 127.0.0.1:9002 weight=1; # 2.0.0 candidate\n}"))
        #expect(!text.contains("server 127.0.0.1:9003"), "a 0-weight backend takes no traffic (nginx weights start at 1)")
        #expect(text.contains("upstream ripcord_checkout_candidate {\n    server 127.0.0.1:9002;"))
        #expect(text.contains("map $http_x_ripcord_route $ripcord_checkout_upstream {\n    default ripcord_checkout;\n    candidate ripcord_checkout_candidate;\n}"))
        #expect(text.contains("listen 127.0.0.1:8080;\n    access_log /tmp/a.log ripcord_json;"))
        #expect(text.contains("return 200 \"7 $pid\";"))
        #expect(text.contains("listen 127.0.0.1:8081;") && text.contains("proxy_pass http://ripcord_checkout_candidate;"))
        let recorded = NginxRecordedState.read(from: text)
        #expect(recorded?.generation == 7 && recorded?.liveBackends["checkout"] == backends)
    }

    @Test func withoutBackendsTheUpstreamIsAPlaceholderAndThePreviewDoorSays503() {
        let text = NginxConfigRenderer.render(services: [checkout], accessLog: "/tmp/a.log")
        #expect(text.contains("upstream ripcord_checkout {\n    server 127.0.0.1:1 down; # no backend yet\n}"))
        #expect(!text.contains("ripcord_checkout_candidate"))
        #expect(text.contains("return 503"))
    }

    @Test func readsEveryUpstreamAttemptOfALogLine() {
        let retried = NginxUpstreamAttempt.parse(line: #"{"upstream":"127.0.0.1:9001, 127.0.0.1:9002","upstreamStatus":"502, 200","headerTime":"-, 0.004","status":"200"}"#)
        #expect(
            retried == [
                NginxUpstreamAttempt(address: address(9001), response: nil),
                NginxUpstreamAttempt(address: address(9002), response: (200, 4000)),
            ])
        let served = NginxUpstreamAttempt.parse(line: #"{"upstream":"127.0.0.1:9001","upstreamStatus":"503","headerTime":"0.120","status":"503"}"#)
        #expect(served == [NginxUpstreamAttempt(address: address(9001), response: (503, 120_000))])
        #expect(NginxUpstreamAttempt.parse(line: #"{"upstream":"","upstreamStatus":"","headerTime":"","status":"503"}"#).isEmpty)
        #expect(NginxUpstreamAttempt.parse(line: "not json").isEmpty)
    }
}

@Suite(.tags(.unit)) struct FileTailTests {
    @Test func readsOnlyCompleteNewLinesAndStartsOverAfterTruncation() throws {
        let path = NSTemporaryDirectory() + "ripcord-tail-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "old\n".write(toFile: path, atomically: false, encoding: .utf8)
        var tail = FileTail(path: path)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("one\ntw".utf8))
        #expect(tail.newLines() == ["one"])
        handle.write(Data("o\n".utf8))
        #expect(tail.newLines() == ["two"])
        try handle.truncate(atOffset: 0)
        handle.write(Data("three\n".utf8))
        #expect(tail.newLines() == ["three"])
        try handle.close()
    }
}
