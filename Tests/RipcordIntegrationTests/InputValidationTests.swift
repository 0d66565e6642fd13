import Foundation
import RipcordTestSupport
import Testing

/// Bad input over a real socket to a real `ripcord serve`: every refusal is a 4xx JSON error naming
/// the field, and the state database is byte for byte the same afterwards (`sqlite3 .dump`).
@Suite(.serialized, .tags(.integration)) struct InputValidationTests {
    /// The whole state database as SQL text.
    static func dump(_ database: String) throws -> String {
        let process = Process()
        process.executableURL = URL(filePath: try SystemProgram.require("sqlite3", package: "sqlite3"))
        process.arguments = ["-readonly", database, ".dump"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    struct BadRequest {
        let method: String, path: String, body: String?
        /// The field the error must name (`error.field`), when the route's own validation refuses it.
        let field: String?
        var sdk = false
    }

    static let longVersion = "1.0.0-" + String(repeating: "a", count: 130)

    static let badRequests: [BadRequest] = [
        BadRequest(method: "POST", path: "/api/v1/services/checkout/deploy", body: #"{"version":"1.0"}"#, field: "version"),
        BadRequest(method: "POST", path: "/api/v1/services/checkout/deploy", body: #"{"version":"\#(longVersion)"}"#, field: "version"),
        BadRequest(method: "POST", path: "/api/v1/services/Check_Out/deploy", body: #"{"version":"1.2.0"}"#, field: "name"),
        BadRequest(method: "GET", path: "/api/v1/services/-checkout", body: nil, field: "name"),
        BadRequest(method: "GET", path: "/api/v1/services/checkout%00/history", body: nil, field: "name"),
        BadRequest(method: "GET", path: "/api/v1/services/checkout/events?limit=-1", body: nil, field: "limit"),
        BadRequest(method: "POST", path: "/api/v1/services/checkout/undo", body: #"{"toRevision":0}"#, field: "toRevision"),
        BadRequest(method: "POST", path: "/api/v1/services/checkout/abort", body: #"{"reason":"\#(String(repeating: "x", count: 1001))"}"#, field: "reason"),
        BadRequest(method: "GET", path: "/api/v1/rollouts/0", body: nil, field: "id"),
        BadRequest(method: "GET", path: "/api/v1/releases/abc", body: nil, field: "id"),
        BadRequest(method: "POST", path: "/api/v1/releases/-1/abort", body: nil, field: "id"),
        BadRequest(
            method: "POST", path: "/api/v1/releases",
            body: #"{"manifest":{"services":[{"service":"checkout","version":"1.2","requires":{}}]}}"#, field: "manifest.services[0].version"),
        // Found by schemathesis: an empty version in a manifest was a 500.
        BadRequest(
            method: "POST", path: "/api/v1/releases",
            body: #"{"manifest":{"services":[{"service":"checkout","version":"","requires":{}}]}}"#, field: "manifest.services[0].version"),
        BadRequest(
            method: "POST", path: "/api/v1/releases",
            body: #"{"manifest":{"services":[{"service":"checkout","version":"1.2.0","requires":{"payments":">=banana"}}]}}"#,
            field: "manifest.services[0].requires.payments"),
        BadRequest(
            method: "POST", path: "/api/v1/releases",
            body: #"{"manifest":{"services":[{"service":"Checkout","version":"1.2.0","requires":{}}]}}"#, field: "manifest.services[0].service"),
        BadRequest(
            method: "POST", path: "/api/v1/releases",
            body: #"{"manifest":{"services":[{"service":"checkout","version":"1.2.0","requires":{},"strategy":{"canary":{"_0":{"steps":[{"setWeight":{"_0":150}}]}}}}]}}"#,
            field: "manifest.services[0].strategy.steps[0]"),
        BadRequest(method: "GET", path: "/api/v1/flags?environment=no%20spaces", body: nil, field: "environment"),
        BadRequest(method: "GET", path: "/api/v1/flag-metrics?environment=", body: nil, field: "environment"),
        BadRequest(method: "GET", path: "/api/v1/flags/checkout-beta/history?environment=a/b", body: nil, field: "environment"),
        BadRequest(method: "POST", path: "/api/v1/flags/checkout-beta/rollout", body: #"{"percentage":150}"#, field: "percentage"),
        BadRequest(method: "POST", path: "/api/v1/flags/checkout-beta/rollout", body: #"{"percentage":-1}"#, field: "percentage"),
        BadRequest(method: "POST", path: "/api/v1/flags/checkout-beta/revert", body: #"{"toChange":0}"#, field: "toChange"),
        // Found by schemathesis: strategy variants' weights were stored unchecked.
        BadRequest(
            method: "PUT", path: "/api/v1/flags/checkout-beta",
            body: #"{"name":"checkout-beta","strategies":[{"name":"default","variants":[{"name":"a","weight":1001}]}]}"#, field: nil),
        BadRequest(
            method: "POST", path: "/api/v1/flags/checkout-beta/guarded-rollouts",
            body: #"{"service":"checkout","steps":[10,100],"stepDuration":"0s"}"#, field: "stepDuration"),
        BadRequest(
            method: "POST", path: "/api/v1/flags/checkout-beta/guarded-rollouts",
            body: #"{"service":"checkout","steps":[10,100],"stepDuration":"1s","analysis":{"maxErrorRate":1.5}}"#, field: "analysis.maxErrorRate"),
        BadRequest(
            method: "POST", path: "/api/v1/flags/checkout-beta/guarded-rollouts",
            body: #"{"service":"checkout","steps":[10,100],"stepDuration":"1s","progressDeadline":"0s"}"#, field: "progressDeadline"),
        BadRequest(
            method: "POST", path: "/api/v1/flags/checkout-beta/guarded-rollouts",
            body:
                #"{"service":"checkout","steps":[10,100],"stepDuration":"1s","analysis":{"metrics":[{"name":"errors","provider":{"router":{"measure":"errorRate"}},"interval":"0s","timeout":"1s","initialDelay":0,"failureLimit":0,"inconclusiveLimit":0,"consecutiveErrorLimit":0,"onInconclusive":"pause"}]}}"#,
            field: "analysis.metrics[0].interval"),
        BadRequest(
            method: "POST", path: "/api/v1/flags/checkout-beta/guarded-rollouts",
            body: #"{"service":"checkout","steps":[0,100],"stepDuration":"1s"}"#, field: "steps[0]"),
        BadRequest(
            method: "POST", path: "/api/v1/flags/checkout-beta/guarded-rollouts",
            body: #"{"service":"Checkout!","steps":[10],"stepDuration":"1s"}"#, field: "service"),
        BadRequest(method: "GET", path: "/api/v1/flags/checkout-beta/guarded-rollouts/0", body: nil, field: "id"),
        BadRequest(method: "POST", path: "/api/v1/tokens", body: #"{"name":"has space","kind":"client"}"#, field: "name"),
        BadRequest(method: "POST", path: "/api/v1/tokens", body: #"{"name":"ok","kind":"client","environment":"bad env"}"#, field: "environment"),
        BadRequest(method: "POST", path: "/api/v1/tokens", body: #"{"name":"ok","kind":"root"}"#, field: "kind"),
        BadRequest(method: "POST", path: "/api/client/register", body: #"{"appName":""}"#, field: "appName", sdk: true),
        BadRequest(
            method: "POST", path: "/api/client/metrics", body: #"{"appName":"shop","bucket":{"toggles":{"checkout-beta":{"yes":-1}}}}"#,
            field: nil, sdk: true),
        BadRequest(
            method: "POST", path: "/api/client/metrics", body: #"{"appName":"\#(String(repeating: "a", count: 1001))","bucket":{"toggles":{}}}"#,
            field: "appName", sdk: true),
    ]

    @Test func everyBadRequestIsA4xxNamingTheFieldAndChangesNothingStored() async throws {
        let (process, admin, directory, _) = try await ServeProcessTests.startServe("validation")
        do {
            try await sendBadRequests(admin: admin, database: "\(directory)/.ripcord/ripcord.sqlite")
        } catch {
            process.signal(SIGTERM)
            try await process.wait()
            throw error
        }
        process.signal(SIGTERM)
        try await process.wait()
    }

    func sendBadRequests(admin: ServeProcessTests.API, database: String) async throws {

        // Something in every kind of table: a promoted rollout, a flag, a client token, a client and its counts.
        #expect(try await admin.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await admin.rollout(of: "checkout")["phase"] as? String == "promoted" }
        #expect(try await admin.call("POST", "/api/v1/flags", body: #"{"name":"checkout-beta","enabled":false}"#).0 == 201)
        let (created, token) = try await admin.call("POST", "/api/v1/tokens", body: #"{"name":"shop","kind":"client"}"#)
        #expect(created == 201)
        let client = ServeProcessTests.API(base: admin.base, token: try #require(token["token"] as? String))
        #expect(try await client.call("POST", "/api/client/register", body: #"{"appName":"shop","instanceId":"i-1"}"#).0 == 202)
        #expect(
            try await client.call(
                "POST", "/api/client/metrics",
                body: #"{"appName":"shop","bucket":{"toggles":{"checkout-beta":{"yes":3,"no":1}}}}"#
            ).0 == 202)

        let before = try Self.dump(database)
        #expect(before.contains("checkout-beta") && before.contains("INSERT INTO"))
        for bad in Self.badRequests {
            let (status, body) = try await (bad.sdk ? client : admin).call(bad.method, bad.path, body: bad.body)
            let error = body["error"] as? [String: Any]
            #expect((400..<500).contains(status), "\(bad.method) \(bad.path): \(status)")
            #expect(error?["code"] as? String != nil && error?["message"] as? String != nil, "\(bad.method) \(bad.path): \(body)")
            if let field = bad.field {
                #expect(error?["field"] as? String == field, "\(bad.method) \(bad.path): \(body)")
            }
        }
        #expect(try Self.dump(database) == before)

        // The comparison sees a change when there is one.
        #expect(try await admin.call("POST", "/api/v1/flags/checkout-beta/enable").0 == 200)
        #expect(try Self.dump(database) != before)
    }
}

/// The CLI checks what it puts in a request path before sending anything.
@Suite(.tags(.integration)) struct CLIInputValidationTests {
    @Test func aServiceNameOrVersionTheAPIWouldRefuseIsAUsageErrorWithNoRequestSent() async throws {
        let (pathStatus, pathOutput) = try await ChildProcess.runRipcord(["deploy", "../flags", "1.0.0", "--server", "http://127.0.0.1:9"])
        #expect(pathStatus == 64 && pathOutput.contains("not a service name"), "\(pathOutput)")
        let (versionStatus, versionOutput) = try await ChildProcess.runRipcord(["deploy", "checkout", "1.0", "--server", "http://127.0.0.1:9"])
        #expect(versionStatus == 64 && versionOutput.contains("Semantic Versioning"), "\(versionOutput)")
        let (historyStatus, _) = try await ChildProcess.runRipcord(["history", "Checkout", "--server", "http://127.0.0.1:9"])
        #expect(historyStatus == 64)
    }
}
