import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import RipcordDrivers
import RipcordTestSupport
import Testing

/// Flag rules and documents sent to a real `ripcord serve` over real sockets: no rule stalls
/// evaluation, no document that could never work is stored, no body too large crashes a route.
@Suite(.serialized, .tags(.integration)) struct FlagHardeningTests {
    struct Answer {
        let status: Int
        let body: Data
        let elapsed: Duration
        var object: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var error: [String: Any] { object["error"] as? [String: Any] ?? [:] }
        var problems: [[String: Any]] { error["problems"] as? [[String: Any]] ?? [] }
    }

    /// One request; `authorization` is sent as given ("Bearer …" for admin tokens, bare for SDK tokens).
    static func send(_ method: HTTPMethod, _ url: String, authorization: String?, body: Data? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let authorization { request.headers.add(name: "authorization", value: authorization) }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = Data(buffer: try await response.body.collect(upTo: 64 << 20))
        return Answer(status: Int(response.status.code), body: data, elapsed: clock.now - start)
    }

    static func admin(_ api: ServeProcessTests.API, _ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> Answer {
        try await send(method, api.base + path, authorization: "Bearer \(api.token)", body: body.map { Data($0.utf8) })
    }

    static let catastrophicRule =
        #"{"name":"email-rule","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"email","operator":"REGEX","value":"^(a+)+$"}]}]}"#

    /// `^(a+)+$` took a backtracking engine 2 s on 25 characters, with a browser (frontend) token, and
    /// held up other requests. On RE2 10,000 characters are answered at once, many at a time.
    @Test func aCatastrophicRegexIsAnsweredAtOnceOverOFREPAndBlocksNoOtherRequest() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("flag-regex")
        defer { process.signal(SIGKILL) }
        #expect(try await Self.admin(api, .POST, "/api/v1/flags?environment=production", Self.catastrophicRule).status == 201)
        let created = try await Self.admin(api, .POST, "/api/v1/tokens", #"{"name":"browser","kind":"frontend","environment":"production"}"#)
        let frontend = try #require(created.object["token"] as? String)
        let url = api.base + "/ofrep/v1/evaluate/flags/email-rule"
        func evaluate(_ email: String) async throws -> Answer {
            try await Self.send(.POST, url, authorization: frontend, body: Data(#"{"context":{"targetingKey":"u1","email":"\#(email)"}}"#.utf8))
        }
        let hostile = String(repeating: "a", count: 10_000) + "!"
        let matching = try await evaluate(String(repeating: "a", count: 10_000))
        #expect(matching.status == 200 && matching.object["value"] as? Bool == true, "the rule is evaluated: \(matching.object)")

        // Eight hostile evaluations at once, and the health endpoint and a flag read beside them.
        let answers = try await withThrowingTaskGroup(of: (String, Answer).self) { group in
            for _ in 0..<8 { group.addTask { ("hostile", try await evaluate(hostile)) } }
            group.addTask { ("health", try await Self.send(.GET, api.base + "/api/v1/health", authorization: nil)) }
            group.addTask { ("flags", try await Self.admin(api, .GET, "/api/v1/flags?environment=production")) }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (kind, answer) in answers {
            #expect(answer.status == 200, "\(kind)")
            // A backtracking engine needs longer than the universe's age here; the bound leaves room for
            // a loaded 2-core CI machine running other suites beside this one.
            #expect(answer.elapsed < .seconds(2), "\(kind) answered after \(answer.elapsed)")
            if kind == "hostile" { #expect(answer.object["value"] as? Bool == false) }
        }
        let single = try await evaluate(hostile)
        #expect(single.status == 200 && single.elapsed < .seconds(1), "one hostile evaluation over HTTP took \(single.elapsed)")
        #expect(processExists(process.pid))
    }

    /// Every kind of problem in one document: all are named by flag and field, with a 400, and the
    /// stored flags (their dump and their history) are exactly as before.
    @Test func aFlagDocumentWithProblemsIsRefusedWhole() async throws {
        let (process, api, directory, config) = try await ServeProcessTests.startServe("flag-validation")
        defer { process.signal(SIGKILL) }
        #expect(try await Self.admin(api, .POST, "/api/v1/flags?environment=production", FlagAPITests.checkoutFlag).status == 201)
        func dump() async throws -> Data {
            let flags = try await Self.admin(api, .GET, "/api/v1/flags?environment=production").body
            let history = try await Self.admin(api, .GET, "/api/v1/flags/new-checkout/history?environment=production").body
            return flags + history
        }
        let before = try await dump()

        let export = #"""
            {"version":2,"exported":"yesterday",
             "segments":[{"id":7,"constraints":[{"contextName":"plan","operator":"IS_ONE_OF","values":["pro"]}]}],
             "features":[
              {"name":"new-checkout","enabled":false,"strategies":[]},
              {"name":"typo","enabeld":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"150","groupId":"typo"}}]},
              {"name":"rules","enabled":true,"strategies":[{"name":"default","segments":[7,404],"constraints":[
                {"contextName":"email","operator":"REGEX","value":"(unclosed"},
                {"contextName":"email","operator":"REGEX","value":"^(?=look)ahead"},
                {"contextName":"age","operator":"NUM_GT","value":"old"},
                {"contextName":"userId","operator":"EQUALS","values":["1"]}]}]}]}
            """#
        let expected: Set<String> = [
            "-/exported", "segment 7/constraints[0].operator", "typo/enabeld", "typo/strategies[0].parameters.rollout",
            "rules/strategies[0].segments[1]", "rules/strategies[0].constraints[0].value", "rules/strategies[0].constraints[1].value",
            "rules/strategies[0].constraints[2].value", "rules/strategies[0].constraints[3].operator",
        ]
        for path in ["/api/v1/flags/import", "/api/v1/flags/apply", "/api/v1/flags/apply?dryRun=true"] {
            let separator = path.contains("?") ? "&" : "?"
            let refused = try await Self.admin(api, .POST, path + separator + "environment=production", export)
            #expect(refused.status == 400 && refused.error["code"] as? String == "invalid_flag", "\(path)")
            let found = Set(
                refused.problems.map { problem in
                    let owner = (problem["flag"] as? String) ?? (problem["segment"] as? Int).map { "segment \($0)" } ?? "-"
                    return "\(owner)/\(problem["field"] as? String ?? "")"
                })
            #expect(found == expected, "\(path): \(refused.error)")
            #expect((refused.error["message"] as? String)?.contains("9 problems") == true)
        }
        // One flag: create and replace check it the same way.
        let badFlag = #"{"name":"new-checkout","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"v","operator":"REGEX","value":"[a[b]]"}]}]}"#
        for (method, path) in [(HTTPMethod.POST, "/api/v1/flags?environment=production"), (.PUT, "/api/v1/flags/new-checkout?environment=production")] {
            let refused = try await Self.admin(api, method, path, badFlag)
            #expect(refused.status == 400 && refused.problems.count == 1, "\(path): \(refused.error)")
            #expect(refused.problems.first?["field"] as? String == "strategies[0].constraints[0].value")
            #expect((refused.problems.first?["message"] as? String)?.contains("nested character classes") == true)
        }
        #expect(try await dump() == before, "nothing stored changed")

        // The CLI sends the documents as written and prints the same problems, one a line, exiting 1.
        let exportFile = "\(directory)/export.json"
        try export.write(toFile: exportFile, atomically: true, encoding: .utf8)
        let declared = "\(directory)/flags.yaml"
        try """
        flags:
          - name: typo
            enabeld: true
            strategies: [{ name: flexibleRollout, parameters: { rollout: "150" } }]
        """.write(toFile: declared, atomically: true, encoding: .utf8)
        let flagFile = "\(directory)/typo.json"
        try #"{"enabeld":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"150"}}]}"#
            .write(toFile: flagFile, atomically: true, encoding: .utf8)
        for arguments in [["import", exportFile], ["apply", declared, "--dry-run"], ["apply", declared], ["create", "typo", "--file", flagFile]] {
            let (status, output) = try await ChildProcess.runRipcord(["flags"] + arguments + ["-e", "production", "--config", config])
            #expect(status == 1, "\(arguments): \(output)")
            #expect(
                output.contains("invalid_flag") && output.contains("\n  flag 'typo': enabeld: unknown key")
                    && output.contains("\n  flag 'typo': strategies[0].parameters.rollout: a percentage is a number from 0 to 100 (got '150')"),
                "\(arguments): \(output)")
        }
        #expect(try await dump() == before, "nothing stored changed")
    }

    /// Over a route's limit is 413 with the JSON error shape, on every kind of route, never a 500.
    @Test func bodiesOverARoutesLimitAre413WithAJSONError() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("flag-body-limits")
        defer { process.signal(SIGKILL) }
        let created = try await Self.admin(api, .POST, "/api/v1/tokens", #"{"name":"sdk","kind":"client","environment":"default"}"#)
        let client = try #require(created.object["token"] as? String)
        let padding = String(repeating: "x", count: 2 << 20)
        let oversized = Data(#"{"name":"big","enabled":true,"description":"\#(padding)"}"#.utf8)
        let routes: [(HTTPMethod, String, String)] = [
            (.POST, "/api/v1/flags", "Bearer \(api.token)"),
            (.PUT, "/api/v1/flags/big", "Bearer \(api.token)"),
            (.POST, "/api/v1/tokens", "Bearer \(api.token)"),
            (.POST, "/api/v1/services/checkout/deploy", "Bearer \(api.token)"),
            (.POST, "/api/v1/alerts/alertmanager", "Bearer \(api.token)"),
            (.POST, "/api/v1/releases", "Bearer \(api.token)"),
            (.POST, "/api/client/metrics", client),
            (.POST, "/api/client/register", client),
            (.POST, "/ofrep/v1/evaluate/flags/big", client),
            (.POST, "/ofrep/v1/evaluate/flags", client),
        ]
        for (method, path, authorization) in routes {
            let answer = try await Self.send(method, api.base + path, authorization: authorization, body: oversized)
            #expect(answer.status == 413, "\(path): \(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
            #expect(answer.error["code"] as? String == "body_too_large", "\(path)")
        }
        // Import takes whole environments (32 MiB), not more.
        let huge = Data(#"{"features":[],"padding":"\#(String(repeating: "x", count: 33 << 20))"}"#.utf8)
        let refusedImport = try await Self.send(.POST, api.base + "/api/v1/flags/import", authorization: "Bearer \(api.token)", body: huge)
        #expect(refusedImport.status == 413 && refusedImport.error["code"] as? String == "body_too_large")
        #expect(try await Self.admin(api, .GET, "/api/v1/flags").object["features"] as? [Any] != nil)
        #expect(processExists(process.pid))
    }

    /// A large Unleash export (about 5 MB: 2,000 flags with long targeting lists) imports whole.
    @Test func aFiveMegabyteUnleashExportImports() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("flag-large-import")
        defer { process.signal(SIGKILL) }
        let features: [[String: Any]] = (0..<2_000).map { index in
            [
                "name": "flag-\(index)", "enabled": index % 2 == 0, "type": "release", "project": "default",
                "strategies": [
                    [
                        "name": "flexibleRollout", "parameters": ["rollout": "\(index % 101)", "stickiness": "default", "groupId": "flag-\(index)"],
                        "constraints": [["contextName": "userId", "operator": "IN", "values": (0..<160).map { "user-\(index)-\($0)" }]],
                    ]
                ],
            ]
        }
        let export = try JSONSerialization.data(withJSONObject: ["version": 2, "features": features, "query": ["environment": "production"]])
        #expect(export.count > 5_000_000, "\(export.count) bytes")
        let imported = try await Self.send(.POST, api.base + "/api/v1/flags/import?environment=production", authorization: "Bearer \(api.token)", body: export)
        #expect(imported.status == 200, "\(imported.error)")
        #expect(imported.object["changed"] as? Int == 2_000)
        let stored = try await Self.admin(api, .GET, "/api/v1/flags?environment=production")
        #expect((stored.object["features"] as? [Any])?.count == 2_000)
    }
}
