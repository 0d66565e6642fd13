import NIOCore
import NIOHTTP1
import NIOPosix
import RipcordCore
import RipcordTestSupport
import Testing
@testable import RipcordRouter

let any0 = HostPort(host: "127.0.0.1", port: 0)

/// Real sockets: router on 127.0.0.1:0 in front of tiny NIO backends.
@Suite(.serialized, .tags(.integration)) struct RouterSocketTests {
    @Test func weightedSplitNinetyTenOverKeepAlive() async throws {
        let h = RouterHarness()
        let stable = try await h.backend("stable")
        let candidate = try await h.backend("candidate")
        try await h.router.setBackends(
            service: "web",
            [
                Backend(address: stable.address, version: Versions.stable, role: .stable, weight: 90),
                Backend(address: candidate.address, version: Versions.candidate, role: .candidate, weight: 10),
            ])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let counts = try await withThrowingTaskGroup(of: [String: Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let client = try await h.client(front)
                    var counts: [String: Int] = [:]
                    for _ in 0..<250 {
                        let response = try await client.request()
                        #expect(response.status == .ok)
                        counts[response.body, default: 0] += 1
                    }
                    await client.close()
                    return counts
                }
            }
            return try await group.reduce(into: [String: Int]()) { $0.merge($1, uniquingKeysWith: +) }
        }
        #expect(counts["stable", default: 0] + counts["candidate", default: 0] == 1000)
        // SWRR is exact per event loop per cycle of 10; two loops → at most a couple of picks off.
        #expect((90...110).contains(counts["candidate", default: 0]), "candidate got \(counts)")
        let stableMetrics = await h.router.metrics(service: "web", version: Versions.stable, role: .stable)
        let candidateMetrics = await h.router.metrics(service: "web", version: Versions.candidate, role: .candidate)
        #expect(stableMetrics.responsesByClass[2] == UInt64(counts["stable", default: 0]))
        #expect(candidateMetrics.responsesByClass[2] == UInt64(counts["candidate", default: 0]))
        #expect(stableMetrics.latency.total == stableMetrics.requests)
        #expect(stableMetrics.connectionFailures == 0)
        await h.tearDown([stable, candidate])
    }

    @Test func pinHeaderReachesCandidateAtWeightZeroAndResponsesNameTheVersion() async throws {
        let h = RouterHarness()
        let stable = try await h.backend("stable")
        let candidate = try await h.backend("candidate")
        try await h.router.setBackends(
            service: "web",
            [
                Backend(address: stable.address, version: Versions.stable, role: .stable, weight: 100),
                Backend(address: candidate.address, version: Versions.candidate, role: .candidate, weight: 0),
            ])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        for _ in 0..<50 {
            let plain = try await client.request()
            #expect(plain.body == "stable")
            #expect(plain.headers[RouterHeaders.version] == ["1.0.0"])
            let pinned = try await client.request(headers: [(RouterHeaders.route, "candidate")])
            #expect(pinned.body == "candidate")
            #expect(pinned.headers[RouterHeaders.version] == ["1.1.0"])
            let pinnedStable = try await client.request(headers: [(RouterHeaders.route, "stable")])
            #expect(pinnedStable.body == "stable")
        }
        await client.close()
        await h.tearDown([stable, candidate])
    }

    @Test func previewDoorRoutesOnlyToCandidates() async throws {
        let h = RouterHarness()
        let stable = try await h.backend("stable")
        let candidate = try await h.backend("candidate")
        try await h.router.setBackends(
            service: "web",
            [
                Backend(address: stable.address, version: Versions.stable, role: .stable, weight: 100),
                Backend(address: candidate.address, version: Versions.candidate, role: .candidate, weight: 0),
            ])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: any0)
        let previewAddress = try #require(h.router.previewAddress(service: "web"))
        #expect(previewAddress.port != 0 && previewAddress.port != front.port)
        let preview = try await h.client(previewAddress)
        for _ in 0..<100 {
            // Even a stable pin is ignored on the preview door.
            let response = try await preview.request(headers: [(RouterHeaders.route, "stable")])
            #expect(response.body == "candidate")
        }
        // Without candidates, the preview door has nothing to offer.
        try await h.router.setBackends(
            service: "web",
            [
                Backend(address: stable.address, version: Versions.stable, role: .stable, weight: 100)
            ])
        let none = try await preview.request()
        #expect(none.status == .serviceUnavailable)
        await preview.close()
        await h.tearDown([stable, candidate])
    }

    @Test func switchingBackendsUnderLoadLosesNoRequest() async throws {
        let h = RouterHarness()
        let a = try await h.backend("a")
        let b = try await h.backend("b")
        let onlyA = [Backend(address: a.address, version: Versions.stable, role: .stable, weight: 100)]
        let split = onlyA + [Backend(address: b.address, version: Versions.candidate, role: .candidate, weight: 50)]
        let onlyB = [Backend(address: b.address, version: Versions.candidate, role: .stable, weight: 100)]
        try await h.router.setBackends(service: "web", onlyA)
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let router = h.router
        async let flipping: Void = {
            for round in 0..<30 {
                try await router.setBackends(service: "web", [onlyA, split, onlyB][round % 3])
                try await Task.sleep(for: .milliseconds(5))
            }
            try await router.setBackends(service: "web", onlyB)
        }()
        let statuses = try await withThrowingTaskGroup(of: [UInt].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let client = try await h.client(front)
                    var statuses: [UInt] = []
                    for index in 0..<150 {
                        // Mix in a slow request now and then so some are in flight across a switch.
                        let response = try await client.request(.GET, index % 25 == 0 ? "/slow" : "/")
                        statuses.append(response.status.code)
                    }
                    await client.close()
                    return statuses
                }
            }
            return try await group.reduce(into: [UInt]()) { $0 += $1 }
        }
        try await flipping
        #expect(statuses.count == 1200)
        #expect(statuses.allSatisfy { $0 == 200 })
        // After the last switch, the removed backend gets nothing new.
        let client = try await h.client(front)
        for _ in 0..<40 { #expect(try await client.request().body == "b") }
        await client.close()
        await h.tearDown([a, b])
    }

    @Test func refusedConnectionsAreRetriedOnAnotherBackendAndCounted() async throws {
        let h = RouterHarness()
        let live = try await h.backend("live")
        let dead = try await closedPort(group: h.sideGroup)
        try await h.router.setBackends(
            service: "web",
            [
                Backend(address: dead, version: Versions.other, role: .stable, weight: 50),
                Backend(address: live.address, version: Versions.stable, role: .stable, weight: 50),
            ])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        for index in 0..<100 {
            // POST too: nothing was sent to a backend that refused the connection, so any method retries.
            let response = index % 2 == 0 ? try await client.request() : try await client.request(.POST, "/echo", body: "hello")
            #expect(response.status == .ok)
            #expect(response.backend == "live")
        }
        await client.close()
        let deadMetrics = await h.router.metrics(service: "web", version: Versions.other, role: .stable)
        let liveMetrics = await h.router.metrics(service: "web", version: Versions.stable, role: .stable)
        #expect(deadMetrics.connectionFailures >= 40)
        #expect(deadMetrics.responsesByClass.reduce(0, +) == 0)
        #expect(liveMetrics.responsesByClass[2] == 100)
        #expect(liveMetrics.connectionFailures == 0)
        await h.tearDown([live])
    }

    @Test func allBackendsRefusingGives502() async throws {
        let h = RouterHarness()
        let dead = try await closedPort(group: h.sideGroup)
        try await h.router.setBackends(service: "web", [Backend(address: dead, version: Versions.other, role: .stable, weight: 1)])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        let response = try await client.request()
        #expect(response.status == .badGateway)
        // The first attempt plus two retries.
        #expect(await h.router.metrics(service: "web", version: Versions.other, role: .stable).connectionFailures == 3)
        await client.close()
        await h.tearDown()
    }

    @Test func metricsCountStatusClasses() async throws {
        let h = RouterHarness()
        let backend = try await h.backend("svc")
        try await h.router.setBackends(service: "web", [Backend(address: backend.address, version: Versions.stable, role: .stable, weight: 1)])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        for _ in 0..<7 { #expect(try await client.request(.GET, "/fail").status == .internalServerError) }
        for _ in 0..<13 { #expect(try await client.request().status == .ok) }
        await client.close()
        let metrics = await h.router.metrics(service: "web", version: Versions.stable, role: .stable)
        #expect(metrics.responsesByClass[5] == 7)
        #expect(metrics.responsesByClass[2] == 13)
        #expect(metrics.requests == 20)
        #expect(metrics.errors == 7)
        #expect(metrics.latency.total == 20)
        #expect(await h.router.metrics(service: "web", version: Versions.candidate, role: .candidate) == VersionMetrics())
        await h.tearDown([backend])
    }

    @Test func emptyBackendSetAnswers503() async throws {
        let h = RouterHarness()
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        let response = try await client.request()
        #expect(response.status == .serviceUnavailable)
        #expect(!response.body.isEmpty)
        try await h.router.setBackends(service: "web", [])
        #expect(try await client.request().status == .serviceUnavailable)
        await client.close()
        await h.tearDown()
    }

    @Test func headChunkedHTTP10AndConnectionClose() async throws {
        let h = RouterHarness()
        let backend = try await h.backend("svc")
        try await h.router.setBackends(service: "web", [Backend(address: backend.address, version: Versions.stable, role: .stable, weight: 1)])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        let head = try await client.request(.HEAD, "/")
        #expect(head.status == .ok && head.body.isEmpty)
        #expect(head.headers["content-length"] == ["3"])
        let chunked = try await client.request(.GET, "/chunked")
        #expect(chunked.body == "one-two-svc")
        #expect(chunked.headers["transfer-encoding"] == ["chunked"])
        let echo = try await client.request(.PUT, "/echo", body: "12345")
        #expect(echo.body == "svc PUT 5 127.0.0.1")
        #expect(!client.isClosed)
        await client.close()

        // HTTP/1.0 asking for keep-alive gets it with a known length …
        let old = try await h.client(front)
        let kept = try await old.request(.GET, "/", headers: [("connection", "keep-alive")], version: .http1_0)
        #expect(kept.body == "svc")
        #expect(kept.headers["connection"] == ["keep-alive"])
        // … but a chunked body can only be delimited by closing.
        let delimited = try await old.request(.GET, "/chunked", headers: [("connection", "keep-alive")], version: .http1_0)
        #expect(delimited.body == "one-two-svc")
        #expect(await waitUntil { old.isClosed })

        let closing = try await h.client(front)
        let last = try await closing.request(.GET, "/", headers: [("connection", "close")])
        #expect(last.headers["connection"] == ["close"])
        #expect(await waitUntil { closing.isClosed })
        await h.tearDown([backend])
    }

    @Test func backendsThatDropConnectionsLoseNoIdempotentRequest() async throws {
        let h = RouterHarness()
        let flaky = try await h.backend("flaky", closeAfterEachResponse: true)
        try await h.router.setBackends(service: "web", [Backend(address: flaky.address, version: Versions.stable, role: .stable, weight: 1)])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        for _ in 0..<200 { #expect(try await client.request().status == .ok) }
        await client.close()
        await h.tearDown([flaky])
    }

    @Test func responseTimeoutGives504() async throws {
        var configuration = RouterConfiguration()
        configuration.responseTimeout = .milliseconds(300)
        let h = RouterHarness(configuration: configuration)
        let backend = try await h.backend("svc")
        try await h.router.setBackends(service: "web", [Backend(address: backend.address, version: Versions.stable, role: .stable, weight: 1)])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        let response = try await client.request(.GET, "/hang")
        #expect(response.status == .gatewayTimeout)
        #expect(try await client.request().status == .ok)
        let metrics = await h.router.metrics(service: "web", version: Versions.stable, role: .stable)
        #expect(metrics.connectionFailures == 1 && metrics.responsesByClass[2] == 1)
        await client.close()
        await h.tearDown([backend])
    }

    @Test func shutdownLetsInFlightRequestsFinish() async throws {
        let h = RouterHarness()
        let backend = try await h.backend("svc")
        try await h.router.setBackends(service: "web", [Backend(address: backend.address, version: Versions.stable, role: .stable, weight: 1)])
        let front = try await h.router.addService(name: "web", listen: any0, previewListen: nil)
        let client = try await h.client(front)
        async let slow = client.request(.GET, "/slow")
        #expect(await waitUntil { backend.slowRequests.value >= 1 })
        await h.router.shutdown()
        let response = try await slow
        #expect(response.status == .ok)
        #expect(response.headers["connection"] == ["close"])
        // Beyond the router's drain deadline (5 s), at which it closes whatever is left.
        #expect(await waitUntil(timeout: .seconds(10)) { client.isClosed })
        await h.tearDown([backend])
    }
}
