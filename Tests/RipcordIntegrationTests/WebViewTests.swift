import Foundation
import RipcordTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The web view (`/ui`) in a real headless Chromium against a real `ripcord serve`, driven through the
/// Chrome DevTools Protocol by Browser/ui_driver.py (navigate, evaluate, wait for a condition). Every
/// change the page must show is made through the API from outside the page, after the page is open:
/// it can only learn of it from the event stream. scripts/test.sh installs chromium.
@Suite(.serialized, .tags(.integration)) struct WebViewTests {
    static let driver = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/ui_driver.py").path

    /// Headless Chromium with one page, worked by the driver through its DevTools port.
    struct Browser {
        let process: ChildProcess
        let port: Int
        let python: String
        let directory: String

        static func start(in directory: String) async throws -> Browser {
            let profile = "\(directory)/chromium-profile"
            let process = try ChildProcess(
                try SystemProgram.require("chromium", package: "chromium"),
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    // 0: the kernel picks the port, and Chromium writes it into the profile.
                    "--remote-debugging-port=0", "--user-data-dir=\(profile)", "about:blank",
                ], outputPath: "\(directory)/chromium.log")
            var port = 0
            do {
                try await eventually("chromium to open its DevTools port", within: 30) {
                    guard let text = try? String(contentsOfFile: "\(profile)/DevToolsActivePort", encoding: .utf8),
                        let first = text.split(separator: "\n").first, let value = Int(first)
                    else { return false }
                    port = value
                    return true
                }
            } catch {
                kill(-process.pid, SIGKILL)
                throw error
            }
            return Browser(process: process, port: port, python: try SystemProgram.require("python3", package: "python3"), directory: directory)
        }

        /// Chromium and its helpers (one process group: ChildProcess starts it in a session of its own).
        func stop() {
            kill(-process.pid, SIGKILL)
            for _ in 0..<100 where process.exitStatusIfExited() == nil { usleep(20_000) }
        }

        /// One driver command; the value it printed.
        func drive(_ command: String, _ argument: String, description: String, timeout: Double = 20) async throws -> Any? {
            let log = "\(directory)/driver-\(UUID().uuidString.prefix(8)).log"
            let child = try ChildProcess(
                python, [WebViewTests.driver, "--port", String(port), "--timeout", String(timeout), command, argument], outputPath: log)
            let status = try await child.wait(within: timeout + 30)
            let output = child.output
            try? FileManager.default.removeItem(atPath: log)
            guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }),
                let result = try? JSONSerialization.jsonObject(with: Data(line.dropFirst("RESULT ".count).utf8)) as? [String: Any]
            else {
                Issue.record("the page: \(description) (ui_driver \(command), exit \(status)): \(output.suffix(3000))")
                throw CancellationError()
            }
            return result["value"]
        }

        func navigate(_ url: String) async throws { _ = try await drive("navigate", url, description: "open \(url)") }

        func evaluate(_ expression: String) async throws -> Any? { try await drive("eval", expression, description: expression) }

        /// Waits until `expression` (evaluated every 100 ms in the page) is truthy, and returns its value.
        func wait(_ description: String, _ expression: String, within seconds: Double = 20) async throws -> Any? {
            try await drive("wait", expression, description: description, timeout: seconds)
        }

        /// Fills the sign-in form and submits it.
        func signIn(_ token: String) async throws {
            _ = try await evaluate("document.getElementById('token').value = \(js(token)); document.querySelector('#sign-in-form button').click(); true")
        }
    }

    /// A JavaScript string literal.
    static func js(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), as: UTF8.self)
    }

    /// `checkout`'s row in the services table as `{stable, candidate, phase, step, weight}`, when `condition`
    /// (on `row`) holds; else null.
    static func checkoutRow(when condition: String) -> String {
        #"""
        (() => {
          const tr = document.querySelector('#services tr[data-service="checkout"]');
          if (!tr) return null;
          const text = (part) => tr.querySelector('.' + part).textContent.trim();
          const row = { stable: text('stable'), candidate: text('candidate'), phase: text('phase'), step: text('step'), weight: text('weight') };
          return (\#(condition)) ? row : null;
        })()
        """#
    }

    /// The text of every button a reader can see (hidden ones, like the sign-in form's, excepted).
    static let visibleButtons = "[...document.querySelectorAll('button')].filter((b) => b.getClientRects().length > 0).map((b) => b.textContent)"

    /// A real serve with `checkout` (canary: 50 %, then a pause until promoted, no analysis) and the
    /// flag `new-checkout` on; the flag exists before the page opens, since flag changes are not events.
    static func startServe(_ label: String) async throws -> (serve: ChildProcess, api: ServeProcessTests.API, directory: String) {
        let (directory, config, apiPort, _) = try ServeProcessTests().pausedCanaryConfig(label, steps: ["setWeight: 50", "pause: {}"])
        let serve = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log")
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        #expect(try await api.call("POST", "/api/v1/flags", body: #"{"name":"new-checkout","enabled":true}"#).0 == 201)
        return (serve, api, directory)
    }

    @Test func anAdminSeesARolloutAndItsRollbackLiveAndPullsAKillSwitch() async throws {
        _ = try SystemProgram.require("chromium", package: "chromium")
        let (serve, api, directory) = try await Self.startServe("web-view")
        defer { serve.signal(SIGTERM) }
        let browser = try await Browser.start(in: directory)
        defer { browser.stop() }
        try await browser.navigate("\(api.base)/ui")

        // A wrong token: the API's 401 brings the sign-in form back with its reason.
        try await browser.signIn("rpc_not_a_token")
        let refusal = try await browser.wait("the sign-in error", "document.getElementById('sign-in-error').textContent") as? String
        #expect(refusal == "the token is not valid")
        try await browser.signIn(api.token)
        let who = try await browser.wait(
            "signed in with the stream open and checkout listed",
            "document.getElementById('live').textContent === 'live' && \(Self.checkoutRow(when: "true")) && document.getElementById('who').textContent")
        #expect(who as? String == "admin (admin)")
        // Set once: a reload would lose it, so finding it at the end shows the page never reloaded.
        _ = try await browser.evaluate("window.__sameDocument = 'yes'")

        // The rollout, deployed from outside the page.
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        let first = try await browser.wait("1.0.0 promoted", Self.checkoutRow(when: "row.stable === '1.0.0' && row.phase === 'promoted'")) as? [String: Any]
        #expect(first?["candidate"] as? String == "—")
        let (status, deployed) = try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.1.0"}"#)
        #expect(status == 202)
        let rolloutID = try #require(deployed["id"] as? Int)
        let paused = try await browser.wait("1.1.0 paused at 50 %", Self.checkoutRow(when: "row.phase === 'paused'")) as? [String: Any]
        #expect(paused?["weight"] as? String == "50%", "\(paused ?? [:])")
        #expect(paused?["candidate"] as? String == "1.1.0" && paused?["stable"] as? String == "1.0.0")
        #expect((paused?["step"] as? String)?.hasPrefix("2/2") == true, "\(paused ?? [:])")
        let timeline =
            try await browser.wait(
                "the rollout's timeline up to the pause",
                #"""
                document.querySelector('#timeline li[data-kind="step.pauseUntilPromoted"]') && {
                  title: document.getElementById('rollout-title').textContent,
                  kinds: [...document.querySelectorAll('#timeline li')].map((li) => li.dataset.kind),
                  weight: document.querySelector('#timeline li[data-kind="step.setWeight"] dd[data-key="weight"]')?.textContent,
                  streamed: [...document.querySelectorAll('#activity li')].map((li) => li.dataset.kind),
                }
                """#) as? [String: Any]
        #expect((timeline?["title"] as? String)?.hasPrefix("Rollout #\(rolloutID): checkout 1.0.0 → 1.1.0") == true, "\(timeline ?? [:])")
        #expect(timeline?["kinds"] as? [String] == ["rollout.started", "instance.started", "candidate.ready", "step.setWeight", "step.pauseUntilPromoted"])
        #expect(timeline?["weight"] as? String == "50")
        // The live-events list is fed by the stream alone.
        #expect((timeline?["streamed"] as? [String])?.contains("step.setWeight") == true, "\(timeline ?? [:])")
        #expect(try await browser.evaluate(Self.visibleButtons) as? [String] == ["Promote", "Abort", "Kill switch"])

        // The rollback, with a reason that would be markup if the page wrote it as HTML.
        let reason = "5xx on checkout <img src=x onerror=alert(1)>"
        #expect(try await api.call("POST", "/api/v1/services/checkout/abort", body: #"{"reason":\#(Self.js(reason))}"#).0 == 202)
        let rollback =
            try await browser.wait(
                "the rollback in the timeline, the table and the report",
                #"""
                (() => {
                  const li = document.querySelector('#timeline li[data-kind="rollout.rolledBack"]');
                  const trigger = document.querySelector('#rollbacks-by-trigger tr[data-trigger="abort"]');
                  const phase = document.querySelector('#services tr[data-service="checkout"] .phase').textContent;
                  const reason = document.querySelector('#rollout-summary dd[data-fact="reason"]');
                  if (!li || !trigger || phase !== 'rolledBack' || !reason) return null;
                  const evidence = Object.fromEntries([...li.querySelectorAll('dd')].map((dd) => [dd.dataset.key, dd.textContent]));
                  return {
                    message: li.querySelector('.message').textContent, evidence,
                    reason: reason.textContent,
                    trigger: document.querySelector('#rollout-summary dd[data-fact="trigger"]').textContent,
                    report: trigger.textContent,
                    streamed: !!document.querySelector('#activity li[data-kind="rollout.rolledBack"]'),
                    images: document.querySelectorAll('img').length,
                  };
                })()
                """#) as? [String: Any]
        let evidence = rollback?["evidence"] as? [String: String]
        #expect(evidence?["trigger"] == "abort" && evidence?["candidateWeightBefore"] == "50", "\(rollback ?? [:])")
        #expect((rollback?["message"] as? String)?.contains("(abort: \(reason))") == true, "\(rollback ?? [:])")
        #expect(rollback?["reason"] as? String == reason && rollback?["trigger"] as? String == "abort")
        #expect(rollback?["report"] as? String == "abort1", "rollbacks by trigger in the delivery report")
        #expect(rollback?["streamed"] as? Bool == true)
        #expect(rollback?["images"] as? Int == 0, "API text is never parsed as HTML")

        // The kill switch, clicked in the page; the API says the flag is off.
        _ = try await browser.evaluate(#"document.querySelector('#flags tr[data-flag="new-checkout"] button[data-action="kill"]').click(); true"#)
        let killed = try await browser.wait(
            "the flag shown off",
            #"document.querySelector('#flags tr[data-flag="new-checkout"] .state').textContent === 'off' && document.getElementById('notice').textContent"#)
        #expect(killed as? String == "new-checkout is off in default (kill switch)")
        let (_, flag) = try await api.call("GET", "/api/v1/flags/new-checkout?environment=default")
        #expect(flag["enabled"] as? Bool == false, "\(flag)")

        let end =
            try await browser.evaluate("({ same: window.__sameDocument, live: document.getElementById('live').textContent, problems: window.__problems })")
            as? [String: Any]
        #expect(end?["same"] as? String == "yes", "the page was never reloaded")
        #expect(end?["live"] as? String == "live")
        #expect(end?["problems"] as? [String] == [], "no script error or policy violation")
    }

    @Test func aViewerSeesTheServicesButNoButtonAndIsRefusedChanges() async throws {
        _ = try SystemProgram.require("chromium", package: "chromium")
        let (serve, api, directory) = try await Self.startServe("web-view-viewer")
        defer { serve.signal(SIGTERM) }
        _ = try await ServeProcessTests().startPausedCanary(api)
        let (created, body) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"watcher","kind":"viewer"}"#)
        #expect(created == 201, "\(body)")
        let viewer = ServeProcessTests.API(base: api.base, token: try #require(body["token"] as? String))
        let browser = try await Browser.start(in: directory)
        defer { browser.stop() }
        try await browser.navigate("\(api.base)/ui")

        try await browser.signIn(viewer.token)
        let seen =
            try await browser.wait(
                "the paused rollout and the flag, read with the viewer token",
                #"""
                (() => {
                  const row = \#(Self.checkoutRow(when: "row.phase === 'paused'"));
                  const flag = document.querySelector('#flags tr[data-flag="new-checkout"] .state');
                  const report = document.querySelector('#report dd[data-fact="deployments"]');
                  if (!row || !flag || !report) return null;
                  return {
                    row, flag: flag.textContent, who: document.getElementById('who').textContent, live: document.getElementById('live').textContent,
                    buttons: \#(Self.visibleButtons), actions: document.querySelectorAll('[data-action], #services input').length,
                  };
                })()
                """#) as? [String: Any]
        #expect(seen?["who"] as? String == "watcher (viewer)")
        #expect(seen?["live"] as? String == "live", "a viewer follows the event stream too")
        #expect((seen?["row"] as? [String: Any])?["weight"] as? String == "50%", "\(seen ?? [:])")
        #expect(seen?["flag"] as? String == "on")
        #expect(seen?["buttons"] as? [String] == [], "a viewer gets no button: \(seen ?? [:])")
        #expect(seen?["actions"] as? Int == 0)

        // What the buttons would do is refused to the token itself.
        let (aborted, refusal) = try await viewer.call("POST", "/api/v1/services/checkout/abort", body: #"{"reason":"watching only"}"#)
        #expect(aborted == 403 && (refusal["error"] as? [String: Any])?["code"] as? String == "forbidden", "\(refusal)")
        #expect(try await viewer.call("POST", "/api/v1/flags/new-checkout/disable?environment=default").0 == 403)
        #expect(try await viewer.call("GET", "/api/v1/tokens").0 == 403)
        #expect(try await api.rollout(of: "checkout")["phase"] as? String == "paused", "the rollout goes on")
        #expect(try await api.call("GET", "/api/v1/flags/new-checkout").1["enabled"] as? Bool == true)

        // The same page signed in as an admin offers them: the viewer's page lacked them for its kind.
        _ = try await browser.evaluate("document.getElementById('sign-out').click(); true")
        try await browser.signIn(api.token)
        let buttons = try await browser.wait(
            "the admin's buttons", "document.getElementById('who').textContent === 'admin (admin)' && (b => b.length === 3 && b)(\(Self.visibleButtons))")
        #expect(buttons as? [String] == ["Promote", "Abort", "Kill switch"])
        #expect(try await browser.evaluate("window.__problems") as? [String] == [], "no script error or policy violation")
    }
}
