import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RipcordFlags
import Testing

/// Unleash's client API beyond the full feature list, over real sockets: one flag by name, the
/// `project` and `namePrefix` filters, and the delta endpoint current SDKs poll.
@Suite(.serialized) struct UnleashClientAPITests {
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
                try await api.call(.get, "/api/client/delta" + query, token: client, bearer: false,
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
}
