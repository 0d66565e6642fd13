import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOFoundationEssentialsCompat
import RipcordAPI
import RipcordCore
import RipcordInsights
import RipcordTestSupport
import RipcordWire
import Testing

/// The service and rollout routes over a stand-in for the controller: what reaches it, and how its
/// refusals are answered. The routes know `RolloutOperations`, not the controller.
@Suite(.tags(.unit)) struct RolloutRoutesTests {
    @Test func anUnknownServiceIsA404WithTheControllersCode() async throws {
        let operations = RecordingOperations()
        try await test(operations) { client in
            try await client.execute(uri: "/api/v1/services/ghost", method: .get) { response in
                #expect(response.status == .notFound)
                let envelope = try JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: response.body))
                #expect(envelope.error.code == "unknown_service" && envelope.error.message.contains("ghost"))
            }
        }
    }

    @Test func aDeployOfAnInvalidVersionIsRefusedBeforeItReachesTheController() async throws {
        let operations = RecordingOperations()
        try await test(operations) { client in
            try await client.execute(
                uri: "/api/v1/services/checkout/deploy", method: .post, body: ByteBuffer(string: #"{"version": "2.0"}"#)
            ) { response in
                #expect(response.status == .badRequest)
                let envelope = try JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: response.body))
                #expect(envelope.error.field == "version")
            }
        }
        #expect(await operations.calls.isEmpty)
    }

    @Test func promoteAnswersAcceptedWithTheControllersMessageAndPassesFull() async throws {
        let operations = RecordingOperations()
        try await test(operations) { client in
            try await client.execute(uri: "/api/v1/services/checkout/promote", method: .post, body: ByteBuffer(string: #"{"full": true}"#)) {
                response in
                #expect(response.status == .accepted)
                let accepted = try JSONDecoder().decode(Accepted.self, from: Data(buffer: response.body))
                #expect(accepted.message == "checkout: all traffic to the candidate")
            }
        }
        #expect(await operations.calls == ["promote checkout full=true actor=anonymous"])
    }

    private func test(_ operations: RecordingOperations, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let application = Application(router: RipcordAPI.router(controller: operations, authenticator: nil))
        try await application.test(.router, body)
    }
}

/// Answers `checkout` and refuses every other service, as the controller does; records what it is asked.
private actor RecordingOperations: RolloutOperations {
    var calls: [String] = []

    private func known(_ service: String) throws {
        guard service == "checkout" else { throw Refusal(.notFound, "unknown_service", "no service named '\(service)'") }
    }

    private func unused() -> Refusal { Refusal(.conflict, "not_in_this_test", "not used by these tests") }

    func status(service: String) async throws -> ServiceStatus {
        try known(service)
        return ServiceStatus(
            name: service, listen: "127.0.0.1:1", previewListen: nil, stableRevision: 1, stableVersion: "1.0.0", stableInstances: [],
            candidateVersion: nil, candidateInstances: [], baselineInstances: [], rollout: nil)
    }

    func promote(service: String, full: Bool, actor: String?) async throws -> String {
        try known(service)
        calls.append("promote \(service) full=\(full) actor=\(actor ?? "-")")
        return "\(service): all traffic to the candidate"
    }

    func deploy(
        service: String, version: SemanticVersion, acceptAppOnlyRollback: Bool, force: Bool, configChanged: Bool, actor: String?
    ) async throws -> Rollout {
        calls.append("deploy \(service) \(version)")
        throw unused()
    }

    func statuses() async throws -> [ServiceStatus] { [try await status(service: "checkout")] }
    func history(service: String) async throws -> ServiceHistory { throw unused() }
    func versions(service: String) async throws -> [VersionOutcome] { throw unused() }
    func measurements(service: String) async throws -> RouterMeasurements { throw unused() }
    func rollout(id: Int64) async throws -> Rollout { throw unused() }
    func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) async throws -> [Event] { throw unused() }
    func abort(service: String, reason: String, actor: String?) async throws { throw unused() }
    func hold(service: String, reason: String, actor: String?) async throws { throw unused() }
    func unhold(service: String, actor: String?) async throws { throw unused() }
    func restart(service: String, actor: String?) async throws -> String { throw unused() }
    func retry(service: String, actor: String?) async throws -> Rollout { throw unused() }
    func undo(service: String, toRevision: Int?, note: String?, instant: Bool, force: Bool, actor: String?) async throws -> Rollout { throw unused() }
    func unreject(service: String, version: SemanticVersion, actor: String?) async throws { throw unused() }
    func applyRelease(_ manifest: ReleaseManifest, acceptAppOnlyRollback: Bool, actor: String?) async throws -> Release { throw unused() }
    func releaseDetail(id: Int64) async throws -> ReleaseDetail { throw unused() }
    func releaseHistory(limit: Int) async throws -> [ReleaseSummary] { throw unused() }
    func undoRelease(id: Int64?, actor: String?) async throws -> Release { throw unused() }
    func promoteRelease(id: Int64, actor: String?) async throws { throw unused() }
    func abortRelease(id: Int64, reason: String, actor: String?) async throws { throw unused() }
    func receive(_ alert: Alert, serviceLabel: String, actor: String?) async throws -> AlertOutcome { throw unused() }
    func metricsExposition() async -> String { "" }
    func lastEventID() async throws -> Int64 { throw unused() }
    nonisolated let eventFeed = EventFeed()
    func report(period: TimeSpan, service: String?) async throws -> DeploymentReport { throw unused() }
    func postmortem(rollout: Int64) async throws -> Postmortem { throw unused() }
    func postmortem(release: Int64) async throws -> Postmortem { throw unused() }
    func runbook(service: String) async throws -> Runbook { throw unused() }
    func drill(service: String, fault: InjectedFault?, actor: String?) async throws -> Rollout { throw unused() }
    func drillHistory(service: String?) async throws -> [Event] { throw unused() }
    func scheduleDrill(service: String, every: TimeSpan, fault: InjectedFault?, actor: String?) async throws -> DrillSchedule { throw unused() }
    func unscheduleDrill(service: String, actor: String?) async throws -> Bool { throw unused() }
    func drillSchedules() async -> [DrillSchedule] { [] }
}
