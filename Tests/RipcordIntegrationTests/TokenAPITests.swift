import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import RipcordAPI
import RipcordConfig
import RipcordFlagService
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

/// Token lifecycle (create with expiry, unique names, list, revoke, rotate) and the actor recorded on
/// every change, through the server's own application with a real SQLite file and real instances.
@Suite(.serialized, .tags(.integration)) struct TokenAPITests {
    struct API {
        let client: any TestClientProtocol
        let admin: String
        let server: RipcordServer

        func call(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, sdk: Bool = false, body: String? = nil) async throws -> TestResponse {
            let secret = token ?? admin
            return try await client.execute(
                uri: uri, method: method, headers: [.authorization: sdk ? secret : "Bearer \(secret)"],
                body: body.map { ByteBuffer(string: $0) })
        }

        /// Creates a token and returns its secret.
        func create(_ name: String, kind: String, expires: String? = nil, by token: String? = nil) async throws -> String {
            let expiry = expires.map { #","expires":"\#($0)""# } ?? ""
            let response = try await call(.post, "/api/v1/tokens", token: token, body: #"{"name":"\#(name)","kind":"\#(kind)"\#(expiry)}"#)
            #expect(response.status == .created, "\(String(buffer: response.body))")
            return try #require(json(response.body)["token"] as? String)
        }

        func tokens() async throws -> [[String: Any]] {
            (try JSONSerialization.jsonObject(with: Data(try await call(.get, "/api/v1/tokens").body.readableBytesView)) as? [[String: Any]]) ?? []
        }

        func status(_ uri: String, token: String) async throws -> (HTTPResponse.Status, String?) {
            let response = try await call(.get, uri, token: token, sdk: uri.hasPrefix("/api/client"))
            return (response.status, (json(response.body)["error"] as? [String: Any])?["code"] as? String)
        }

        func events() async throws -> [[String: Any]] {
            let body = try await call(.get, "/api/v1/services/checkout/events").body
            return (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [[String: Any]]) ?? []
        }

        func phase() async throws -> String? {
            ((json(try await call(.get, "/api/v1/services/checkout").body)["rollout"]) as? [String: Any])?["phase"] as? String
        }
    }

    static func withAPI(start: Bool = false, faults: String = "", _ body: @escaping @Sendable (API) async throws -> Void) async throws {
        let directory = try temporaryDirectory("tokens-api")
        let path = "\(directory)/ripcord.yaml"
        try checkoutConfig(
            directory: directory, strategy: "canary:\n  unanalyzed: true\n  steps:\n    - setWeight: 10\n    - pause: {}", faults: faults,
            instances: 1, analysis: nil
        )
        .write(toFile: path, atomically: true, encoding: .utf8)
        let server = try await RipcordServer(config: try ConfigLoader.load(file: path))
        if start { try await server.start() }
        let admin = try String(contentsOfFile: server.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            try await server.application().test(.router) { client in try await body(API(client: client, admin: admin, server: server)) }
        } catch {
            await server.shutdown(keepInstances: false)
            throw error
        }
        await server.shutdown(keepInstances: false)
    }

    @Test func namesAreUniqueAndTheListShowsNoSecret() async throws {
        try await Self.withAPI { api in
            let secret = try await api.create("ci", kind: "client", expires: "30d")
            let again = try await api.call(.post, "/api/v1/tokens", body: #"{"name":"ci","kind":"frontend"}"#)
            #expect(again.status == .conflict)
            #expect((json(again.body)["error"] as? [String: Any])?["code"] as? String == "token_name_taken")
            for (body, code) in [
                (#"{"name":"no spaces","kind":"client"}"#, "invalid_token_name"),
                (#"{"name":"late","kind":"client","expires":"2001-01-01"}"#, "invalid_expires"),
                (#"{"name":"vague","kind":"client","expires":"soon"}"#, "invalid_expires"),
            ] {
                let refused = try await api.call(.post, "/api/v1/tokens", body: body)
                #expect(refused.status == .badRequest, "\(body)")
                let error = json(refused.body)["error"] as? [String: Any]
                #expect(error?["code"] as? String == code, "\(body)")
            }
            let listed = try await api.tokens()
            #expect(listed.compactMap { $0["name"] as? String } == ["admin", "ci"], "refused tokens stored nothing")
            let ci = try #require(listed.first { $0["name"] as? String == "ci" })
            #expect(ci["kind"] as? String == "client" && ci["environment"] as? String == "default" && ci["state"] as? String == "active")
            #expect(ci["createdAt"] is String && ci["expiresAt"] is String && ci["token"] == nil && ci["createdBy"] as? String == "admin")
            let text = String(buffer: try await api.call(.get, "/api/v1/tokens").body)
            #expect(!text.contains(secret) && !text.contains(TokenAuthenticator.hash(secret)) && !text.contains(api.admin), "never a secret or a hash")
        }
    }

    @Test func aRevokedTokenIsRefusedAtOnceAndARotatedOneOnlyWithItsNewSecret() async throws {
        try await Self.withAPI { api in
            let ci = try await api.create("ci", kind: "client")
            #expect(try await api.status("/api/client/features", token: ci).0 == .ok)
            let revoked = try await api.call(.delete, "/api/v1/tokens/ci")
            #expect(revoked.status == .ok && json(revoked.body)["state"] as? String == "revoked")
            #expect(try await api.status("/api/client/features", token: ci) == (.unauthorized, "token_revoked"), "no waiting, no restart")
            #expect(try await api.call(.delete, "/api/v1/tokens/ci").status == .conflict)
            #expect(try await api.call(.delete, "/api/v1/tokens/nobody").status == .notFound)

            let old = try await api.create("sdk", kind: "client")
            let rotated = try await api.call(.post, "/api/v1/tokens/sdk/rotate")
            #expect(rotated.status == .ok)
            let new = try #require(json(rotated.body)["token"] as? String)
            #expect(json(rotated.body)["kind"] as? String == "client" && json(rotated.body)["environment"] as? String == "default")
            #expect(try await api.status("/api/client/features", token: old).0 == .unauthorized)
            #expect(try await api.status("/api/client/features", token: new).0 == .ok)
            #expect(try await api.call(.post, "/api/v1/tokens/ci/rotate").status == .conflict, "a revoked token stays revoked")

            // A name from before names were restricted stays revocable.
            try await api.server.store.addAccessToken(
                AccessTokenRecord(
                    name: "old shop token", hash: "legacy", kind: .client,
                    environment: "default", createdAt: Date()))
            #expect(try await api.call(.delete, "/api/v1/tokens/old%20shop%20token").status == .ok)
        }
    }

    @Test func theBootstrapAdminTokenIsRevocableOnlyOnceAnotherAdminTokenExists() async throws {
        try await Self.withAPI { api in
            let refused = try await api.call(.delete, "/api/v1/tokens/admin")
            #expect(refused.status == .conflict)
            let error = try #require(json(refused.body)["error"] as? [String: Any])
            #expect(error["code"] as? String == "last_admin_token")
            #expect((error["message"] as? String)?.contains("created at first start") == true)
            #expect(try await api.status("/api/v1/services", token: api.admin).0 == .ok, "still usable")

            // Rotating it rewrites admin.token, which the CLI on this machine reads.
            let rotated = try await api.call(.post, "/api/v1/tokens/admin/rotate")
            let admin = try #require(json(rotated.body)["token"] as? String)
            #expect(try String(contentsOfFile: api.server.tokenFile, encoding: .utf8) == admin + "\n")
            #expect(try await api.status("/api/v1/services", token: api.admin).0 == .unauthorized)

            let ops = try await api.create("ops", kind: "admin", by: admin)
            let revoked = try await api.call(.delete, "/api/v1/tokens/admin", token: ops)
            #expect(revoked.status == .ok && json(revoked.body)["revokedBy"] as? String == "ops")
            #expect(json(rotated.body)["rotatedBy"] as? String == "admin" && json(rotated.body)["rotatedAt"] is String)
            #expect(try await api.status("/api/v1/services", token: admin) == (.unauthorized, "token_revoked"))
            #expect(try await api.call(.delete, "/api/v1/tokens/ops", token: ops).status == .conflict, "ops is now the last one")
        }
    }

    @Test func anExpiredTokenIsRefusedWithAMessageSayingSo() async throws {
        try await Self.withAPI { api in
            let short = try await api.create("short", kind: "admin", expires: "1s")
            #expect(try await api.status("/api/v1/services", token: short).0 == .ok)
            try await eventually("the token to expire", within: 10) { try await api.status("/api/v1/services", token: short).0 == .unauthorized }
            let response = try await api.call(.get, "/api/v1/services", token: short)
            let error = try #require(json(response.body)["error"] as? [String: Any])
            #expect(error["code"] as? String == "token_expired")
            #expect((error["message"] as? String)?.contains("'short' expired at") == true)
            let listed = try await api.tokens().first { $0["name"] as? String == "short" }
            #expect(listed?["state"] as? String == "expired")
        }
    }

    @Test func everyChangeRecordsTheNameOfTheTokenThatMadeIt() async throws {
        try await Self.withAPI(start: true) { api in
            let bot = try await api.create("release-bot", kind: "admin")
            #expect(try await api.call(.post, "/api/v1/services/checkout/deploy", token: bot, body: #"{"version":"1.0.0"}"#).status == .accepted)
            try await eventually("1.0.0 promoted") { try await api.phase() == "promoted" }
            #expect(try await api.call(.post, "/api/v1/services/checkout/deploy", token: bot, body: #"{"version":"1.1.0"}"#).status == .accepted)
            try await eventually("1.1.0 paused at 10%") { try await api.phase() == "paused" }
            #expect(try await api.call(.post, "/api/v1/services/checkout/promote", token: bot).status == .accepted)
            try await eventually("1.1.0 promoted") { try await api.phase() == "promoted" }
            #expect(try await api.call(.post, "/api/v1/services/checkout/deploy", body: #"{"version":"1.2.0"}"#).status == .accepted)
            try await eventually("1.2.0 paused at 10%") { try await api.phase() == "paused" }
            #expect(try await api.call(.post, "/api/v1/services/checkout/abort", token: bot, body: #"{"reason":"bad"}"#).status == .accepted)
            try await eventually("1.2.0 rolled back") { try await api.phase() == "rolledBack" }

            let events = try await api.events()
            func actors(_ kind: String) -> [String?] { events.filter { $0["kind"] as? String == kind }.map { $0["actor"] as? String } }
            #expect(actors("rollout.started") == ["release-bot", "release-bot", "admin"])
            #expect(actors("step.promoted") == ["release-bot"])
            #expect(actors("rollout.promoted") == [nil, "release-bot"], "1.0.0 promoted itself; 1.1.0 by the bot's promote")
            #expect(actors("rollout.rolledBack") == ["release-bot"])
            #expect(actors("candidate.ready").allSatisfy { $0 == nil }, "Ripcord's own observations have no actor")

            let flag = #"{"name":"new-checkout","enabled":true}"#
            #expect(try await api.call(.post, "/api/v1/flags", token: bot, body: flag).status == .created)
            let history = try JSONSerialization.jsonObject(with: Data(try await api.call(.get, "/api/v1/flags/new-checkout/history").body.readableBytesView))
            #expect((history as? [[String: Any]])?.map { $0["actor"] as? String } == ["release-bot"], "flags and rollouts name the same actor")

            // A guarded flag rollout started and aborted by the bot.
            let guarded = try await api.call(
                .post, "/api/v1/flags/new-checkout/guarded-rollouts", token: bot,
                body: #"{"service":"checkout","steps":[10,100],"stepDuration":"1h"}"#)
            #expect(guarded.status == .created, "\(String(buffer: guarded.body))")
            let guardedPath = "/api/v1/flags/new-checkout/guarded-rollouts/\(try #require(json(guarded.body)["id"] as? Int))"
            #expect(try await api.call(.post, guardedPath + "/abort", token: bot).status == .accepted)
            try await eventually("the guarded rollout disabled") { json(try await api.call(.get, guardedPath).body)["phase"] as? String == "disabled" }
            let guardedEvents = json(try await api.call(.get, guardedPath).body)["events"] as? [[String: Any]] ?? []
            #expect(guardedEvents.first?["actor"] as? String == "release-bot", "\(guardedEvents)")
            #expect(guardedEvents.first { $0["kind"] as? String == "flagRollout.disabled" }?["actor"] as? String == "release-bot")

            // A release applied and aborted by the bot.
            let release = try await api.call(
                .post, "/api/v1/releases", token: bot,
                body: #"{"manifest":{"name":"r1","services":[{"service":"checkout","version":"1.3.0","requires":{}}]}}"#)
            #expect(release.status == .accepted, "\(String(buffer: release.body))")
            let releaseID = try #require((json(release.body)["release"] as? [String: Any])?["id"] as? Int)
            #expect(try await api.call(.post, "/api/v1/releases/\(releaseID)/abort", token: bot).status == .accepted)
            try await eventually("the release rolled back") {
                (json(try await api.call(.get, "/api/v1/releases/\(releaseID)").body)["release"] as? [String: Any])?["phase"] as? String == "rolledBack"
            }
            let afterRelease = try await api.events()
            func last(_ kind: String) -> String? { afterRelease.last { $0["kind"] as? String == kind }?["actor"] as? String }
            #expect(last("release.started") == "release-bot" && last("rollout.started") == "release-bot" && last("rollout.rolledBack") == "release-bot")
        }
    }

    @Test func forcingARejectedVersionAndClearingTheRejectionNameTheToken() async throws {
        try await Self.withAPI(start: true, faults: "1.9.9=crashAtStart") { api in
            let bot = try await api.create("release-bot", kind: "admin")
            #expect(try await api.call(.post, "/api/v1/services/checkout/deploy", body: #"{"version":"1.9.9"}"#).status == .accepted)
            try await eventually("1.9.9 rolled back") { try await api.phase() == "rolledBack" }
            #expect(try await api.call(.post, "/api/v1/services/checkout/deploy", body: #"{"version":"1.9.9"}"#).status == .conflict, "rejected")
            #expect(try await api.call(.post, "/api/v1/services/checkout/deploy", token: bot, body: #"{"version":"1.9.9","force":true}"#).status == .accepted)
            try await eventually("the forced 1.9.9 rolled back") { try await api.phase() == "rolledBack" }
            #expect(try await api.call(.delete, "/api/v1/services/checkout/rejections/1.9.9", token: bot).status == .ok)

            let events = try await api.events()
            func actors(_ kind: String) -> [String?] { events.filter { $0["kind"] as? String == kind }.map { $0["actor"] as? String } }
            #expect(actors("deploy.forced") == ["release-bot"])
            #expect(actors("version.unrejected") == ["release-bot"])
            #expect(actors("rollout.started") == ["admin", "release-bot"])
            #expect(actors("rollout.rolledBack") == [nil, nil], "the crashes rolled back, not the bot")
        }
    }
}
