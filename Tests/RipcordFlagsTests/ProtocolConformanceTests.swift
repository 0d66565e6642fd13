import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOFoundationEssentialsCompat
import RipcordAPI
import RipcordConfig
import RipcordDrivers
import RipcordFlagService
import RipcordFlags
import RipcordServer
import RipcordTestSupport
import Testing

/// The client specification once more, through the protocols: each file's `state` is loaded with
/// the import endpoint into an environment of its own, read back through the admin API and
/// evaluated in-process, and every case is evaluated through OFREP over real HTTP.
@Suite("Unleash client specification through import and OFREP", .tags(.integration))
struct ProtocolConformanceTests {
    struct Expectation {
        let description: String
        let flag: String
        let context: FlagContext
        /// Either the flag state or the variant object the case expects.
        let enabled: Bool?
        let variant: [String: Any]?
    }

    @Test func everyCaseThroughImportAndOFREP() async throws {
        let files = Specifications.fileNames()
        guard files != [Specifications.missingMarker], let dir = Specifications.directory() else {
            Issue.record("Unleash client specification not in the test bundle: expected \(Specifications.location)")
            return
        }
        let directory = try temporaryDirectory("spec")
        try """
        api: { listen: 127.0.0.1:\(try FreePort.allocate()) }
        services:
          web:
            listen: 127.0.0.1:0
            run: { command: "true {port}" }
        """.write(toFile: "\(directory)/ripcord.yaml", atomically: true, encoding: .utf8)
        let server = try await RipcordServer(config: try ConfigLoader.load(file: "\(directory)/ripcord.yaml"))
        let admin = try String(contentsOfFile: server.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        // The server's own application: live tests go through the OFREP fast path as `ripcord serve` does.
        let app = server.application()
        let cases: Int
        do {
            cases = try await Self.run(files, in: dir, app: app, admin: admin, store: server.store)
        } catch {
            await server.shutdown(keepInstances: false)
            throw error
        }
        await server.shutdown(keepInstances: false)
        #expect(cases >= 176, "every case of the specification ran (\(cases))")
    }

    /// Imports and evaluates every file; returns the number of cases run.
    static func run(_ files: [String], in dir: URL, app: some ApplicationProtocol, admin: String, store: any FlagStore) async throws -> Int {
        try await app.test(.live) { client in
            var cases = 0
            var refused: [String] = []
            for (number, file) in files.enumerated() {
                var environment = "spec-\(number)"
                let data = try Data(contentsOf: dir.appendingPathComponent(file))
                let raw = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                let state = try JSONSerialization.data(withJSONObject: raw["state"] ?? [:])
                let imported = try await client.execute(
                    uri: "/api/v1/flags/import?environment=\(environment)", method: .post,
                    headers: [.authorization: "Bearer \(admin)"], body: ByteBuffer(data: state))
                if imported.status == .badRequest {
                    // Some states hold, on purpose, rules that can never match (an unknown operator, an
                    // invalid version, a missing segment): import refuses them, naming each. The rules
                    // still evaluate per the specification once stored, as in a database written before
                    // import checked them, so the state is stored directly (in an environment the
                    // refused import has not loaded) and the cases run.
                    let error = Self.object(imported.body)["error"] as? [String: Any] ?? [:]
                    let problems = error["problems"] as? [[String: Any]] ?? []
                    #expect(error["code"] as? String == "invalid_flag" && !problems.isEmpty, "\(file): \(String(buffer: imported.body))")
                    #expect(problems.allSatisfy { ($0["flag"] is String || $0["segment"] is Int) && $0["field"] is String })
                    refused.append("\(file): " + problems.map { "\($0["flag"] ?? $0["segment"] ?? "") \($0["field"] ?? "")" }.joined(separator: ", "))
                    let decoded = try JSONDecoder().decode(ClientFeatures.self, from: state)
                    environment += "-stored"
                    _ = try await store.apply(
                        (decoded.segments ?? []).map(FlagMutation.putSegment) + decoded.features.map(FlagMutation.putFlag),
                        environment: environment, actor: "specification", reason: nil, at: Date())
                } else {
                    #expect(imported.status == .ok, "\(file): import answered \(imported.status)")
                }

                let stored = try await client.execute(
                    uri: "/api/v1/flags?environment=\(environment)", method: .get,
                    headers: [.authorization: "Bearer \(admin)"])
                let inProcess = FlagEvaluator(state: try JSONDecoder().decode(ClientFeatures.self, from: Data(stored.body.readableBytesView)))
                let tokenAnswer = try await client.execute(
                    uri: "/api/v1/tokens", method: .post, headers: [.authorization: "Bearer \(admin)"],
                    body: ByteBuffer(string: #"{"name":"\#(environment)","kind":"client","environment":"\#(environment)"}"#))
                let token = try #require(Self.object(tokenAnswer.body)["token"] as? String)

                var failures: [String] = []
                for expectation in try Self.expectations(raw) {
                    cases += 1
                    var allowed = CharacterSet.urlPathAllowed
                    allowed.remove("/")
                    let key = expectation.flag.addingPercentEncoding(withAllowedCharacters: allowed) ?? expectation.flag
                    let body = try JSONSerialization.data(withJSONObject: ["context": try JSONSerialization.jsonObject(with: JSONEncoder().encode(expectation.context))])
                    let response = try await client.execute(
                        uri: "/ofrep/v1/evaluate/flags/\(key)", method: .post,
                        headers: [.authorization: token, .contentType: "application/json"], body: ByteBuffer(data: body))
                    let answer = Self.object(response.body)
                    // A rollout by user without one is TARGETING_KEY_MISSING in OFREP (the provider then gives
                    // the caller's default); the specification expects such a flag off.
                    if answer["errorCode"] as? String == "TARGETING_KEY_MISSING", expectation.enabled == false, expectation.variant == nil {
                        continue
                    }
                    let found = response.status == .ok
                    if !found && !(response.status == .notFound && answer["errorCode"] as? String == "FLAG_NOT_FOUND") {
                        failures.append("\(expectation.description): OFREP answered \(response.status): \(String(buffer: response.body))")
                        continue
                    }
                    let ofrepEnabled = found && (answer["metadata"] as? [String: Any])?["enabled"] as? Bool == true
                    if let enabled = expectation.enabled {
                        if ofrepEnabled != enabled { failures.append("\(expectation.description): OFREP says \(ofrepEnabled), expected \(enabled)") }
                        if inProcess.isEnabled(expectation.flag, context: expectation.context) != enabled {
                            failures.append("\(expectation.description): in-process after import says \(!enabled)")
                        }
                    }
                    if let variant = expectation.variant {
                        if let problem = Self.mismatch(ofrep: found ? answer : [:], expected: variant) {
                            failures.append("\(expectation.description) [\(expectation.flag)]: OFREP \(problem)")
                        }
                        let local = inProcess.variant(expectation.flag, context: expectation.context)
                        if local.name != variant["name"] as? String || local.enabled != variant["enabled"] as? Bool {
                            failures.append("\(expectation.description): in-process after import gave variant \(local.name)")
                        }
                    }
                }
                #expect(failures.isEmpty, "\(file): \(failures.count) cases failed:\n\(failures.joined(separator: "\n"))")
            }
            // Exactly the states with never-matching rules are refused, each for what the specification puts there.
            #expect(refused.count == 3, "\(refused)")
            return cases
        }
    }

    static func object(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
    }

    static func expectations(_ raw: [String: Any]) throws -> [Expectation] {
        func context(_ test: [String: Any]) throws -> FlagContext {
            try JSONDecoder().decode(FlagContext.self, from: JSONSerialization.data(withJSONObject: test["context"] ?? [:]))
        }
        let enabled = try (raw["tests"] as? [[String: Any]] ?? []).map { test in
            Expectation(
                description: test["description"] as? String ?? "?", flag: test["toggleName"] as? String ?? "",
                context: try context(test), enabled: test["expectedResult"] as? Bool, variant: nil)
        }
        let variants = try (raw["variantTests"] as? [[String: Any]] ?? []).map { test in
            Expectation(
                description: test["description"] as? String ?? "?", flag: test["toggleName"] as? String ?? "",
                context: try context(test), enabled: nil, variant: test["expectedResult"] as? [String: Any])
        }
        return enabled + variants
    }

    /// How an OFREP answer differs from an expected Unleash variant, or nil when it matches.
    static func mismatch(ofrep answer: [String: Any], expected: [String: Any]) -> String? {
        let expectedEnabled = expected["enabled"] as? Bool ?? false
        let variant = answer["variant"] as? String
        guard expectedEnabled else { return variant == nil || variant == "" ? nil : "gave variant \(variant ?? "")" }
        guard variant == expected["name"] as? String else { return "gave variant \(variant ?? "none"), expected \(expected["name"] ?? "")" }
        guard let payload = expected["payload"] as? [String: Any], let text = payload["value"] as? String else { return nil }
        let value = answer["value"]
        switch payload["type"] as? String {
        case "number":
            return (value as? NSNumber)?.doubleValue == Double(text) ? nil : "gave value \(value ?? "none") for number \(text)"
        case "json":
            let expectedJSON = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            let same = expectedJSON.flatMap { e in value.map { NSDictionary(dictionary: ["v": e]).isEqual(to: ["v": $0]) } } ?? false
            return same ? nil : "gave value \(value ?? "none") for json \(text)"
        default:
            return value as? String == text ? nil : "gave value \(value ?? "none") for \(text)"
        }
    }
}
