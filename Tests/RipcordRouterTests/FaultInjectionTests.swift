import Foundation
import NIOCore
import NIOHTTP1
@testable import RipcordRouter
import RipcordCore
import RipcordTestSupport
import Testing

/// A drill's fault, applied by the router to the candidate's requests only, over real sockets, and
/// counted in the candidate's measurements as the judges will read them.
@Suite(.serialized, .tags(.integration)) struct FaultInjectionTests {
    func routes(_ h: RouterHarness, stable: HostPort, candidate: HostPort, fault: InjectedFault) async throws -> HostPort {
        try await h.router.setBackends(
            service: "web",
            [
                Backend(address: stable, version: Versions.stable, role: .stable, weight: 1),
                Backend(address: candidate, version: Versions.candidate, role: .candidate, weight: 0, fault: fault),
            ])
        return try await h.router.addService(name: "web", listen: any0, previewListen: nil)
    }

    static let toCandidate = [("x-ripcord-route", "candidate")]

    @Test func errorsAnswer503ForTheCandidateOnlyAndCountAsItsErrors() async throws {
        let h = RouterHarness()
        let stable = try await h.backend("stable")
        let candidate = try await h.backend("candidate")
        let front = try await routes(h, stable: stable.address, candidate: candidate.address, fault: .errors(percent: 100))
        let client = try await h.client(front)
        for _ in 0..<5 { #expect(try await client.request(headers: Self.toCandidate).status == .serviceUnavailable) }
        for _ in 0..<5 { #expect(try await client.request().status == .ok, "the stable version is untouched") }
        await client.close()
        let measured = await h.router.metrics(service: "web", version: Versions.candidate, role: .candidate)
        #expect(measured.responsesByClass[5] == 5 && measured.errors == 5)
        #expect(await h.router.metrics(service: "web", version: Versions.stable, role: .stable).errors == 0)
        await h.tearDown([stable, candidate])
    }

    @Test func aShareOfErrorsIsAboutThatShare() {
        let answered = (0..<100).map { FaultInjection.decide(.errors(percent: 30), roll: $0) }
        #expect(answered.filter { $0 == .answerError }.count == 30)
        #expect((0..<100).filter { FaultInjection.decide(.abort(percent: 100), roll: $0) == .cutOff }.count == 100)
        #expect(FaultInjection.decide(.crash) == .none, "a crash is the controller's, not the router's")
    }

    @Test func latencyHoldsTheRequestAndCountsInItsMeasuredLatency() async throws {
        let h = RouterHarness()
        let stable = try await h.backend("stable")
        let candidate = try await h.backend("candidate")
        let front = try await routes(h, stable: stable.address, candidate: candidate.address, fault: .latency(milliseconds: 250))
        let client = try await h.client(front)
        let started = ContinuousClock.now
        #expect(try await client.request(headers: Self.toCandidate).status == .ok)
        #expect(ContinuousClock.now - started >= .milliseconds(250))
        await client.close()
        let latency = await h.router.metrics(service: "web", version: Versions.candidate, role: .candidate).latency
        #expect(latency.total == 1 && latency.count(atMost: 240_000) == 0, "measured from when the request was held")
        await h.tearDown([stable, candidate])
    }

    @Test func abortCutsTheConnectionAndCountsAConnectionFailure() async throws {
        let h = RouterHarness()
        let stable = try await h.backend("stable")
        let candidate = try await h.backend("candidate")
        let front = try await routes(h, stable: stable.address, candidate: candidate.address, fault: .abort(percent: 100))
        let raw = try RawConnection(front)
        raw.send("GET / HTTP/1.1\r\nHost: t\r\nx-ripcord-route: candidate\r\n\r\n")
        let answer = await raw.receive(within: 10)
        #expect(answer.closed && answer.text.isEmpty, "no answer, the connection closes: \(answer)")
        #expect(await h.router.metrics(service: "web", version: Versions.candidate, role: .candidate).connectionFailures == 1)
        await h.tearDown([stable, candidate])
    }

    @Test func faultsParseAsTheCommandLineWritesThem() throws {
        #expect(try InjectedFault(parsing: "errors=50%") == .errors(percent: 50))
        #expect(try InjectedFault(parsing: "latency=+300ms") == .latency(milliseconds: 300))
        #expect(try InjectedFault(parsing: "abort") == .abort(percent: 100))
        #expect(try InjectedFault(parsing: "crash") == .crash)
        for bad in ["errors=0%", "errors=150%", "errors=50", "latency=+0ms", "latency=+2m", "explode", "crash=1%", ""] {
            #expect(throws: InjectedFault.ParseError.self, "\(bad)") { try InjectedFault(parsing: bad) }
        }
        let json = try JSONEncoder().encode(
            Backend(address: HostPort(host: "127.0.0.1", port: 1), version: Versions.candidate, role: .candidate, weight: 1, fault: .latency(milliseconds: 300)))
        #expect(String(decoding: json, as: UTF8.self).contains(#""fault":"latency=+300ms""#))
    }
}
