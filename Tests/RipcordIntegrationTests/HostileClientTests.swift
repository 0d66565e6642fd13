import AsyncHTTPClient
import Foundation
import NIOCore
import RipcordCore
import RipcordDrivers
import RipcordTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Hostile input sent to a real `ripcord serve` over real sockets: a request can fail, the process cannot.
@Suite(.serialized, .tags(.integration)) struct HostileClientTests {
    /// The crash reported with a client token: counts near Int.max, sent twice, overflowed the merge and
    /// stored a REAL that trapped the next read of the metrics. Each is refused now, and nothing is stored.
    @Test func sdkMetricsNearIntMaxAreRefusedAndTheProcessKeepsServing() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("hostile-metrics")
        defer { process.signal(SIGKILL) }
        let (status, created) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"sdk","kind":"client","environment":"production"}"#)
        #expect(status == 201)
        let sdk = ServeProcessTests.API(base: api.base, token: try #require(created["token"] as? String))

        let hostile = [
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":1,"no":0,"variants":{"v":9223372036854775807}}}}}"#,
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":9223372036854775807,"no":0}}}}"#,
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":-5,"no":0}}}}"#,
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":1e300,"no":0}}}}"#,
        ]
        let fields = ["bucket.toggles.f1.variants.v", "bucket.toggles.f1.yes", "bucket.toggles.f1.yes", nil]
        for (body, field) in zip(hostile, fields) {
            for _ in 0..<2 {
                let (code, error) = try await sdk.call("POST", "/api/client/metrics", body: body)
                #expect(code == 400, "\(body)")
                let answer = error["error"] as? [String: Any]
                #expect(answer?["code"] is String)
                if let field { #expect(answer?["field"] as? String == field, "\(body)") }
            }
        }
        #expect(
            try await sdk.call(
                "POST", "/api/client/metrics",
                body: #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":3,"no":1,"variants":{"v":2}}}}}"#
            ).0 == 202)
        let (metricsStatus, metrics) = try await api.call("GET", "/api/v1/flag-metrics?environment=production")
        #expect(metricsStatus == 200)
        let exposures = try #require(metrics["exposures"] as? [[String: Any]])
        #expect(exposures.count == 1 && exposures[0]["yes"] as? Int == 3 && exposures[0]["no"] as? Int == 1)
        #expect(processExists(process.pid))
    }

    /// A duration near Int64.max used to trap when a deadline was computed from it.
    @Test func aDurationTooLongToHoldIsRefused() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("hostile-duration")
        defer { process.signal(SIGKILL) }
        #expect(try await api.call("POST", "/api/v1/flags?environment=production", body: FlagAPITests.checkoutFlag).0 == 201)
        for duration in ["9223372036854775807", #""99999999999999999999h""#] {
            let (status, body) = try await api.call(
                "POST", "/api/v1/flags/new-checkout/guarded-rollouts?environment=production",
                body: #"{"service":"checkout","steps":[50,100],"stepDuration":\#(duration)}"#)
            #expect(status == 400, "\(body)")
        }
        #expect(try await api.call("GET", "/api/v1/health").0 == 200)
        #expect(processExists(process.pid))
    }

    /// `ripcord serve` with `checkout` 1.0.0 promoted behind a front door on a known port, started by
    /// `/bin/sh` so a test can set its limits (`ulimit`) first.
    static func serveWithFrontDoor(_ label: String, shellPrefix: String = "") async throws
        -> (process: ChildProcess, api: ServeProcessTests.API, front: HostPort)
    {
        let directory = try temporaryDirectory(label)
        let apiPort = try FreePort.allocate()
        let front = HostPort(host: "127.0.0.1", port: try FreePort.allocate())
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          checkout:
            listen: \(front)
            instances: 1
            run: { command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}" }
            healthCheck: { interval: 200ms }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            "/bin/sh", ["-c", "\(shellPrefix) exec '\(ripcordBinary)' serve --config '\(config)'"],
            outputPath: "\(directory)/serve.log")
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        return (process, api, front)
    }

    /// At `ulimit -n 1024`, 1,500 idle connections to a front door used to take every descriptor: the
    /// API and the other doors stopped, and the process died. Now the router keeps to its share.
    @Test func aConnectionFloodUnderALowDescriptorLimitLeavesTheAPIAnswering() async throws {
        var limits = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
        limits.rlim_cur = max(limits.rlim_cur, min(limits.rlim_max, 8192))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
        #expect(limits.rlim_cur >= 4096, "the test itself needs descriptors for 1,500 connections")

        let (process, api, front) = try await Self.serveWithFrontDoor("fd-flood", shellPrefix: "ulimit -n 1024 &&")
        defer { process.signal(SIGTERM) }  // stops its instances too
        var flood: [RawConnection] = []
        for _ in 0..<1_500 { flood.append(try RawConnection(front)) }

        #expect(try await api.call("GET", "/api/v1/health").0 == 200)
        let (status, service) = try await api.call("GET", "/api/v1/services/checkout")
        #expect(status == 200 && service["stableVersion"] as? String == "1.0.0")
        // A connection the door took still gets its answer (its upstream has a descriptor kept for it) …
        flood[0].send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(await flood[0].receive(within: 10).text.contains("\"version\":\"1.0.0\""))
        // … and the ones beyond its share were told so and closed.
        let refused = await flood[1_499].receive(within: 10)
        #expect(refused.text.hasPrefix("HTTP/1.1 503 Service Unavailable") && refused.closed)
        flood.removeAll()
        try await eventually("the door takes new connections once the flood is gone", within: 20) {
            (try? await get("http://\(front)/").0) == 200
        }
        #expect(processExists(process.pid))
    }

    /// Four clients each sending most of a 60 MB body and then stalling used to add 260 MB to the
    /// process: bodies were held whole. Now they stream to the backend and the router holds little.
    @Test func unfinishedLargeBodiesDoNotGrowTheProcess() async throws {
        let (process, _, front) = try await Self.serveWithFrontDoor("large-bodies")
        defer { process.signal(SIGTERM) }
        #expect(try await get("http://\(front)/").0 == 200)
        let before = try residentMegabytes(process.pid)
        let declared = 60 * 1024 * 1024
        let clients = try (0..<4).map { _ in try RawConnection(front) }
        let chunk = [UInt8](repeating: 0x61, count: 1024 * 1024)
        await withTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask {
                    client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: \(declared)\r\n\r\n")
                    for _ in 0..<56 { await client.sendInBackground(chunk) }
                }
            }
        }
        let during = try residentMegabytes(process.pid)
        #expect(during - before < 50, "RSS grew from \(before) MB to \(during) MB with 4 × 56 MB of unfinished bodies")
        #expect(try await get("http://\(front)/").0 == 200, "other requests are served meanwhile")
        #expect(processExists(process.pid))
    }

    private func residentMegabytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return (Int(line.split(separator: " ")[1]) ?? 0) / 1024
    }
}
