import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import RipcordCore
import RipcordTestSupport
import Testing
@testable import RipcordRouter

/// What a careless or hostile client sends, over real sockets to a real router: the router answers
/// (or closes) as RFC 9112 says and as its limits promise, and passes nothing doubtful on.
@Suite(.tags(.integration)) struct FrontDoorHardeningTests {
    private func router(_ configure: (inout RouterConfiguration) -> Void = { _ in }) -> RouterHarness {
        var configuration = RouterConfiguration()
        configure(&configuration)
        return RouterHarness(configuration: configuration)
    }

    private func serve(_ h: RouterHarness, _ address: HostPort) async throws -> HostPort {
        try await h.router.setBackends(service: "web", [Backend(address: address, version: Versions.stable, role: .stable, weight: 1)])
        return try await h.router.addService(name: "web", listen: HostPort(host: "127.0.0.1", port: 0), previewListen: nil)
    }

    @Test(arguments: ["X-A: a\nTransfer-Encoding: chunked", "X-A: a\0b", "X-A: a\rTransfer-Encoding: chunked", "X-A\n: b"])
    func headerInjectionIsRefusedAndNeverReachesTheBackend(_ header: String) async throws {
        let h = router()
        let backend = try await RecordingBackend(group: h.sideGroup)
        let front = try await serve(h, backend.address)
        let hostile = try RawConnection(front)
        hostile.send("POST / HTTP/1.1\r\nHost: x\r\n\(header)\r\nContent-Length: 5\r\n\r\n0\r\n\r\n")
        let answer = await hostile.receive(within: 5)
        #expect(answer.text.hasPrefix("HTTP/1.1 400 Bad Request") && answer.closed)
        #expect(backend.received.isEmpty, "the backend got: \(backend.received.debugDescription)")
        // The recorder does record: a clean request reaches it.
        let clean = try RawConnection(front)
        clean.send("GET /clean HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(await clean.receive(within: 5).text.contains("200 OK"))
        #expect(backend.received.hasPrefix("GET /clean HTTP/1.1\r\nHost: x\r\n"))
        await backend.stop()
        await h.tearDown()
    }

    @Test func contentLengthBesideChunkedIsFramedByTheChunksAndTheConnectionCloses() async throws {
        let h = router()
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let client = try RawConnection(front)
        client.send(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                + "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = await client.receive(within: 5)
        #expect(answer.text.contains("svc POST 3 127.0.0.1"))
        #expect(answer.text.contains("connection: close") && answer.closed)
        #expect(!answer.text.contains("svc GET"), "nothing after a doubtfully framed request is served")
        await h.tearDown([backend])
    }

    @Test func otherTransferCodingsGet501AndMissingHost400() async throws {
        let h = router()
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let gzip = try RawConnection(front)
        gzip.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
        #expect(await gzip.receive(within: 5).text.hasPrefix("HTTP/1.1 501 Not Implemented"))
        let hostless = try RawConnection(front)
        hostless.send("GET / HTTP/1.1\r\n\r\n")
        #expect(await hostless.receive(within: 5).text.hasPrefix("HTTP/1.1 400"))
        let big = try RawConnection(front)
        big.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 70_000))\r\n\r\n")
        #expect(await big.receive(within: 5).text.hasPrefix("HTTP/1.1 431"))
        await h.tearDown([backend])
    }

    @Test func aValidRequestFollowedByGarbageIsAnsweredThenRefused() async throws {
        let h = router()
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let client = try RawConnection(front)
        client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE \0\r\n\r\n")
        let answer = await client.receive(within: 5)
        let ok = try #require(answer.text.range(of: "HTTP/1.1 200 OK"))
        let refused = try #require(answer.text.range(of: "HTTP/1.1 400 Bad Request"))
        #expect(ok.upperBound <= refused.lowerBound && answer.text.contains("\r\n\r\nsvc") && answer.closed)
        await h.tearDown([backend])
    }

    @Test func slowlorisIsClosedAtTheHeaderTimeoutWhileOthersAreServed() async throws {
        let h = router { $0.headerTimeout = .milliseconds(500) }
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let slow = try RawConnection(front)
        slow.send("GET / HTTP/1.1\r\n")
        let started = ContinuousClock.now
        let answer = Task { await slow.receive(within: 10) }
        let client = try await h.client(front)
        for index in 0..<5 {
            slow.send("X-Drip-\(index): 1\r\n")  // a byte now and then never resets the head's clock
            #expect(try await client.request().status == .ok)
            try await Task.sleep(for: .milliseconds(80))
        }
        let result = await answer.value
        let elapsed = ContinuousClock.now - started
        #expect(result.text.hasPrefix("HTTP/1.1 408 Request Timeout") && result.closed)
        // Well before the 60 s default and the 10 s wait above; the five requests meanwhile can take seconds on a loaded machine.
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(9), "closed after \(elapsed)")
        await client.close()
        await h.tearDown([backend])
    }

    @Test func idleKeepAliveConnectionsAndStalledBodiesAreClosed() async throws {
        // Long enough that a loaded CI machine sends the first request before the idle timer fires.
        let h = router {
            $0.clientIdleTimeout = .seconds(1)
            $0.bodyTimeout = .seconds(1)
        }
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let client = try await h.client(front)
        let sent = ContinuousClock.now
        #expect(try await client.request().status == .ok)
        #expect(await waitUntil(timeout: .seconds(8)) { client.isClosed })
        #expect(ContinuousClock.now - sent >= .seconds(1), "closed no sooner than the idle timeout after the response")

        let stalled = try RawConnection(front)
        stalled.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        let answer = await stalled.receive(within: 5)
        #expect(answer.text.hasPrefix("HTTP/1.1 408") && answer.closed)

        let streaming = try RawConnection(front)  // a body too long to hold, stalled mid-way
        streaming.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + String(repeating: "z", count: 70_000))
        let cut = await streaming.receive(within: 5)
        #expect(cut.closed && (cut.text.isEmpty || cut.text.hasPrefix("HTTP/1.1 408")))
        await h.tearDown([backend])
    }

    /// Latency as clients see it: to the response's last byte, so a slow body is as slow as a slow head.
    @Test func latencyIsMeasuredToTheLastByteOfTheResponse() async throws {
        let h = router()
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let client = try await h.client(front)
        let response = try await client.request(.GET, "/slow-body")
        #expect(response.status == .ok && response.body == "svc")
        await client.close()
        let metrics = await h.router.metrics(service: "web", version: Versions.stable, role: .stable)
        let median = try #require(metrics.latency.quantileMilliseconds(0.5))
        #expect(metrics.requests == 1 && median >= 150, "recorded \(median) ms for a body sent 200 ms after its head")
        await h.tearDown([backend])
    }

    @Test func longBodiesStreamToTheBackendWhole() async throws {
        let h = router()
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let client = try await h.client(front)
        let body = String(repeating: "0123456789abcdef", count: 512 * 1024)  // 8 MiB
        let echo = try await client.request(.PUT, "/echo", body: body)
        #expect(echo.body == "svc PUT \(body.utf8.count) 127.0.0.1")
        #expect(try await client.request().status == .ok, "the connection carries on after a streamed body")
        await client.close()
        await h.tearDown([backend])
    }

    @Test func beyondMaxConnectionsANewConnectionGets503UntilOneCloses() async throws {
        let h = router { $0.maxConnections = 2 }
        let backend = try await h.backend("svc")
        let front = try await serve(h, backend.address)
        let first = try await h.client(front)
        let second = try await h.client(front)
        #expect(try await first.request().status == .ok)
        #expect(try await second.request().status == .ok)
        let third = try RawConnection(front)
        let refused = await third.receive(within: 5)
        #expect(refused.text.hasPrefix("HTTP/1.1 503 Service Unavailable") && refused.closed)
        await first.close()
        #expect(
            await waitUntil {
                guard let again = try? await h.client(front) else { return false }
                defer { Task { await again.close() } }
                return (try? await again.request().status) == .ok
            })
        await second.close()
        await h.tearDown([backend])
    }

    @Test func theSocketBudgetKeepsRoomForEachClientsUpstream() {
        let budget = SocketBudget(limit: 3)
        #expect(budget.acquireClient() && budget.acquireUpstream())
        #expect(!budget.acquireClient(), "a second client would leave no room for its upstream")
        #expect(budget.acquireUpstream() && !budget.acquireUpstream())
        budget.release()
        #expect(budget.inUse == 2)
    }
}
