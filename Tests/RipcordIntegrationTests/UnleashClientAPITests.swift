import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import RipcordFlagService
import RipcordFlags
import RipcordServer
import RipcordTestSupport
import Testing

/// Unleash's client API beyond the full feature list, over real sockets: one flag by name, the
/// `project` and `namePrefix` filters, and the delta endpoint current SDKs poll.
@Suite(.serialized, .tags(.integration)) struct UnleashClientAPITests {
    static let flags = #"""
        {"features":[
          {"name":"web.checkout","project":"web","enabled":true,"strategies":[{"name":"default","disabled":true},{"name":"userWithId","parameters":{"userIds":"ann"}}]},
          {"name":"web.search","project":"web","enabled":true,"strategies":[]},
          {"name":"mobile.banner","project":"mobile","enabled":false,"strategies":[]},
          {"name":"plain","enabled":true,"strategies":[]}
        ]}
        """#

    static func names(_ body: ByteBuffer) -> [String] {
        ((json(body)["features"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
    }

    @Test func oneFlagByNameIsServedAsSDKsReceiveIt() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            #expect(try await api.call(.post, "/api/v1/flags/import", body: Self.flags).status == .ok)
            let client = try await api.token("client", environment: "default")
            let one = try await api.call(.get, "/api/client/features/web.checkout", token: client, bearer: false)
            #expect(one.status == .ok)
            let strategies = json(one.body)["strategies"] as? [[String: Any]] ?? []
            #expect(json(one.body)["name"] as? String == "web.checkout")
            #expect(strategies.map { $0["name"] as? String } == ["userWithId"], "the disabled strategy is left out")
            let missing = try await api.call(.get, "/api/client/features/nope", token: client, bearer: false)
            #expect(missing.status == .notFound && APITests.errorCode(missing.body) == "flag_not_found")
            #expect(try await api.call(.get, "/api/client/features/plain", bearer: false).status == .unauthorized)
        }
    }

    @Test func projectAndNamePrefixFilterTheFeatureList() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            #expect(try await api.call(.post, "/api/v1/flags/import", body: Self.flags).status == .ok)
            let client = try await api.token("client", environment: "default")
            func features(_ query: String) async throws -> TestResponse {
                try await api.call(.get, "/api/client/features" + query, token: client, bearer: false)
            }
            #expect(Self.names(try await features("").body) == ["mobile.banner", "plain", "web.checkout", "web.search"])
            #expect(Self.names(try await features("?project=web").body) == ["web.checkout", "web.search"])
            #expect(Self.names(try await features("?project=web&project=default").body) == ["plain", "web.checkout", "web.search"])
            #expect(Self.names(try await features("?project=*").body).count == 4)
            #expect(Self.names(try await features("?namePrefix=web.s").body) == ["web.search"])
            #expect(Self.names(try await features("?project=mobile&namePrefix=web").body) == [])
            // Each filter has its own validator: a 304 only for the same filter and revision.
            let web = try await features("?project=web")
            let etag = try #require(web.headers[.eTag])
            #expect(etag != (try await features("?project=mobile")).headers[.eTag])
            let again = try await api.call(.get, "/api/client/features?project=web", token: client, bearer: false, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
        }
    }

    @Test func deltaHydratesThenSendsOnlyTheChangesAfterTheSDKsRevision() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            #expect(try await api.call(.post, "/api/v1/flags/import", body: Self.flags).status == .ok)
            let client = try await api.token("client", environment: "default")
            func delta(_ query: String = "", since etag: String? = nil) async throws -> TestResponse {
                try await api.call(
                    .get, "/api/client/delta" + query, token: client, bearer: false,
                    headers: etag.map { [.ifNoneMatch: $0] } ?? [:])
            }
            func events(_ response: TestResponse) -> [[String: Any]] { json(response.body)["events"] as? [[String: Any]] ?? [] }

            let first = try await delta()
            #expect(first.status == .ok)
            let hydration = try #require(events(first).first)
            #expect(events(first).count == 1 && hydration["type"] as? String == "hydration")
            let revision = try #require(hydration["eventId"] as? Int)
            #expect(first.headers[.eTag] == "\"\(revision)\"")
            let features = hydration["features"] as? [[String: Any]] ?? []
            #expect(features.count == 4 && hydration["segments"] is [Any])
            let checkout = features.first { $0["name"] as? String == "web.checkout" }
            #expect((checkout?["strategies"] as? [Any])?.count == 1, "disabled strategies never reach SDKs")

            let etag = try #require(first.headers[.eTag])
            #expect(try await delta(since: etag).status == .notModified, "nothing changed since the SDK's revision")

            #expect(try await api.call(.post, "/api/v1/flags/web.search/disable").status == .ok)
            #expect(try await api.call(.delete, "/api/v1/flags/mobile.banner").status == .noContent)
            let changes = try await delta(since: etag)
            #expect(changes.status == .ok)
            let sent = events(changes)
            #expect(sent.map { $0["type"] as? String } == ["feature-updated", "feature-removed"])
            #expect((sent[0]["feature"] as? [String: Any])?["enabled"] as? Bool == false)
            #expect(sent[1]["featureName"] as? String == "mobile.banner" && sent[1]["project"] as? String == "mobile")
            let ids = sent.compactMap { $0["eventId"] as? Int }
            #expect(ids.count == 2 && ids[0] > revision && ids[1] > ids[0])
            #expect(changes.headers[.eTag] == "\"\(ids[1])\"")
            // A bare revision is understood too, and a filtered SDK only hears about its flags.
            let web = try await delta("?project=web", since: String(revision))
            #expect(events(web).map { $0["type"] as? String } == ["feature-updated"])
            #expect(try await delta("?namePrefix=plain", since: String(revision)).status == .notModified)
            // A revision this environment never reached means the SDK's state is not ours: hydrate again.
            #expect(events(try await delta(since: "\"999999\"")).first?["type"] as? String == "hydration")
        }
    }

    @Test func aFilteredStreamHydratesAndUpdatesOnlyItsFlags() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            #expect(try await api.call(.post, "/api/v1/flags/import", body: Self.flags).status == .ok)
            let client = try await api.token("client", environment: "default")
            let port = try #require(api.client.port)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/client/streaming?project=web")
            request.headers.add(name: "authorization", value: client)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status == .ok)
            var received = ""
            var changed = false
            for try await chunk in response.body {
                received += String(buffer: chunk)
                if !changed, received.contains("event: unleash-connected"), received.hasSuffix("\n\n") {
                    #expect(received.contains("web.search") && !received.contains("mobile.banner") && !received.contains(#""name":"plain""#))
                    changed = true
                    // Only the second change concerns the stream's project.
                    #expect(try await api.call(.post, "/api/v1/flags/plain/disable").status == .ok)
                    #expect(try await api.call(.post, "/api/v1/flags/web.search/disable").status == .ok)
                }
                if received.contains("event: unleash-updated") && received.hasSuffix("\n\n") { break }
            }
            let updates = received.components(separatedBy: "event: unleash-updated").dropFirst().joined()
            #expect(updates.contains("web.search") && !updates.contains(#""plain""#), "\(received)")
        }
    }

    static let adminExport = #"""
        {"features":[{"name":"checkout","type":"release","project":"web","stale":false,"impressionData":true,"archived":false},
                     {"name":"banner","type":"experiment","project":"default","stale":false,"impressionData":false}],
         "featureStrategies":[
           {"name":"flexibleRollout","id":"s2","featureName":"checkout","title":"everyone in NO","parameters":{"groupId":"checkout","rollout":"100","stickiness":"default"},
            "constraints":[{"contextName":"country","operator":"IN","values":["NO"],"caseInsensitive":false,"inverted":false}],"disabled":false,"segments":[7],"sortOrder":1},
           {"name":"userWithId","id":"s1","featureName":"checkout","parameters":{"userIds":"ann"},"constraints":[],"sortOrder":0,"segments":[]},
           {"name":"default","id":"s3","featureName":"banner","parameters":{},"constraints":[],"sortOrder":0}],
         "featureEnvironments":[{"enabled":true,"featureName":"checkout","environment":"production","name":"checkout",
                                 "variants":[{"name":"blue","weight":1000,"weightType":"variable","stickiness":"default","overrides":[],"payload":{"type":"string","value":"#00f"}}]},
                                {"enabled":false,"featureName":"banner","environment":"production","variants":[],"name":"banner"}],
         "contextFields":[{"name":"country","stickiness":false,"sortOrder":1,"legalValues":[]}],
         "featureTags":[{"featureName":"checkout","tagType":"simple","tagValue":"payments"}],
         "segments":[{"id":7,"name":"beta-users"}],
         "tagTypes":[{"name":"simple","icon":"#"}],
         "dependencies":[{"feature":"banner","dependencies":[{"feature":"checkout","enabled":true}]}]}
        """#

    @Test func anUnleashAdminExportImportsFlagsStrategiesSegmentsVariantsAndTags() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            // Unleash exports segments by name only: without their constraints stored, nothing is imported.
            let refused = try await api.call(.post, "/api/v1/flags/import", body: Self.adminExport)
            #expect(refused.status == .badRequest && APITests.errorCode(refused.body) == "invalid_flag")
            #expect(String(buffer: refused.body).contains("segments[0].constraints"))
            #expect(try await api.server.flags.snapshot(environment: "default").state.features.isEmpty)

            let segment = #"{"features":[],"segments":[{"id":7,"name":"beta-users","constraints":[{"contextName":"plan","operator":"IN","values":["beta"]}]}]}"#
            #expect(try await api.call(.post, "/api/v1/flags/import", body: segment).status == .ok)
            let imported = try await api.call(.post, "/api/v1/flags/import", body: Self.adminExport)
            #expect(imported.status == .ok, "\(String(buffer: imported.body))")

            let checkout = try JSONDecoder().decode(FeatureDefinition.self, from: Data(try await api.call(.get, "/api/v1/flags/checkout").body.readableBytesView))
            #expect(checkout.enabled && checkout.project == "web" && checkout.type == "release" && checkout.impressionData == true)
            #expect(checkout.strategies.map(\.name) == ["userWithId", "flexibleRollout"], "in Unleash's sortOrder")
            #expect(checkout.strategies[1].segments == [7] && checkout.strategies[1].constraints.first?.contextName == "country")
            #expect(checkout.variants?.map(\.name) == ["blue"] && checkout.variants?.first?.payload?.value == "#00f")
            #expect(checkout.tags == [FlagTag(type: "simple", value: "payments")])
            let banner = try JSONDecoder().decode(FeatureDefinition.self, from: Data(try await api.call(.get, "/api/v1/flags/banner").body.readableBytesView))
            #expect(!banner.enabled && banner.dependencies == [FeatureDependency(feature: "checkout", enabled: true)])

            let client = try await api.token("client", environment: "default")
            func evaluate(_ context: String) async throws -> Bool? {
                let answer = try await api.call(.post, "/ofrep/v1/evaluate/flags/checkout", token: client, bearer: false, body: #"{"context":\#(context)}"#)
                return json(answer.body)["value"] as? Bool ?? (json(answer.body)["value"] as? String).map { _ in true }
            }
            #expect(try await evaluate(#"{"targetingKey":"ann"}"#) == true)
            #expect(try await evaluate(#"{"targetingKey":"bob","country":"NO","plan":"beta"}"#) == true, "strategy, constraint and segment all imported")
            #expect(try await evaluate(#"{"targetingKey":"bob","country":"NO","plan":"free"}"#) == false, "the segment's constraints apply")
        }
    }
}

/// OFREP on a gradual rollout by user when the context names no user, over real sockets.
@Suite(.serialized, .tags(.integration)) struct OFREPTargetingKeyTests {
    static let flags = #"""
        {"features":[
          {"name":"half","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"50","stickiness":"default","groupId":"half"}}]},
          {"name":"half-by-user","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"50","stickiness":"userId","groupId":"half"}}]},
          {"name":"staff-or-half","enabled":true,"strategies":[
            {"name":"default","constraints":[{"contextName":"role","operator":"IN","values":["staff"]}]},
            {"name":"flexibleRollout","parameters":{"rollout":"50","stickiness":"default","groupId":"s"}}]},
          {"name":"everyone","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"100","stickiness":"default","groupId":"e"}}]},
          {"name":"dice","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"50","stickiness":"random","groupId":"d"}}]}
        ]}
        """#

    @Test func aRolloutByUserWithoutOneIsTargetingKeyMissingNotARandomAnswer() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            #expect(try await api.call(.post, "/api/v1/flags/import", body: Self.flags).status == .ok)
            let client = try await api.token("client", environment: "default")
            func evaluate(_ flag: String, _ context: String) async throws -> TestResponse {
                try await api.call(.post, "/ofrep/v1/evaluate/flags/\(flag)", token: client, bearer: false, body: #"{"context":\#(context)}"#)
            }
            for (flag, context) in [
                ("half", "{}"), ("half", #"{"country":"NO"}"#), ("half-by-user", #"{"sessionId":"s1"}"#),
                ("staff-or-half", #"{"role":"guest"}"#),
            ] {
                let answer = try await evaluate(flag, context)
                #expect(answer.status == .badRequest, "\(flag) \(context)")
                #expect(
                    json(answer.body)["errorCode"] as? String == "TARGETING_KEY_MISSING" && json(answer.body)["key"] as? String == flag,
                    "\(flag) \(context): \(String(buffer: answer.body))")
            }
            for (flag, context) in [
                ("half", #"{"targetingKey":"ann"}"#), ("half", #"{"sessionId":"s1"}"#), ("half-by-user", #"{"userId":"ann"}"#),
                ("staff-or-half", #"{"role":"staff"}"#), ("everyone", "{}"), ("dice", "{}"),
            ] {
                #expect(try await evaluate(flag, context).status == .ok, "\(flag) \(context): decided without a user")
            }
            let bulk = try await api.call(.post, "/ofrep/v1/evaluate/flags", token: client, bearer: false, body: #"{"context":{}}"#)
            let listed = (json(bulk.body)["flags"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
                $0[$1["key"] as? String ?? ""] = $1["errorCode"] as? String ?? "ok"
            }
            #expect(
                listed == [
                    "half": "TARGETING_KEY_MISSING", "half-by-user": "TARGETING_KEY_MISSING", "staff-or-half": "TARGETING_KEY_MISSING",
                    "everyone": "ok", "dice": "ok",
                ])
        }
    }

    @Test func dateOperandsUnleashSDKsCannotReadAreRefused() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            for value in ["2024-01-01", "2024-01-01T00:00:00", "2024-01-01T00:00:00.1Z", "2024-01-01T00:00:00+02", "2024-01-01 00:00:00Z"] {
                let flag =
                    #"{"name":"d","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"currentTime","operator":"DATE_AFTER","value":"\#(value)"}]}]}"#
                let refused = try await api.call(.post, "/api/v1/flags", body: flag)
                #expect(refused.status == .badRequest && String(buffer: refused.body).contains("strategies[0].constraints[0].value"), "\(value)")
            }
            for value in ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123Z", "2024-01-01T02:00:00+02:00"] {
                let flag =
                    #"{"name":"d-\#(value.hashValue & 0xffff)","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"currentTime","operator":"DATE_AFTER","value":"\#(value)"}]}]}"#
                #expect(try await api.call(.post, "/api/v1/flags", body: flag).status == .created, "\(value)")
            }
        }
    }
}
