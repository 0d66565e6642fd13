import Foundation
import RipcordCore
import RipcordDrivers
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

/// A webhook receiver on loopback that writes each request (its Authorization header and body) as
/// one JSON line, and answers with `status`.
struct WebhookReceiver {
    let process: ChildProcess
    let port: Int
    let log: String

    static let script = """
        import http.server, json, sys
        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('content-length', 0)))
                with open(sys.argv[2], 'a') as log:
                    log.write(json.dumps({'authorization': self.headers.get('authorization'), 'body': json.loads(body)}) + '\\n')
                self.send_response(int(sys.argv[3]))
                self.end_headers()
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), Receiver).serve_forever()
        """

    static func start(directory: String, status: Int = 200) async throws -> WebhookReceiver {
        let port = try FreePort.allocate()
        try script.write(toFile: "\(directory)/receiver.py", atomically: true, encoding: .utf8)
        let log = "\(directory)/received.jsonl"
        let process = try ChildProcess(
            "/usr/bin/env", ["python3", "\(directory)/receiver.py", String(port), log, String(status)],
            outputPath: "\(directory)/receiver.out")
        try await eventually("the webhook receiver to answer") { (try? await get("http://127.0.0.1:\(port)/").0) == 200 }
        return WebhookReceiver(process: process, port: port, log: log)
    }

    var received: [[String: Any]] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func stop() { process.signal(SIGKILL) }
}

@Suite(.serialized, .tags(.integration)) struct NotificationTests {
    static let secret = "s3cr3t-webhook-token"

    static func notifications(port: Int, format: String, events: String? = nil) -> String {
        """
        notifications:
          - name: ops
            url: http://127.0.0.1:\(port)/hooks/\(secret)
            format: \(format)
            headers: { Authorization: "Bearer \(secret)" }
            timeout: 2s
        \(events.map { "    events: \($0)" } ?? "")
        """
    }

    @Test func rollbackIsAnnouncedInSlackFormatAndTheSecretStaysOutOfEvents() async throws {
        let directory = try temporaryDirectory("webhook")
        let receiver = try await WebhookReceiver.start(directory: directory)
        defer { receiver.stop() }
        try await withHarness(
            "notify", strategy: "canary:\n  steps:\n    - setWeight: 50\n    - analysis: { passes: 2 }",
            faults: "2.0.0=errorRate:1", instances: 1,
            topLevel: Self.notifications(port: receiver.port, format: "slack")
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var rollout: Rollout?
            _ = try await underLoad(harness) { rollout = try await harness.finish(try await harness.deploy("2.0.0")) }
            #expect(rollout?.phase == .rolledBack)
            try await eventually("the rollback announced") {
                receiver.received.contains { (($0["body"] as? [String: Any])?["text"] as? String)?.contains("rolled back 2.0.0") == true }
            }
            let texts = receiver.received.compactMap { ($0["body"] as? [String: Any])?["text"] as? String }
            #expect(texts.contains { $0.contains(":rocket:") && $0.contains("*checkout*") && $0.contains("to 2.0.0") })
            #expect(texts.contains { $0.contains(":rotating_light:") && $0.contains("analysis") })
            #expect(receiver.received.allSatisfy { $0["authorization"] as? String == "Bearer \(Self.secret)" })
            let events = try await harness.server.store.events(service: nil, rolloutID: nil, afterID: 0, limit: 10_000)
            #expect(!events.contains { "\($0.message) \($0.evidence)".contains(Self.secret) })
        }
    }

    @Test func anUnreachableWebhookIsRecordedWithoutItsURL() async throws {
        let directory = try temporaryDirectory("webhook-down")
        let receiver = try await WebhookReceiver.start(directory: directory, status: 500)
        defer { receiver.stop() }
        try await withHarness(
            "notify-fail", strategy: "canary:\n  steps: []", instances: 1, serviceExtra: #"owners: [ { name: Payments, contact: "@payments-oncall" } ]"#,
            topLevel: Self.notifications(port: receiver.port, format: "json", events: "[rollout.promoted]")
        ) { harness in
            let rollout = try await harness.finish(try await harness.deploy("1.0.0"))
            try await eventually("the failure recorded", within: 30) {
                try await harness.events(rollout).contains { $0.kind == "notification.failed" }
            }
            let failed = try #require(try await harness.events(rollout).first { $0.kind == "notification.failed" })
            #expect(failed.evidence["notification"] == "ops" && failed.evidence["error"] == "HTTP 500")
            #expect(!"\(failed.message) \(failed.evidence)".contains(Self.secret))
            // Only the subscribed event, tried three times, in Ripcord's own JSON shape.
            let bodies = receiver.received.compactMap { $0["body"] as? [String: Any] }
            #expect(bodies.count == 3 && bodies.allSatisfy { $0["event"] as? String == "rollout.promoted" && $0["service"] as? String == "checkout" })
            #expect((bodies.first?["evidence"] as? [String: String])?["version"] == "1.0.0")
            // Whoever reads it knows whom to call.
            #expect((bodies.first?["owners"] as? [[String: String]]) == [["name": "Payments", "contact": "@payments-oncall"]])
        }
    }
}
