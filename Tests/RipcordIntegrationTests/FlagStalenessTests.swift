import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import RipcordFlagService
import RipcordFlags
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

/// Staleness over real sockets, with history and SDK reports dated weeks back in the real SQLite store.
@Suite(.serialized, .tags(.integration)) struct FlagStalenessTests {
    @Test func staleMeansNotEvaluatedOrOnForEveryoneForTheWholePeriod() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            let store = api.server.store
            let now = Date()
            func daysAgo(_ days: Double) -> Date { now.addingTimeInterval(-days * 86_400) }
            func rollout(_ name: String, _ percentage: Int) -> FeatureDefinition {
                FeatureDefinition(
                    name: name, enabled: true,
                    strategies: [
                        StrategyDefinition(
                            name: "flexibleRollout",
                            parameters: [
                                "rollout": String(percentage), "stickiness": "default", "groupId": name,
                            ])
                    ])
            }
            // Planted before the environment is first read, so the service loads it as stored.
            var allOn = FeatureDefinition(name: "all-on", enabled: true)
            _ = try await store.apply(
                [.putFlag(allOn), .putFlag(rollout("half", 50)), .putFlag(rollout("raised", 50))],
                environment: "staging", actor: "test", reason: nil, at: daysAgo(40))
            allOn.description = "edited, still on for everyone"
            _ = try await store.apply([.putFlag(allOn), .putFlag(rollout("raised", 100))], environment: "staging", actor: "test", reason: nil, at: daysAgo(10))
            _ = try await store.apply([.putFlag(FeatureDefinition(name: "fresh", enabled: true))], environment: "staging", actor: "test", reason: nil, at: daysAgo(1))
            try await store.recordExposures([ExposureCount(appName: "shop", flag: "half", yes: 1, no: 1, variants: [:])], environment: "staging", at: daysAgo(40))
            try await store.recordExposures(
                [
                    ExposureCount(appName: "shop", flag: "all-on", yes: 5, no: 0, variants: [:]),
                    ExposureCount(appName: "shop", flag: "raised", yes: 5, no: 0, variants: [:]),
                    ExposureCount(appName: "shop", flag: "half", yes: 0, no: 0, variants: [:]),
                ],
                environment: "staging", at: daysAgo(2))

            func staleness(_ days: Int) async throws -> [String: [String: Any]] {
                let answer = try await api.call(.get, "/api/v1/flag-staleness?environment=staging&days=\(days)")
                #expect(answer.status == .ok)
                let list = try JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [[String: Any]] ?? []
                return Dictionary(uniqueKeysWithValues: list.map { ($0["name"] as? String ?? "", $0) })
            }
            let month = try await staleness(30)
            #expect(month["all-on"]?["reasons"] as? [String] == ["fully-on"], "on for everyone for 40 days (an edit that kept it so does not reset that)")
            #expect(month["half"]?["reasons"] as? [String] == ["not-evaluated"], "last evaluated 40 days ago (an empty report is not an evaluation)")
            #expect(month["raised"]?["stale"] as? Bool == false, "at 100 % only for 10 days")
            #expect(month["fresh"]?["stale"] as? Bool == false, "created yesterday")
            #expect((month["all-on"]?["fullyOnSince"] as? String).flatMap(ISO8601Timestamp.parse).map { abs($0 - daysAgo(40).timeIntervalSince1970) < 1 } == true)
            #expect(month["half"]?["fullyOnSince"] == nil && month["half"]?["lastEvaluated"] is String)
            let week = try await staleness(7)
            #expect(week["raised"]?["reasons"] as? [String] == ["fully-on"])
            #expect(week["fresh"]?["stale"] as? Bool == false)

            let refused = try await api.call(.get, "/api/v1/flag-staleness?days=-1")
            #expect(refused.status == .badRequest && APITests.errorCode(refused.body) == "invalid_days")
        }
    }

    @Test func ofrepEvaluationsMakeAFlagSeenBulkAnswersDoNot() async throws {
        try await FlagAPITests.withFlags(.live) { api in
            let flags = #"{"features":[{"name":"read","enabled":true},{"name":"unread","enabled":true}]}"#
            #expect(try await api.call(.post, "/api/v1/flags/import", body: flags).status == .ok)
            let client = try await api.token("client", environment: "default")
            // Each on its own connection, closed after the answer: the fast path hands its counts over when a connection ends.
            let port = try #require(api.client.port)
            for _ in 0..<3 {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/ofrep/v1/evaluate/flags/read")
                request.method = .POST
                request.headers.add(name: "authorization", value: client)
                request.headers.add(name: "connection", value: "close")
                request.body = .bytes(ByteBuffer(string: #"{"context":{"targetingKey":"ann"}}"#))
                #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status == .ok)
            }
            #expect(try await api.call(.post, "/ofrep/v1/evaluate/flags", token: client, bearer: false, body: #"{"context":{}}"#).status == .ok)
            #expect(try await api.call(.get, "/api/frontend?userId=ann", token: client, bearer: false).status == .ok)
            try await eventually("the fast path to hand over its counts", within: 10) {
                try await api.server.flags.flushEvaluations()
                return try await api.server.store.exposures(environment: "default").contains { $0.flag == "read" && $0.yes == 3 }
            }
            let exposures = try await api.server.store.exposures(environment: "default")
            #expect(exposures.first { $0.flag == "read" }?.appName == FlagService.evaluatingApp)
            #expect(!exposures.contains { $0.flag == "unread" }, "answering every flag at once is not reading it")
            let week = try await api.call(.get, "/api/v1/flag-staleness?days=0")
            let list = try JSONSerialization.jsonObject(with: Data(week.body.readableBytesView)) as? [[String: Any]] ?? []
            #expect(list.first { $0["name"] as? String == "read" }?["lastEvaluated"] is String)
            #expect(list.first { $0["name"] as? String == "unread" }?["lastEvaluated"] == nil)
        }
    }
}
