import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RipcordDrivers
import RipcordFlagService
import RipcordFlags
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

/// Unleash's frontend API (`/api/frontend`, alias `/api/proxy`) and the CORS rules of the endpoints
/// browsers call, over real sockets.
@Suite(.serialized, .tags(.integration)) struct FrontendAPITests {
    static let flags = #"""
        {"features":[
          {"name":"beta","enabled":true,"impressionData":true,"strategies":[{"name":"userWithId","parameters":{"userIds":"ann"}}]},
          {"name":"pro-only","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"plan","operator":"IN","values":["pro"]}]}]},
          {"name":"colour","enabled":true,"strategies":[],"variants":[{"name":"blue","weight":1000,"stickiness":"default","payload":{"type":"string","value":"#00f"}}]},
          {"name":"off","enabled":false,"strategies":[]},
          {"name":"paused","enabled":true,"strategies":[{"name":"default","disabled":true}]}
        ]}
        """#

    static func toggles(_ body: ByteBuffer) -> [String: [String: Any]] {
        let list = json(body)["toggles"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: list.compactMap { toggle in (toggle["name"] as? String).map { ($0, toggle) } })
    }

    @Test func frontendAPIListsTheFlagsOnForTheContextInTheQuery() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            #expect(try await api.call(.post, "/api/v1/flags/import", body: Self.flags).status == .ok)
            let frontend = try await api.token("frontend", environment: "default")
            func get(_ uri: String, token: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
                try await api.call(.get, uri, token: token ?? frontend, bearer: false, headers: headers)
            }
            let ann = try await get("/api/frontend?appName=shop&userId=ann&properties%5Bplan%5D=pro")
            #expect(ann.status == .ok && ann.headers[.contentType] == "application/json")
            let seen = Self.toggles(ann.body)
            #expect(Set(seen.keys) == ["beta", "pro-only", "colour"], "only flags that are on are listed")
            #expect(seen["beta"]?["enabled"] as? Bool == true && seen["beta"]?["impressionData"] as? Bool == true)
            let variant = seen["colour"]?["variant"] as? [String: Any]
            #expect(variant?["name"] as? String == "blue" && variant?["enabled"] as? Bool == true)
            #expect((variant?["payload"] as? [String: Any])?["value"] as? String == "#00f")
            #expect((seen["beta"]?["variant"] as? [String: Any])?["name"] as? String == "disabled")

            // Any other parameter is a property; /api/proxy is the same API.
            let bob = try await get("/api/proxy?userId=bob&plan=free")
            #expect(Set(Self.toggles(bob.body).keys) == ["colour"])
            #expect(Set(Self.toggles(try await get("/api/proxy?plan=pro").body).keys) == ["pro-only", "colour"])
            // The context in a POST body, as newer SDKs send it.
            let posted = try await api.call(
                .post, "/api/frontend", token: frontend, bearer: false,
                body: #"{"context":{"userId":"ann","properties":{"plan":"free"}}}"#)
            #expect(Set(Self.toggles(posted.body).keys) == ["beta", "colour"])

            let etag = try #require(ann.headers[.eTag])
            #expect(try await get("/api/frontend?appName=shop&userId=ann&properties%5Bplan%5D=pro", headers: [.ifNoneMatch: etag]).status == .notModified)
            #expect(try await get("/api/frontend?userId=bob", headers: [.ifNoneMatch: etag]).status == .ok, "another context, another answer")

            // An unreadable currentTime fails date rules only, as in Unleash's engine: the rest still evaluates.
            let badTime = try await get("/api/frontend?currentTime=yesterday&userId=ann")
            #expect(badTime.status == .ok && Set(Self.toggles(badTime.body).keys) == ["beta", "colour"])
            let noToken = try await api.call(.get, "/api/frontend", bearer: false)
            #expect(noToken.status == .unauthorized)
            #expect(try await get("/api/frontend", token: api.admin).status == .forbidden, "the admin token is not handed to browsers")

            // A browser SDK's metrics are counted like a server SDK's.
            let metrics =
                #"{"appName":"shop","instanceId":"browser","bucket":{"start":"2026-01-01T00:00:00Z","stop":"2026-01-01T00:01:00Z","toggles":{"beta":{"yes":3,"no":1,"variants":{}}}}}"#
            #expect(try await api.call(.post, "/api/frontend/client/metrics", token: frontend, bearer: false, body: metrics).status == .accepted)
            let stored = try await api.server.store.exposures(environment: "default")
            #expect(stored.contains { $0.flag == "beta" && $0.yes == 3 && $0.no == 1 })
        }
    }

    static let page = "http://127.0.0.1:5173"

    @Test func corsAnswersPreflightsAndHeadersOnlyForAllowedOrigins() async throws {
        try await FlagAPITests.withFlags(.live, corsAllowedOrigins: [Self.page]) { api in
            #expect(try await api.call(.post, "/api/v1/flags/import", body: Self.flags).status == .ok)
            let frontend = try await api.token("frontend", environment: "default")
            for path in ["/api/frontend", "/api/proxy", "/ofrep/v1/evaluate/flags/beta", "/ofrep/v1/evaluate/flags"] {
                let preflight = try await api.client.execute(
                    uri: path, method: .options,
                    headers: [
                        .origin: Self.page, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization,content-type,unleash-appname",
                    ])
                #expect(preflight.status == .noContent, "\(path)")
                #expect(preflight.headers[.accessControlAllowOrigin] == Self.page, "\(path)")
                #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true, "\(path)")
                #expect(preflight.headers[.accessControlAllowHeaders] == "authorization,content-type,unleash-appname", "\(path)")
                #expect(preflight.headers[.accessControlMaxAge] == "3600", "\(path)")

                let stranger = try await api.client.execute(
                    uri: path, method: .options,
                    headers: [
                        .origin: "https://evil.example", .accessControlRequestMethod: "POST",
                    ])
                #expect(stranger.status == .forbidden && stranger.headers[.accessControlAllowOrigin] == nil, "\(path)")
            }
            let allowed = try await api.call(.get, "/api/frontend?userId=ann", token: frontend, bearer: false, headers: [.origin: Self.page])
            #expect(allowed.status == .ok && allowed.headers[.accessControlAllowOrigin] == Self.page)
            #expect(allowed.headers[.accessControlExposeHeaders] == "ETag")
            // OFREP from a browser: the answer carries the header too (the fast path leaves it to the routes).
            let ofrep = try await api.call(
                .post, "/ofrep/v1/evaluate/flags/beta", token: frontend, bearer: false,
                body: #"{"context":{"targetingKey":"ann"}}"#, headers: [.origin: Self.page])
            #expect(ofrep.status == .ok && ofrep.headers[.accessControlAllowOrigin] == Self.page)
            #expect(json(ofrep.body)["value"] as? Bool == true)
            // Errors are readable by the allowed page; other origins get no CORS header at all.
            let refused = try await api.call(.get, "/api/frontend", token: "rpc_nope", bearer: false, headers: [.origin: Self.page])
            #expect(refused.status == .unauthorized && refused.headers[.accessControlAllowOrigin] == Self.page)
            let other = try await api.call(.get, "/api/frontend", token: frontend, bearer: false, headers: [.origin: "https://evil.example"])
            #expect(other.headers[.accessControlAllowOrigin] == nil)
            // The admin API is never opened to pages.
            let admin = try await api.call(.get, "/api/v1/flags", headers: [.origin: Self.page])
            #expect(admin.status == .ok && admin.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test func withoutAllowedOriginsNoCrossOriginAccessIsGranted() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            let frontend = try await api.token("frontend", environment: "default")
            let answer = try await api.call(.get, "/api/frontend", token: frontend, bearer: false, headers: [.origin: Self.page])
            #expect(answer.status == .ok && answer.headers[.accessControlAllowOrigin] == nil)
        }
    }
}

/// A real browser (headless Chromium) on a page served from another origin reads flags through the
/// frontend API and OFREP from a real `ripcord serve`, and a page from an origin not allowed cannot.
/// scripts/test.sh installs chromium.
@Suite(.serialized, .tags(.integration)) struct BrowserFlagTests {
    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser").path

    /// A static file server for the page on its own port (its own origin).
    static func pageServer(_ directory: String, port: Int) async throws -> ChildProcess {
        let server = try ChildProcess(
            try SystemProgram.require("python3", package: "python3"), ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", page],
            outputPath: "\(directory)/page-\(port).log")
        try await eventually("the page server to answer", within: 15) {
            (try? await get("http://127.0.0.1:\(port)/flags.html").0) == 200
        }
        return server
    }

    /// What the page wrote into #result after chromium ran it.
    static func browse(_ url: String, directory: String) async throws -> [String: Any] {
        let log = "\(directory)/chromium-\(UUID().uuidString.prefix(6)).log"
        let chromium = try ChildProcess(
            try SystemProgram.require("chromium", package: "chromium"),
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--user-data-dir=\(directory)/chromium-profile", "--virtual-time-budget=10000",
                "--dump-dom", url,
            ], outputPath: log)
        #expect(try await chromium.wait(within: 60) == 0, "\(chromium.output.suffix(2000))")
        let output = chromium.output
        guard let start = output.range(of: "<pre id=\"result\">"), let end = output.range(of: "</pre>", range: start.upperBound..<output.endIndex) else {
            Issue.record("no result in the page: \(output.suffix(2000))")
            return [:]
        }
        let text = String(output[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? ["unparsed": text]
    }

    @Test func aPageOnAnAllowedOriginReadsFlagsAndOthersAreRefused() async throws {
        _ = try SystemProgram.require("chromium", package: "chromium")
        let directory = try temporaryDirectory("browser-flags")
        // Each port is taken before the next is picked, so the three origins are sure to differ.
        let allowedPort = try FreePort.allocate()
        let allowed = try await Self.pageServer(directory, port: allowedPort)
        defer { allowed.signal(SIGTERM) }
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try ServeProcessTests.sampleConfig(apiPort: apiPort).replacingOccurrences(
            of: "api: { listen: 127.0.0.1:\(apiPort) }",
            with: "api: { listen: 127.0.0.1:\(apiPort), cors: { allowedOrigins: [\"http://127.0.0.1:\(allowedPort)\"] } }"
        )
        .write(toFile: config, atomically: true, encoding: .utf8)
        let serve = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log")
        defer { serve.signal(SIGTERM) }
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        #expect(try await api.call("POST", "/api/v1/flags/import", body: FrontendAPITests.flags).0 == 200)
        let (status, created) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"web","kind":"frontend","environment":"default"}"#)
        #expect(status == 201)
        let token = try #require(created["token"] as? String)
        let otherPort = try FreePort.allocate()
        let other = try await Self.pageServer(directory, port: otherPort)
        defer { other.signal(SIGTERM) }
        #expect(Set([allowedPort, apiPort, otherPort]).count == 3)

        let query = "flags.html?api=http://127.0.0.1:\(apiPort)&token=\(token)"
        let seen = try await Self.browse("http://127.0.0.1:\(allowedPort)/\(query)", directory: directory)
        let frontend = seen["frontend"] as? [String: Any]
        #expect(frontend?["status"] as? Int == 200, "\(seen)")
        #expect(frontend?["etag"] is String, "the page may read the ETag")
        let names = ((frontend?["body"] as? [String: Any])?["toggles"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(Set(names) == ["beta", "pro-only", "colour"], "\(seen)")
        let ofrep = seen["ofrep"] as? [String: Any]
        #expect(ofrep?["status"] as? Int == 200 && (ofrep?["body"] as? [String: Any])?["value"] as? Bool == true, "\(seen)")

        let refused = try await Self.browse("http://127.0.0.1:\(otherPort)/\(query)", directory: directory)
        #expect((refused["frontend"] as? [String: Any])?["error"] is String, "the browser keeps the answer from another origin: \(refused)")
        #expect((refused["ofrep"] as? [String: Any])?["error"] is String, "\(refused)")
        #expect(!(try String(contentsOfFile: "\(directory)/serve.log", encoding: .utf8)).contains(token), "tokens are never logged")
    }
}
