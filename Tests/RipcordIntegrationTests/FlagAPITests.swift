import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import RipcordAPI
import RipcordConfig
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

/// The flag admin API, tokens, the Unleash client API and OFREP through the real router, with a real SQLite file.
@Suite(.serialized, .tags(.integration)) struct FlagAPITests {
    struct Context {
        let client: any TestClientProtocol
        let admin: String
        let server: RipcordServer

        func call(
            _ method: HTTPRequest.Method, _ uri: String, token: String? = nil, bearer: Bool = true, body: String? = nil,
            headers: HTTPFields = [:]
        ) async throws -> TestResponse {
            var fields = headers
            if let token = token ?? (bearer ? admin : nil) { fields[.authorization] = bearer ? "Bearer \(token)" : token }
            return try await client.execute(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
        }

        /// Creates a token through the API and returns its secret.
        func token(_ kind: String, environment: String? = nil) async throws -> String {
            let env = environment.map { #","environment":"\#($0)""# } ?? ""
            let response = try await call(.post, "/api/v1/tokens", body: #"{"name":"\#(kind)-test","kind":"\#(kind)"\#(env)}"#)
            #expect(response.status == .created)
            return try #require(json(response.body)["token"] as? String)
        }
    }

    static func withFlags(
        _ mode: TestingSetup = .router, corsAllowedOrigins: [String] = [],
        _ body: @escaping @Sendable (Context) async throws -> Void
    ) async throws {
        let directory = try temporaryDirectory("flags-api")
        let path = "\(directory)/ripcord.yaml"
        try checkoutConfig(directory: directory, strategy: "canary:\n  steps:\n    - setWeight: 10", instances: 1)
            .write(toFile: path, atomically: true, encoding: .utf8)
        var config = try ConfigLoader.load(file: path)
        config.corsAllowedOrigins = corsAllowedOrigins
        let server = try await RipcordServer(config: config)
        let admin = try String(contentsOfFile: server.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        // The server's own application: live tests go through the OFREP fast path as `ripcord serve` does.
        let app = server.application()
        do {
            try await app.test(mode) { client in try await body(Context(client: client, admin: admin, server: server)) }
        } catch {
            await server.shutdown(keepInstances: false)
            throw error
        }
        await server.shutdown(keepInstances: false)
    }

    static let checkoutFlag =
        #"{"name":"new-checkout","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"100","stickiness":"default","groupId":"new-checkout"}}]}"#

    @Test func flagLifecycleIsRecordedAndRevertible() async throws {
        try await Self.withFlags { api in
            #expect(try await api.call(.post, "/api/v1/flags?environment=production", body: Self.checkoutFlag).status == .created)
            #expect(try await api.call(.post, "/api/v1/flags?environment=production", body: Self.checkoutFlag).status == .conflict)
            #expect(try await api.call(.get, "/api/v1/flags/new-checkout").status == .notFound, "environments are separate")
            let disabled = try await api.call(.post, "/api/v1/flags/new-checkout/disable?environment=production")
            #expect(json(disabled.body)["enabled"] as? Bool == false)
            let rollout = try await api.call(.post, "/api/v1/flags/new-checkout/rollout?environment=production", body: #"{"percentage":25}"#)
            let strategies = json(rollout.body)["strategies"] as? [[String: Any]] ?? []
            #expect(strategies.count == 1 && (strategies[0]["parameters"] as? [String: String])?["rollout"] == "25")

            let history = try await api.call(.get, "/api/v1/flags/new-checkout/history?environment=production")
            let changes = try #require(try JSONSerialization.jsonObject(with: Data(history.body.readableBytesView)) as? [[String: Any]])
            #expect(changes.count == 3)
            #expect(changes.allSatisfy { $0["actor"] as? String == "admin" && $0["at"] is String })
            #expect(changes[0]["before"] == nil && (changes[0]["after"] as? [String: Any])?["enabled"] as? Bool == true)
            #expect((changes[1]["before"] as? [String: Any])?["enabled"] as? Bool == true)
            #expect((changes[1]["after"] as? [String: Any])?["enabled"] as? Bool == false)

            let firstID = try #require(changes[0]["id"] as? Int)
            let reverted = try await api.call(.post, "/api/v1/flags/new-checkout/revert?environment=production", body: #"{"toChange":\#(firstID)}"#)
            #expect(reverted.status == .ok)
            let restored = try await api.call(.get, "/api/v1/flags/new-checkout?environment=production")
            #expect(
                try JSONDecoder().decode(FeatureDefinition.self, from: Data(restored.body.readableBytesView))
                    == JSONDecoder().decode(FeatureDefinition.self, from: Data(Self.checkoutFlag.utf8)))
            let after = try await api.call(.get, "/api/v1/flags/new-checkout/history?environment=production")
            #expect((try JSONSerialization.jsonObject(with: Data(after.body.readableBytesView)) as? [Any])?.count == 4, "a revert is a change too")
        }
    }

    @Test func rejectedRequestsChangeNothing() async throws {
        try await Self.withFlags { api in
            #expect(try await api.call(.post, "/api/v1/flags", body: Self.checkoutFlag).status == .created)
            let before = try await api.server.flags.snapshot(environment: "default")
            for (uri, body, code) in [
                ("/api/v1/flags/new-checkout/rollout", #"{"percentage":120}"#, "invalid_percentage"),
                ("/api/v1/flags/new-checkout/rollout", #"{"percent":"x"}"#, "invalid_request"),
                ("/api/v1/flags/new-checkout/revert", #"{"toChange":999}"#, "change_not_found"),
                ("/api/v1/flags/missing/enable", "", "flag_not_found"),
                ("/api/v1/flags?environment=bad%20env", Self.checkoutFlag, "invalid_environment"),
                ("/api/v1/flags/import", #"{"features":[{"name":"a","enabled":true},{"name":"a","enabled":false}]}"#, "duplicate_flag"),
                ("/api/v1/flags", #"{"name":"x/y","enabled":true}"#, "invalid_flag_name"),
            ] {
                let response = try await api.call(.post, uri, body: body.isEmpty ? nil : body)
                #expect((400..<500).contains(Int(response.status.code)), "\(uri)")
                #expect(APITests.errorCode(response.body) == code, "\(uri): \(String(buffer: response.body))")
                #expect(response.headers[.contentType] == "application/json")
            }
            let after = try await api.server.flags.snapshot(environment: "default")
            #expect(after.revision == before.revision && after.state == before.state)
            #expect(try await api.server.store.flagChanges(environment: "default", target: nil).count == 1)
        }
    }

    @Test func tokenKindsLimitWhatACallerMayDo() async throws {
        try await Self.withFlags { api in
            #expect(try await api.call(.post, "/api/v1/flags?environment=production", body: Self.checkoutFlag).status == .created)
            let client = try await api.token("client", environment: "production")
            let frontend = try await api.token("frontend", environment: "production")
            let stored = try await api.server.store.accessTokens().records.filter { $0.kind != .admin }
            #expect(stored.map(\.hash).sorted() == [TokenAuthenticator.hash(client), TokenAuthenticator.hash(frontend)].sorted(), "only hashes are stored")

            // A client token reads its environment's flags (as is, no Bearer) and changes nothing.
            let features = try await api.call(.get, "/api/client/features", token: client, bearer: false)
            #expect(features.status == .ok)
            #expect((json(features.body)["features"] as? [[String: Any]])?.first?["name"] as? String == "new-checkout")
            for (method, uri) in [
                (HTTPRequest.Method.post, "/api/v1/flags/new-checkout/disable?environment=production"),
                (.get, "/api/v1/flags?environment=production"), (.post, "/api/v1/tokens"),
            ] {
                #expect(try await api.call(method, uri, token: client).status == .forbidden, "\(uri)")
            }
            #expect(try await api.server.flags.snapshot(environment: "production").state.features[0].enabled)

            // A frontend token only evaluates.
            #expect(try await api.call(.get, "/api/client/features", token: frontend, bearer: false).status == .forbidden)
            #expect(try await api.call(.post, "/ofrep/v1/evaluate/flags/new-checkout", token: frontend, bearer: false, body: "{}").status == .ok)
            // The admin token is not an SDK token, and unknown tokens get nothing.
            #expect(try await api.call(.get, "/api/client/features", token: api.admin, bearer: false).status == .forbidden)
            #expect(try await api.call(.get, "/api/client/features", token: "rpc_nope", bearer: false).status == .unauthorized)
            #expect(try await api.call(.get, "/api/client/features", bearer: false).status == .unauthorized)
        }
    }

    @Test func clientFeaturesHonourETagsAndMetricsAreStored() async throws {
        try await Self.withFlags { api in
            #expect(try await api.call(.post, "/api/v1/flags", body: Self.checkoutFlag).status == .created)
            let client = try await api.token("client")
            let first = try await api.call(.get, "/api/client/features", token: client, bearer: false)
            let etag = try #require(first.headers[.eTag])
            let unchanged = try await api.call(.get, "/api/client/features", token: client, bearer: false, headers: [.ifNoneMatch: etag])
            #expect(unchanged.status == .notModified && unchanged.body.readableBytes == 0)
            #expect(try await api.call(.post, "/api/v1/flags/new-checkout/disable").status == .ok)
            let changed = try await api.call(.get, "/api/client/features", token: client, bearer: false, headers: [.ifNoneMatch: etag])
            #expect(changed.status == .ok && changed.headers[.eTag] != etag)

            let register =
                #"{"appName":"shop","instanceId":"shop-1","sdkVersion":"unleash-python-sdk:6.9.1","strategies":["default"],"started":"2026-01-01T00:00:00Z","interval":15000}"#
            #expect(try await api.call(.post, "/api/client/register", token: client, bearer: false, body: register).status == .accepted)
            let metrics =
                #"{"appName":"shop","instanceId":"shop-1","bucket":{"start":"2026-01-01T00:00:00Z","stop":"2026-01-01T00:01:00Z","toggles":{"new-checkout":{"yes":3,"no":1,"variants":{"blue":2}}}}}"#
            for _ in 0..<2 {
                #expect(try await api.call(.post, "/api/client/metrics", token: client, bearer: false, body: metrics).status == .accepted)
            }
            #expect(try await api.call(.post, "/api/client/metrics", token: client, bearer: false, body: #"{"bucket":1}"#).status == .badRequest)
            let stored = try await api.call(.get, "/api/v1/flag-metrics")
            let exposures = try #require(json(stored.body)["exposures"] as? [[String: Any]])
            #expect(exposures.count == 1)
            #expect(exposures.first?["yes"] as? Int == 6 && exposures.first?["no"] as? Int == 2)
            #expect((exposures.first?["variants"] as? [String: Int])?["blue"] == 4)
            #expect((json(stored.body)["clients"] as? [[String: Any]])?.first?["instanceId"] as? String == "shop-1")
        }
    }

    @Test func ofrepShapes() async throws {
        try await Self.withFlags { api in
            let flags = #"""
                {"features":[
                  {"name":"plain","enabled":true,"strategies":[]},
                  {"name":"off","enabled":false,"strategies":[]},
                  {"name":"price","enabled":true,"strategies":[],"variants":[{"name":"one","weight":1000,"payload":{"type":"number","value":"1.0"}}]},
                  {"name":"config","enabled":true,"strategies":[],"variants":[{"name":"cfg","weight":1000,"payload":{"type":"json","value":"{\"a\":2.0}"}}]},
                  {"name":"beta","enabled":true,"strategies":[{"name":"userWithId","parameters":{"userIds":"ann"}}]}
                ]}
                """#
            #expect(try await api.call(.post, "/api/v1/flags/import", body: flags).status == .ok)
            let token = try await api.token("client")
            func evaluate(_ key: String, _ body: String = "{}") async throws -> TestResponse {
                try await api.call(.post, "/ofrep/v1/evaluate/flags/\(key)", token: token, bearer: false, body: body)
            }
            #expect(String(buffer: try await evaluate("plain").body) == #"{"key":"plain","value":true,"reason":"STATIC","variant":"","metadata":{"enabled":true}}"#)
            #expect(String(buffer: try await evaluate("off").body) == #"{"key":"off","value":false,"reason":"DISABLED","variant":"","metadata":{"enabled":false}}"#)
            #expect(String(buffer: try await evaluate("price").body).contains(#""value":1.0,"reason":"STATIC","variant":"one""#))
            #expect(String(buffer: try await evaluate("config").body).contains(#""value":{"a":2.0}"#))
            #expect(json(try await evaluate("beta", #"{"context":{"targetingKey":"ann"}}"#).body)["reason"] as? String == "TARGETING_MATCH")
            #expect(json(try await evaluate("beta", #"{"context":{"targetingKey":"bob"}}"#).body)["value"] as? Bool == false)

            let missing = try await evaluate("nope")
            #expect(missing.status == .notFound && json(missing.body)["errorCode"] as? String == "FLAG_NOT_FOUND")
            // An unreadable currentTime is not a bad request: it fails the date rules only.
            #expect(try await evaluate("plain", #"{"context":{"currentTime":"yesterday"}}"#).status == .ok)
            for bad in ["not json", #"{"context":{"properties":3}}"#] {
                let response = try await evaluate("plain", bad)
                #expect(response.status == .badRequest)
                #expect(json(response.body)["errorCode"] is String && json(response.body)["errorDetails"] is String, "\(bad)")
            }

            let bulk = try await api.call(.post, "/ofrep/v1/evaluate/flags", token: token, bearer: false, body: #"{"context":{"targetingKey":"ann"}}"#)
            #expect((json(bulk.body)["flags"] as? [[String: Any]])?.count == 5)
            let etag = try #require(bulk.headers[.eTag])
            let again = try await api.call(
                .post, "/ofrep/v1/evaluate/flags", token: token, bearer: false,
                body: #"{"context":{"targetingKey":"ann"}}"#, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            let otherUser = try await api.call(
                .post, "/ofrep/v1/evaluate/flags", token: token, bearer: false,
                body: #"{"context":{"targetingKey":"bob"}}"#, headers: [.ifNoneMatch: etag])
            #expect(otherUser.status == .ok, "the ETag covers the answer, which depends on the context")
            let badBulk = try await api.call(.post, "/ofrep/v1/evaluate/flags", token: token, bearer: false, body: "[")
            #expect(badBulk.status == .badRequest && json(badBulk.body)["errorDetails"] is String)
        }
    }

    @Test func streamingSendsHydrationThenDeltasChunked() async throws {
        try await Self.withFlags(.live) { api in
            #expect(try await api.call(.post, "/api/v1/flags", body: Self.checkoutFlag).status == .created)
            let token = try await api.token("client")
            let port = try #require(api.client.port)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/client/streaming")
            request.headers.add(name: "authorization", value: token)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "transfer-encoding") == "chunked")
            #expect(response.headers.first(name: "content-type") == "text/event-stream")
            var received = ""
            var toggled = false
            for try await chunk in response.body {
                received += String(buffer: chunk)
                if !toggled, received.contains("event: unleash-connected") {
                    #expect(received.contains(#""type":"hydration""#) && received.contains("new-checkout"))
                    toggled = true
                    #expect(try await api.call(.post, "/api/v1/flags/new-checkout/disable").status == .ok)
                }
                if received.contains("event: unleash-updated") && received.hasSuffix("\n\n") { break }
            }
            #expect(received.contains(#""type":"feature-updated""#))
            #expect(received.contains(#""enabled":false"#))
        }
    }
}

func json(_ buffer: ByteBuffer) -> [String: Any] { APITests.json(buffer) }
