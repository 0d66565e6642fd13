import Foundation
import RipcordConfig
import RipcordCore
import RipcordTestSupport
import Testing

@Suite(.tags(.unit)) struct ConfigLoaderTests: ConfigParsing {
    static let valid = """
        api:
          listen: 127.0.0.1:7171
        services:
          checkout:
            listen: 127.0.0.1:8080
            run:
              command: "./checkout --port {port} --version '{version}'"
              workingDirectory: apps
              environment:
                MODE: production
            instances: 3
            healthCheck:
              path: /healthz
              interval: 2s
              timeout: 500ms
              healthyThreshold: 2
              unhealthyThreshold: 4
            startupDeadline: 45s
            progressDeadline: 5m
            strategy:
              canary:
                steps:
                  - setWeight: 10
                  - pause: { duration: 30s }
                  - analysis: { passes: 5 }
                  - pause: {}
            analysis:
              interval: 2s
              minRequests: 50
              failureLimit: 1
              maxErrorRate: 2%
              maxLatency:
                p99: 300ms
                p50: 50ms
          payments:
            listen: 127.0.0.1:8081
            run:
              command: "payments {port}"
            strategy:
              blueGreen:
                previewListen: 127.0.0.1:9081
                autoPromotionAfter: 1m
                scaleDownDelay: 30s
          search:
            listen: 127.0.0.1:8082
            run: { command: "search {port}" }
            strategy: { preset: canary10Percent5Minutes }
            analysis: { interval: 5s }
        """

    /// Each default has one home, the model: what a file leaves out is what the initializers give.
    @Test func settingsLeftOutTakeTheModelsDefaults() throws {
        let config = try parse(
            """
            services:
              checkout:
                listen: 127.0.0.1:8080
                run: { command: "./checkout {port}" }
                strategy: { canary: { steps: [{ analysis: {} }] } }
                hooks: [{ name: smoke, at: afterStep, command: ./smoke }]
                analysis:
                  metrics:
                    - name: latency
                      prometheus: { address: "http://127.0.0.1:9090", query: q, range: { duration: 1m } }
                      successCondition: result < 1
            """)
        #expect(config.api == RipcordConfiguration.defaultAPI && config.stateDirectory == "/etc/ripcord/.ripcord")
        #expect(config.traffic == RipcordConfiguration.defaultTraffic)
        let service = try #require(config.services.first)
        let model = ServiceSpec(name: "checkout", listen: service.listen, run: service.run)
        #expect(service.instances == model.instances && service.startupDeadline == model.startupDeadline)
        #expect(service.guardWindow == model.guardWindow && service.driver == model.driver && service.healthCheck == model.healthCheck)
        #expect(service.strategy == .canary(CanarySpec(steps: [.analysis(passes: CanaryStep.defaultAnalysisPasses)])))
        #expect(service.hooks.first?.timeout == HookSpec(name: "smoke", point: .afterStep, action: .command("./smoke")).timeout)
        let range = PrometheusRange(duration: .seconds(60))
        guard case let .prometheus(_, _, loaded)? = service.analysis?.metrics.first?.provider else {
            Issue.record("expected a Prometheus metric")
            return
        }
        #expect(loaded == range)
    }

    @Test func readsAFullConfiguration() throws {
        let config = try parse(Self.valid)
        #expect(config.api == HostPort(host: "127.0.0.1", port: 7171))
        #expect(config.stateDirectory == "/etc/ripcord/.ripcord")
        #expect(config.services.map(\.name) == ["checkout", "payments", "search"])
        let checkout = try #require(config.service(named: "checkout"))
        #expect(checkout.instances == 3)
        #expect(checkout.run.workingDirectory == "/etc/ripcord/apps")
        #expect(checkout.run.environment == ["MODE": "production"])
        #expect(checkout.run.arguments(version: try SemanticVersion(parsing: "1.1.0"), port: 4000) == ["./checkout", "--port", "4000", "--version", "1.1.0"])
        #expect(
            checkout.healthCheck
                == HealthCheckSpec(
                    path: "/healthz", interval: .seconds(2), timeout: .milliseconds(500),
                    healthyThreshold: 2, unhealthyThreshold: 4))
        #expect(checkout.strategy == .canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(30)), .analysis(passes: 5), .pause(nil)])))
        #expect(checkout.analysis?.maxErrorRate == 0.02)
        #expect(checkout.analysis?.maxLatency.map(\.label) == ["p50", "p99"])
        #expect(checkout.progressDeadline == .seconds(300))
        let payments = try #require(config.service(named: "payments"))
        #expect(
            payments.strategy
                == .blueGreen(
                    BlueGreenSpec(
                        previewListen: HostPort(host: "127.0.0.1", port: 9081),
                        autoPromotionAfter: .seconds(60), scaleDownDelay: .seconds(30))))
        #expect(config.service(named: "search")?.strategy == Strategy.preset(named: "canary10Percent5Minutes"))
    }

    @Test func aCanaryWithoutAnalysisIsRefusedUnlessWrittenUnanalyzed() throws {
        let withoutAnalysis = String(Self.valid[..<Self.valid.range(of: "    analysis:\n      interval: 2s")!.lowerBound])
        let error = try #require(self.error(withoutAnalysis))
        #expect(error.key == "services.checkout.strategy" && error.line == 21)
        #expect(error.message.contains("promoted on time alone") && error.message.contains("unanalyzed: true"))
        let consented = withoutAnalysis.replacingOccurrences(of: "      canary:\n", with: "      canary:\n        unanalyzed: true\n")
        let config = try parse(consented)
        #expect(
            config.services[0].strategy
                == .canary(
                    CanarySpec(
                        steps: [.setWeight(10), .pause(.seconds(30)), .analysis(passes: 5), .pause(nil)],
                        unanalyzed: true)))
    }

    @Test func evidenceSettingsAndTheProportionalProgressDeadline() throws {
        let text = Self.valid.replacingOccurrences(of: "    progressDeadline: 5m\n", with: "")
            .replacingOccurrences(of: "      failureLimit: 1\n", with: "      failureLimit: 1\n      minPassedWindows: 2\n      onNoEvidence: pause\n")
        let service = try parse(text).services[0]
        #expect(service.analysis?.minPassedWindows == 2 && service.analysis?.onNoEvidence == .pause)
        // A 30 s pause, and 2 × 2 s × 2 windows for each of the four steps: below the 2-minute floor.
        #expect(service.progressDeadline == .seconds(120))
        // With 20 s windows: 30 s + 4 × 2 × 20 s × 2.
        let slow = try parse(text.replacingOccurrences(of: "    analysis:\n      interval: 2s", with: "    analysis:\n      interval: 20s")).services[0]
        #expect(slow.progressDeadline == .seconds(350))
        let bad = try #require(self.error(text.replacingOccurrences(of: "onNoEvidence: pause", with: "onNoEvidence: promote")))
        #expect(bad.key == "services.checkout.analysis.onNoEvidence" && bad.message.contains("rollback or pause"))
    }

    @Test func unknownKeyNamesFileLineAndKey() throws {
        let text = Self.valid.replacingOccurrences(of: "      timeout: 500ms", with: "      timeout: 500ms\n      intervall: 3s")
        let error = try #require(self.error(text))
        #expect(error.file == "ripcord.yaml")
        #expect(error.line == 16)
        #expect(error.key == "services.checkout.healthCheck.intervall")
        #expect(error.message.contains("unknown key"))
        #expect(error.description.hasPrefix("ripcord.yaml:16:"))
    }

    @Test func badValuesNameTheirKey() throws {
        let cases: [(String, String, String, Int)] = [
            ("setWeight: 10", "setWeight: 110", "services.checkout.strategy.canary.steps[0].setWeight", 23),
            ("duration: 30s", "duration: soon", "services.checkout.strategy.canary.steps[1].pause.duration", 24),
            ("listen: 127.0.0.1:8080", "listen: localhost", "services.checkout.listen", 5),
            ("instances: 3", "instances: three", "services.checkout.instances", 11),
            ("maxErrorRate: 2%", "maxErrorRate: 200%", "services.checkout.analysis.maxErrorRate", 31),
            ("p99: 300ms", "q99: 300ms", "services.checkout.analysis.maxLatency.q99", 33),
            ("preset: canary10Percent5Minutes", "preset: yolo", "services.search.strategy.preset", 47),
        ]
        for (original, replacement, key, line) in cases {
            let error = try #require(self.error(Self.valid.replacingOccurrences(of: original, with: replacement)), "\(replacement)")
            #expect(error.key == key, "\(replacement)")
            #expect(error.line == line, "\(replacement)")
        }
    }

    @Test func missingRequiredKeysAndPortPlaceholder() throws {
        let noRun = try #require(error("services:\n  a:\n    listen: 127.0.0.1:1\n"))
        #expect(noRun.key == "services.a" && noRun.message.contains("'run'"))
        let noPort = try #require(error("services:\n  a:\n    listen: 127.0.0.1:1\n    run: { command: app }\n"))
        #expect(noPort.key == "services.a.run.command" && noPort.message.contains("{port}"))
    }

    @Test func rejectsAmbiguousStrategiesAndStepsAndDuplicatePorts() throws {
        let both = Self.valid.replacingOccurrences(
            of: "strategy: { preset: canary10Percent5Minutes }",
            with: "strategy: { preset: allAtOnce, canary: { steps: [] } }")
        #expect(try #require(error(both)).key == "services.search.strategy")
        let twoKinds = Self.valid.replacingOccurrences(of: "- setWeight: 10", with: "- { setWeight: 10, pause: {} }")
        #expect(try #require(error(twoKinds)).key == "services.checkout.strategy.canary.steps[0]")
        let clash = Self.valid.replacingOccurrences(of: "listen: 127.0.0.1:8081", with: "listen: 127.0.0.1:8080")
        #expect(try #require(error(clash)).message.contains("already used"))
    }

    @Test func yamlSyntaxErrorsHaveALine() throws {
        let error = try #require(self.error("services:\n  a:\n    listen: [unclosed\n"))
        #expect(error.line >= 3)
        #expect(error.message.contains("YAML"))
    }

    @Test func sequentialJudgeAndGuardWindow() throws {
        let base = "services:\n  a:\n    listen: 127.0.0.1:1\n    run: { command: 'a {port}' }\n"
        let config = try parse(base + "    guardWindow: 10m\n    analysis:\n      judge: sequential\n      sequential: { alpha: 2%, minLatencyIncrease: 30% }\n")
        let service = try #require(config.service(named: "a"))
        #expect(service.guardWindow == .seconds(600))
        #expect(service.analysis?.judge == .sequential(SequentialJudgeSpec(alpha: 0.02, minErrorRateIncrease: 0.01, minLatencyIncrease: 0.3)))
        let orphan = try #require(error(base + "    analysis:\n      sequential: { alpha: 2% }\n"))
        #expect(orphan.key == "services.a.analysis.sequential" && orphan.message.contains("judge: sequential"))
        let unknown = try #require(error(base + "    analysis:\n      judge: magic\n"))
        #expect(unknown.key == "services.a.analysis.judge")
    }

    @Test func canaryBaselineJudgeStartsABaselineUnlessToldNot() throws {
        let base = "services:\n  a:\n    listen: 127.0.0.1:1\n    run: { command: 'a {port}' }\n    analysis:\n"
        let config = try parse(base + "      judge: canaryBaseline\n      canaryBaseline: { confidenceLevel: 99%, passScore: 90, latencyTolerance: 20% }\n")
        let analysis = try #require(config.service(named: "a")?.analysis)
        #expect(analysis.baseline)
        #expect(analysis.judge == .canaryBaseline(CanaryBaselineJudgeSpec(confidenceLevel: 0.99, passScore: 90, latencyTolerance: 0.2)))
        let againstStable = try parse(base + "      judge: canaryBaseline\n      baseline: false\n")
        #expect(againstStable.service(named: "a")?.analysis?.baseline == false)
        let sequentialWithBaseline = try parse(base + "      judge: sequential\n      baseline: true\n")
        #expect(sequentialWithBaseline.service(named: "a")?.analysis?.baseline == true)
        let inverted = try #require(error(base + "      judge: canaryBaseline\n      canaryBaseline: { passScore: 60, marginalScore: 80 }\n"))
        #expect(inverted.key == "services.a.analysis.canaryBaseline.marginalScore" && inverted.message.contains("above passScore"))
        let notBool = try #require(error(base + "      baseline: yes please\n"))
        #expect(notBool.key == "services.a.analysis.baseline" && notBool.line == 6)
    }

    @Test func notificationsAreReadWithDefaultsAndCheckedURLs() throws {
        let service = "services:\n  a:\n    listen: 127.0.0.1:1\n    run: { command: 'a {port}' }\n"
        let config = try parse(
            service + """
                notifications:
                  - { name: chat, url: "https://chat.example/hooks/x", format: slack, headers: { Authorization: "Bearer t" } }
                  - { name: audit, url: "http://127.0.0.1:9/events", events: [guard.triggered], timeout: 1s }
                """)
        #expect(
            config.notifications == [
                NotificationSpec(name: "chat", url: "https://chat.example/hooks/x", format: .slack, headers: ["Authorization": .literal("Bearer t")]),
                NotificationSpec(name: "audit", url: "http://127.0.0.1:9/events", events: ["guard.triggered"], timeout: .seconds(1)),
            ])
        let badURL = try #require(error(service + "notifications:\n  - { name: x, url: ftp://host/x }\n"))
        #expect(badURL.key == "notifications[0].url" && badURL.line == 6 && badURL.message.contains("http://"))
        let badFormat = try #require(error(service + "notifications:\n  - { name: x, url: http://h/x, format: xml }\n"))
        #expect(badFormat.key == "notifications[0].format" && badFormat.message.contains("json, slack"))
        let misspelt = try #require(error(service + "notifications:\n  - { name: x, url: http://h/x, events: [rollout.promoted, rollout.rolledback] }\n"))
        #expect(misspelt.key == "notifications[0].events[1]" && misspelt.line == 6 && misspelt.message.contains("unknown event kind 'rollout.rolledback'"))
        #expect(misspelt.message.contains("rollout.rolledBack"), "the known kinds are listed")
        let twice = try #require(error(service + "notifications:\n  - { name: x, url: http://h/x }\n  - { name: x, url: http://h/y }\n"))
        #expect(twice.message.contains("two notifications are named 'x'"))
    }

    @Test func invalidServiceNamesAreRejected() throws {
        let error = try #require(self.error("services:\n  Bad_Name:\n    listen: 127.0.0.1:1\n    run: { command: 'a {port}' }\n"))
        #expect(error.key == "services.Bad_Name")
    }

    @Test func declaredFlagsAreReadWithTheirEnvironmentAndChecked() throws {
        let service = "services:\n  a:\n    listen: 127.0.0.1:1\n    run: { command: 'a {port}' }\n"
        let config = try parse(service + "    flags: [new-checkout-flow, { name: beta-banner, environment: staging }]\n")
        #expect(config.services[0].flags == [DeclaredFlag(name: "new-checkout-flow"), DeclaredFlag(name: "beta-banner", environment: "staging")])
        #expect(try parse(service).services[0].flags.isEmpty)
        let twice = try #require(error(service + "    flags:\n      - checkout\n      - checkout\n"))
        #expect(twice.key == "services.a.flags[1]" && twice.line == 7 && twice.message.contains("declared twice"))
        let badEnvironment = try #require(error(service + "    flags: [{ name: x, environment: 'no spaces' }]\n"))
        #expect(badEnvironment.key == "services.a.flags[0].environment" && badEnvironment.line == 5)
        let unknownKey = try #require(error(service + "    flags: [{ name: x, env: prod }]\n"))
        #expect(unknownKey.key == "services.a.flags[0].env")
        let slash = try #require(error(service + "    flags: [a/b]\n"))
        #expect(slash.key == "services.a.flags[0]" && slash.message.contains("'/'"))
    }

    @Test func anAnalysisFileHasTheKeysOfAServicesAnalysis() throws {
        let analysis = try ConfigLoader.parseAnalysis("interval: 2s\nmaxErrorRate: 2%\nmaxLatency: { p99: 400ms }\n", file: "analysis.yaml")
        #expect(analysis.interval == .seconds(2) && analysis.maxErrorRate == 0.02 && analysis.maxLatency.map(\.label) == ["p99"])
        do {
            _ = try ConfigLoader.parseAnalysis("interval: 2s\nmaxErrorRat: 2%\n", file: "analysis.yaml")
            Issue.record("an unknown key was accepted")
        } catch let error as ConfigError {
            #expect(error.file == "analysis.yaml" && error.line == 2 && error.key == "maxErrorRat", "\(error)")
        }
    }

    @Test func corsAllowedOriginsAreOriginsOrAStar() throws {
        let api = "api:\n  listen: 127.0.0.1:7171\n"
        let rest = Self.valid.replacingOccurrences(of: "api:\n  listen: 127.0.0.1:7171\n", with: "")
        #expect(try parse(Self.valid).corsAllowedOrigins.isEmpty, "no cross-origin access unless configured")
        let config = try parse(api + "  cors:\n    allowedOrigins: [\"https://app.example.com\", \"http://127.0.0.1:5173\"]\n" + rest)
        #expect(config.corsAllowedOrigins == ["https://app.example.com", "http://127.0.0.1:5173"])
        #expect(try parse(api + "  cors: { allowedOrigins: [\"*\"] }\n" + rest).corsAllowedOrigins == ["*"])
        for bad in ["https://app.example.com/", "https://app.example.com/path", "app.example.com", "ftp://files.example.com"] {
            let error = try #require(self.error(api + "  cors: { allowedOrigins: [\"\(bad)\"] }\n" + rest), "\(bad)")
            #expect(error.key == "api.cors.allowedOrigins[0]" && error.message.contains("not an origin"), "\(bad): \(error)")
        }
        #expect(self.error(api + "  cors: { origins: [\"*\"] }\n" + rest)?.key == "api.cors.origins")
    }
}

/// `owners`: who answers for a service (runbooks and notifications name them).
@Suite(.tags(.unit)) struct OwnerConfigTests: ConfigParsing {
    static func config(_ owners: String) -> String {
        """
        services:
          checkout:
            listen: 127.0.0.1:8080
            run: { command: "run {port}" }
            owners: \(owners)
        """
    }

    @Test func ownersAreReadInOrder() throws {
        let config = try parse(Self.config(##"[ { name: Payments, contact: "#payments-oncall" }, { name: Ana, contact: ana@example.com } ]"##))
        #expect(config.services[0].owners == [ServiceOwner(name: "Payments", contact: "#payments-oncall"), ServiceOwner(name: "Ana", contact: "ana@example.com")])
        #expect(try parse(Self.config("[]")).services[0].owners.isEmpty)
    }

    @Test func anOwnerWithoutContactOrWithUnknownKeysNamesLineAndKey() throws {
        let missing = try #require(error(Self.config("[ { name: Payments } ]")))
        #expect(missing.line == 5 && missing.key == "services.checkout.owners[0]" && missing.message.contains("contact"), "\(missing)")
        let unknown = try #require(error(Self.config("[ { name: Payments, contact: x, pager: y } ]")))
        #expect(unknown.key == "services.checkout.owners[0].pager" && unknown.message.contains("unknown key"), "\(unknown)")
        let empty = try #require(error(Self.config(#"[ { name: "", contact: x } ]"#)))
        #expect(empty.key == "services.checkout.owners[0].name", "\(empty)")
    }
}
