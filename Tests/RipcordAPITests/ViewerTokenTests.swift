import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOFoundationEssentialsCompat
import RipcordAPI
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordInsights
import RipcordStore
import RipcordTestSupport
import RipcordWire
import Testing

/// The viewer token kind: it reads the admin API (every GET under /api/v1 but the token list and the
/// routes stream) and /metrics, and nothing else; whoami tells a token's kind; the web view's files
/// need no token.
@Suite(.tags(.unit)) struct ViewerTokenTests {
    static let viewer = "rpc_viewer_secret"
    static let admin = "rpc_admin_secret"

    func test(_ body: @escaping @Sendable (any TestClientProtocol, ViewerOperations) async throws -> Void) async throws {
        let directory = try temporaryDirectory("viewer-token")
        let flags = FlagService(store: try SQLiteStore(path: "\(directory)/ripcord.sqlite"))
        try await flags.create(FeatureDefinition(name: "new-checkout", enabled: true), environment: "default", actor: "test")
        let now = Date()
        let authenticator = TokenAuthenticator(
            AccessTokens(
                generation: 1,
                records: [
                    AccessTokenRecord(name: "admin", hash: TokenAuthenticator.hash(Self.admin), kind: .admin, environment: nil, createdAt: now),
                    AccessTokenRecord(name: "watcher", hash: TokenAuthenticator.hash(Self.viewer), kind: .viewer, environment: nil, createdAt: now),
                ]))
        let operations = ViewerOperations()
        let application = Application(router: RipcordAPI.router(controller: operations, authenticator: authenticator, flags: flags))
        try await application.test(.router) { client in try await body(client, operations) }
    }

    func status(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String? = viewer) async throws -> (HTTPResponse.Status, String) {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: method == .get ? nil : ByteBuffer(string: "{}")) {
            ($0.status, String(buffer: $0.body))
        }
    }

    @Test func aViewerReadsTheAdminAPIAndMetrics() async throws {
        try await test { client, _ in
            for uri in ["/api/v1/services", "/api/v1/flags?environment=default", "/api/v1/flags/new-checkout", "/metrics", "/api/v1/releases"] {
                let (status, body) = try await status(client, .get, uri)
                #expect(status == .ok, "\(uri): \(body)")
            }
            // Reads the stand-in does not answer reach it: refused by it (409), not by the token's kind.
            for uri in ["/api/v1/report?since=30d", "/api/v1/services/checkout/versions", "/api/v1/rollouts/1"] {
                #expect(try await status(client, .get, uri).0 == .conflict, "\(uri)")
            }
        }
    }

    @Test func aViewerChangesNothingAndListsNoTokens() async throws {
        try await test { client, operations in
            let refused: [(HTTPRequest.Method, String)] = [
                (.post, "/api/v1/services/checkout/abort"), (.post, "/api/v1/services/checkout/deploy"),
                (.post, "/api/v1/services/checkout/promote"), (.post, "/api/v1/flags/new-checkout/disable?environment=default"),
                (.post, "/api/v1/tokens"), (.delete, "/api/v1/tokens/admin"), (.post, "/api/v1/tokens/watcher/rotate"),
                (.get, "/api/v1/tokens"), (.get, "/api/v1//tokens/"), (.get, "/api/v1/routes/watch?router=watcher"),
                (.post, "/api/v1/alerts/alertmanager"), (.put, "/api/v1/flags/new-checkout"), (.delete, "/api/v1/flags/new-checkout"),
                (.post, "/api/v1/services/checkout/drill"), (.post, "/api/v1/reload"),
            ]
            for (method, uri) in refused {
                let (status, body) = try await status(client, method, uri)
                #expect(status == .forbidden, "\(method) \(uri): \(body)")
                #expect(body.contains("\"forbidden\"") && body.contains("viewer"), "\(body)")
            }
            // The SDK endpoints take SDK tokens only.
            #expect(try await status(client, .get, "/api/client/features").0 == .forbidden)
            #expect(try await status(client, .post, "/ofrep/v1/evaluate/flags/new-checkout").0 == .forbidden)
            #expect(await operations.calls.isEmpty, "nothing reached the controller")
            let (_, flag) = try await status(client, .get, "/api/v1/flags/new-checkout")
            #expect(flag.contains("\"enabled\":true"), "the flag is still on: \(flag)")
        }
    }

    @Test func whoamiNamesTheTokenAndItsKind() async throws {
        try await test { client, _ in
            let decoder = JSONDecoder()
            let (viewerStatus, viewer) = try await status(client, .get, "/api/v1/whoami")
            #expect(viewerStatus == .ok)
            #expect(try decoder.decode(WhoAmI.self, from: Data(viewer.utf8)) == WhoAmI(name: "watcher", kind: .viewer))
            let (_, admin) = try await status(client, .get, "/api/v1/whoami", token: Self.admin)
            #expect(try decoder.decode(WhoAmI.self, from: Data(admin.utf8)) == WhoAmI(name: "admin", kind: .admin))
            #expect(try await status(client, .get, "/api/v1/whoami", token: nil).0 == .unauthorized)
            #expect(try await status(client, .get, "/api/v1/whoami", token: "rpc_nope").0 == .unauthorized)
        }
    }

    @Test func withoutTokensWhoamiAnswersAnAnonymousAdmin() async throws {
        let application = Application(router: RipcordAPI.router(controller: ViewerOperations(), authenticator: nil))
        try await application.test(.router) { client in
            let (status, body) = try await status(client, .get, "/api/v1/whoami", token: nil)
            #expect(status == .ok)
            #expect(try JSONDecoder().decode(WhoAmI.self, from: Data(body.utf8)) == WhoAmI(name: "anonymous", kind: .admin))
        }
    }

    @Test func theWebViewsFilesNeedNoTokenAndCarryTheirSecurityHeaders() async throws {
        try await test { client, _ in
            for (uri, type) in [("/ui", "text/html"), ("/ui/", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok, "\(uri)")
                    #expect(response.headers[.contentType]?.hasPrefix(type) == true, "\(uri)")
                    #expect(response.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'self'; connect-src 'self'") == true)
                    #expect(response.headers[.xContentTypeOptions] == "nosniff")
                    #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                }
            }
            try await client.execute(uri: "/ui", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains(#"<script src="/ui/app.js" defer></script>"#))
                #expect(!page.contains("<script>") && !page.contains("style="), "no inline script or style: the policy forbids them")
            }
            // Only those files are open.
            #expect(try await status(client, .get, "/ui/other", token: nil).0 == .unauthorized)
        }
    }
}

/// Answers the service list and the metrics; records and refuses everything else.
actor ViewerOperations: RolloutOperations {
    var calls: [String] = []

    private func unused(_ call: String) -> Refusal {
        calls.append(call)
        return Refusal(.conflict, "not_in_this_test", "not used by these tests")
    }

    func statuses() async throws -> [ServiceStatus] { [] }
    func metricsExposition() async -> String { "" }
    func releaseHistory(limit: Int) async throws -> [ReleaseSummary] { [] }
    nonisolated let eventFeed = EventFeed()

    func status(service: String) async throws -> ServiceStatus { throw unused("status") }
    func promote(service: String, full: Bool, actor: String?) async throws -> String { throw unused("promote") }
    func deploy(
        service: String, version: SemanticVersion, acceptAppOnlyRollback: Bool, force: Bool, configChanged: Bool, actor: String?
    ) async throws -> Rollout { throw unused("deploy") }
    func history(service: String) async throws -> ServiceHistory { throw unused("history") }
    func versions(service: String) async throws -> [VersionOutcome] { throw unused("versions") }
    func measurements(service: String) async throws -> RouterMeasurements { throw unused("measurements") }
    func rollout(id: Int64) async throws -> Rollout { throw unused("rollout") }
    func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) async throws -> [Event] { throw unused("events") }
    func abort(service: String, reason: String, actor: String?) async throws { throw unused("abort") }
    func hold(service: String, reason: String, actor: String?) async throws { throw unused("hold") }
    func unhold(service: String, actor: String?) async throws { throw unused("unhold") }
    func restart(service: String, actor: String?) async throws -> String { throw unused("restart") }
    func retry(service: String, actor: String?) async throws -> Rollout { throw unused("retry") }
    func undo(service: String, toRevision: Int?, note: String?, instant: Bool, force: Bool, actor: String?) async throws -> Rollout { throw unused("undo") }
    func unreject(service: String, version: SemanticVersion, actor: String?) async throws { throw unused("unreject") }
    func applyRelease(_ manifest: ReleaseManifest, acceptAppOnlyRollback: Bool, actor: String?) async throws -> Release { throw unused("applyRelease") }
    func releaseDetail(id: Int64) async throws -> ReleaseDetail { throw unused("releaseDetail") }
    func undoRelease(id: Int64?, actor: String?) async throws -> Release { throw unused("undoRelease") }
    func promoteRelease(id: Int64, actor: String?) async throws { throw unused("promoteRelease") }
    func abortRelease(id: Int64, reason: String, actor: String?) async throws { throw unused("abortRelease") }
    func receive(_ alert: Alert, serviceLabel: String, actor: String?) async throws -> AlertOutcome { throw unused("receive") }
    func lastEventID() async throws -> Int64 { throw unused("lastEventID") }
    func report(period: TimeSpan, service: String?) async throws -> DeploymentReport { throw unused("report") }
    func postmortem(rollout: Int64) async throws -> Postmortem { throw unused("postmortem") }
    func postmortem(release: Int64) async throws -> Postmortem { throw unused("postmortem") }
    func runbook(service: String) async throws -> Runbook { throw unused("runbook") }
    func drill(service: String, fault: InjectedFault?, actor: String?) async throws -> Rollout { throw unused("drill") }
    func drillHistory(service: String?) async throws -> [Event] { throw unused("drillHistory") }
    func scheduleDrill(service: String, every: TimeSpan, fault: InjectedFault?, actor: String?) async throws -> DrillSchedule { throw unused("drillHistory") }
    func unscheduleDrill(service: String, actor: String?) async throws -> Bool { throw unused("drillHistory") }
    func drillSchedules() async -> [DrillSchedule] { [] }
}
