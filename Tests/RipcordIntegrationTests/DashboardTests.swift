import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordDrivers
import RipcordLoadGenerator
import RipcordTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The Grafana dashboard in dashboards/grafana: well formed, and every query in it answered with data by a real
/// Prometheus scraping a real `ripcord serve` that promoted a release and rolled two back.
@Suite(.serialized, .tags(.integration)) struct DashboardTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("dashboards/grafana/ripcord.json").path

    /// What Grafana puts in place of its variables: `$service` as "All" (the variable's allValue) or one service,
    /// the time range and intervals as they would be for a short range.
    static func grafanaVariables(service: String) -> [String: String] {
        [
            "service": service, "datasource": "prometheus", "__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000",
            "__range": "10m", "__range_s": "600", "__range_ms": "600000",
        ]
    }

    @Test func theDashboardIsWellFormed() throws {
        let dashboard = try Dashboard(contentsOf: Self.file)
        #expect((dashboard.json["schemaVersion"] as? Int ?? 0) >= 36, "a dashboard of Grafana 9 or later")
        #expect(!(dashboard.json["title"] as? String ?? "").isEmpty && !(dashboard.json["uid"] as? String ?? "").isEmpty)
        let datasource = try #require(dashboard.variables.first { $0["name"] as? String == "datasource" }, "a datasource variable")
        #expect(datasource["type"] as? String == "datasource" && datasource["query"] as? String == "prometheus")
        let service = try #require(dashboard.variables.first { $0["name"] as? String == "service" }, "a service variable")
        #expect(Dashboard.labelValues(service)?.label == "service", "the service variable lists the service label's values")
        #expect(service["includeAll"] as? Bool == true && service["allValue"] as? String == ".*")

        var ids: [Int: String] = [:]
        for panel in dashboard.panels {
            let title = panel["title"] as? String ?? ""
            #expect(!title.trimmingCharacters(in: .whitespaces).isEmpty, "panel \(panel["id"] ?? "?") has a title")
            guard let id = panel["id"] as? Int else {
                Issue.record("panel “\(title)” has no id")
                continue
            }
            if let other = ids[id] { Issue.record("panels “\(other)” and “\(title)” share id \(id)") }
            ids[id] = title
            guard panel["type"] as? String != "row" else { continue }
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "panel “\(title)” has a query")
            for target in targets {
                #expect(!(target["expr"] as? String ?? "").isEmpty, "panel “\(title)” target \(target["refId"] ?? "?") has an expr")
                let uid = (target["datasource"] as? [String: Any] ?? panel["datasource"] as? [String: Any])?["uid"] as? String
                #expect(uid == "${datasource}", "panel “\(title)” queries the chosen Prometheus")
            }
        }
        for query in dashboard.queries {
            let (_, unknown) = Dashboard.interpolate(query.expr, Self.grafanaVariables(service: ".*"))
            #expect(unknown.isEmpty, "\(query.owner) uses unknown variables \(unknown): \(query.expr)")
            #expect(!Dashboard.metricNames(query.expr).isEmpty, "\(query.owner) names a Ripcord metric: \(query.expr)")
        }
    }

    @Test func everyQueryReturnsDataFromPrometheusScrapingARealServe() async throws {
        let dashboard = try Dashboard(contentsOf: Self.file)
        let directory = try temporaryDirectory("dashboard")
        try Self.writeReleases(directory)
        let apiPort = try FreePort.allocate()
        let prometheusPort = try FreePort.allocate()
        // Nothing listens on the webhook's port: every notification fails (and is counted).
        let deadPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        // Real traffic too thin for a window at 50 % (8 requests/s), so synthetic traffic judges each candidate.
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        notifications:
          - { name: ops, url: "http://127.0.0.1:\(deadPort)/hook", events: [rollout.rolledBack], timeout: 300ms }
        services:
          checkout:
            listen: 127.0.0.1:0
            run:
              command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}"
              environment: { RIPCORD_SAMPLE_FAULTS: "1.2.0=errorRate:0.6;1.2.1=errorRate:0.6" }
            healthCheck: { interval: 200ms }
            guardWindow: 5s
            flags: [new-checkout-flow]
            migrations: { folder: "\(directory)/releases/{version}", sqlite: "\(directory)/app.db" }
            hooks:
              - { name: smoke, at: afterStart, command: "true", timeout: 10s }
            strategy:
              canary:
                steps: [ { setWeight: 50 }, { pause: {} } ]
            analysis:
              interval: 500ms
              minRequests: 10
              maxErrorRate: 10%
              syntheticTraffic: { rps: 40 }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let tokenFile = "\(directory)/.ripcord/admin.token"
        let running = Running(server: try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log"))
        let started = Date()
        do {
            let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: tokenFile)
            try PrometheusStack.writeInstanceTargets(directory: directory, addresses: [])
            running.stack = try PrometheusStack.start(
                directory: directory, prometheusPort: prometheusPort, apiAddress: "127.0.0.1:\(apiPort)", tokenFile: tokenFile)
            let prometheus = PrometheusQueries(base: "http://127.0.0.1:\(prometheusPort)")
            try await PrometheusStack.waitForSeries("ripcord_controller_leader", prometheusPort: prometheusPort)

            try await drive(api, prometheus, running)

            // Everything serve counted is in two scrapes Prometheus took afterwards (a rate or an increase needs two
            // samples of a series, and the last counters appeared just now).
            var after = Date().timeIntervalSince1970
            for scrape in ["a", "another"] {
                try await eventually("Prometheus to take \(scrape) scrape after the last rollout") {
                    let last = try await prometheus.instant("timestamp(ripcord_controller_leader)").values.first ?? 0
                    guard last > after else { return false }
                    after = last
                    return true
                }
            }
            try await check(dashboard, prometheus, from: started)
        } catch {
            Issue.record("serve log: \(running.server.output.suffix(3000))\n\(running.stack?.logs ?? "")")
            await running.stop()
            throw error
        }
        await running.stop()
    }

    /// A promotion (1.0.0), two rollbacks of faulty releases under load (1.2.0, 1.2.1), a promotion judged on synthetic
    /// traffic (1.1.0) and its guard window; every rollback with a migration undone, a declared flag turned off and a
    /// notification that fails. Prometheus sees each counter before it grows again, so increases over the range are real.
    func drive(_ api: ServeProcessTests.API, _ prometheus: PrometheusQueries, _ running: Running) async throws {
        #expect(try await api.call("POST", "/api/v1/flags", body: #"{"name":"new-checkout-flow","enabled":true}"#).0 == 201)
        #expect(try await finish(api, try await deploy(api, "1.0.0")) == "promoted")
        let frontDoor = try #require(try await api.call("GET", "/api/v1/services/checkout").1["listen"] as? String)
        let load = LoadGenerator(url: "http://\(frontDoor)/", requestsPerSecond: 8, concurrency: 2)
        running.load = load
        running.traffic = Task { await load.run() }

        #expect(try await finish(api, try await deploy(api, "1.2.0")) == "rolledBack")
        for expr in [
            #"ripcord_rollback_restoration_seconds_count{service="checkout"} == 1"#,
            #"ripcord_flags_disabled_by_rollback_total{service="checkout"} == 1"#,
            #"ripcord_notification_failures_total{service="checkout"} >= 1"#,
            #"ripcord_migrations_total{service="checkout",outcome="undone"} == 1"#,
        ] {
            try await eventually("Prometheus to have scraped \(expr)") { !(try await prometheus.instant(expr).values.isEmpty) }
        }
        #expect(try await api.call("POST", "/api/v1/flags/new-checkout-flow/enable").0 == 200)
        #expect(try await finish(api, try await deploy(api, "1.2.1")) == "rolledBack")

        let healthy = try await deploy(api, "1.1.0")
        try await eventually("1.1.0 paused at 50 %") { try await phase(api, healthy) == "paused" }
        try await eventually("Prometheus to have scraped synthetic requests twice") {
            let expr = #"count_over_time(ripcord_synthetic_requests_total{service="checkout",version="1.1.0"}[1m]) >= 2"#
            return !(try await prometheus.instant(expr).values.isEmpty)
        }
        #expect(try await api.call("POST", "/api/v1/services/checkout/promote").0 == 202)
        #expect(try await finish(api, healthy) == "promoted")
        try await eventually("every rollout counted, the guard window over, the notifications failed") {
            let exposition = try await scrape(api)
            return sample(exposition, #"ripcord_guard_windows_total{service="checkout",result="passed"}"#) == 1
                && sample(exposition, #"ripcord_rollback_restoration_seconds_count{service="checkout"}"#) == 2
                && sample(exposition, #"ripcord_flags_disabled_by_rollback_total{service="checkout"}"#) == 2
                && sample(exposition, #"ripcord_notification_failures_total{service="checkout"}"#) == 2
        }
    }

    /// Runs every panel's and annotation's query as Grafana would, for all services and for `checkout`, and records
    /// each that fails, answers nothing, answers only NaN, or names a metric Prometheus never scraped from Ripcord.
    func check(_ dashboard: Dashboard, _ prometheus: PrometheusQueries, from start: Date) async throws {
        let scraped = Set(try await prometheus.labelValues("__name__").filter { $0.hasPrefix("ripcord_") })
        #expect(scraped.count > 20, "Prometheus scraped Ripcord's metrics: \(scraped.sorted())")
        let queries = dashboard.queries
        #expect(queries.count >= 20, "\(queries.count) queries")
        var failures: [String] = []
        for query in queries {
            for name in Dashboard.metricNames(query.expr) where !scraped.contains(name) {
                failures.append("\(query.owner): \(name) is not a metric Ripcord exposes: \(query.expr)")
            }
            for service in [".*", "checkout"] {
                let (expr, unknown) = Dashboard.interpolate(query.expr, Self.grafanaVariables(service: service))
                guard unknown.isEmpty else {
                    failures.append("\(query.owner): unknown variables \(unknown): \(query.expr)")
                    break
                }
                let answer =
                    query.isAnnotation
                    ? try await prometheus.range(expr, from: start, step: 5) : try await prometheus.instant(expr)
                if answer.status != "success" {
                    failures.append("\(query.owner) with service=\(service): \(answer.status) \(answer.error ?? ""): \(expr)")
                } else if answer.values.isEmpty {
                    failures.append("\(query.owner) with service=\(service): no data: \(expr)")
                } else if !answer.values.contains(where: \.isFinite) {
                    failures.append("\(query.owner) with service=\(service): only NaN or infinite values \(answer.values): \(expr)")
                }
            }
        }
        // The families the dashboard shows are every family Ripcord exposes: a new or renamed metric gets a panel.
        let shown = Set(queries.flatMap { Dashboard.metricNames($0.expr) }.map(Dashboard.family))
        for family in Set(scraped.map(Dashboard.family)).subtracting(shown).sorted() {
            failures.append("no panel shows \(family)")
        }
        // The service variable's own query.
        if let service = dashboard.variables.first(where: { $0["name"] as? String == "service" }), let query = Dashboard.labelValues(service) {
            let values = try await prometheus.labelValues(query.label, match: query.metric)
            if !values.contains("checkout") { failures.append("variable service: label_values(\(query.metric), \(query.label)) lists \(values)") }
        } else {
            failures.append("no service variable of the form label_values(metric, label)")
        }
        for failure in failures { Issue.record("\(failure)") }
    }

    func deploy(_ api: ServeProcessTests.API, _ version: String) async throws -> Int {
        let (status, rollout) = try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"\#(version)"}"#)
        #expect(status == 202, "deploy \(version): \(rollout)")
        return try #require(rollout["id"] as? Int)
    }

    func phase(_ api: ServeProcessTests.API, _ id: Int) async throws -> String? {
        (try await api.call("GET", "/api/v1/rollouts/\(id)").1["rollout"] as? [String: Any])?["phase"] as? String
    }

    /// Waits for the rollout to be promoted or rolled back and returns which.
    func finish(_ api: ServeProcessTests.API, _ id: Int) async throws -> String? {
        try await eventually("rollout \(id) to finish") { ["promoted", "rolledBack"].contains(try await phase(api, id)) }
        return try await phase(api, id)
    }

    func scrape(_ api: ServeProcessTests.API) async throws -> String {
        var request = HTTPClientRequest(url: api.base + "/metrics")
        request.headers.add(name: "authorization", value: "Bearer \(api.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 22))
    }

    /// The value of one sample of the exposition (0 when absent).
    func sample(_ exposition: String, _ series: String) -> Double {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") { return Double(line.dropFirst(series.count + 1)) ?? 0 }
        return 0
    }

    /// Each version's migrations as it would ship them: 1.2.x add a column their rollbacks drop again.
    static func writeReleases(_ directory: String) throws {
        let create = [
            "V1__create_orders.sql": "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER);\n",
            "U1__create_orders.sql": "-- ripcord:allow drop-table undo-drops-created\nDROP TABLE orders;\n",
        ]
        let addNote = [
            "V2__add_note.sql": "ALTER TABLE orders ADD COLUMN note TEXT;\n",
            "U2__add_note.sql": "-- ripcord:allow drop-column undo-drops-created\nALTER TABLE orders DROP COLUMN note;\n",
        ]
        for (version, files) in ["1.0.0": create, "1.1.0": create, "1.2.0": create.merging(addNote) { $1 }, "1.2.1": create.merging(addNote) { $1 }] {
            let folder = "\(directory)/releases/\(version)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (name, sql) in files { try sql.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
        }
    }

    /// What the test started, stopped whatever happens.
    final class Running {
        let server: ChildProcess
        var stack: PrometheusStack?
        var load: LoadGenerator?
        var traffic: Task<Void, Never>?

        init(server: ChildProcess) { self.server = server }

        func stop() async {
            traffic?.cancel()
            await traffic?.value
            await load?.shutdown()
            try? await stack?.stop()
            // serve stops its instances on SIGTERM.
            server.signal(SIGTERM)
            if (try? await server.wait()) == nil { server.signal(SIGKILL) }
        }
    }
}

/// A Grafana dashboard's JSON: its panels (those in collapsed rows too), variables and queries.
struct Dashboard {
    struct Query {
        /// Which panel (or annotation) and target, for messages.
        var owner: String
        var expr: String
        var isAnnotation = false
    }

    let json: [String: Any]

    init(contentsOf path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(path) holds a JSON object")
    }

    var panels: [[String: Any]] {
        (json["panels"] as? [[String: Any]] ?? []).flatMap { [$0] + ($0["panels"] as? [[String: Any]] ?? []) }
    }

    var variables: [[String: Any]] { (json["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] }

    var queries: [Query] {
        var queries: [Query] = []
        for panel in panels {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                guard let expr = target["expr"] as? String else { continue }
                queries.append(Query(owner: "panel \(panel["id"] ?? "?") “\(panel["title"] ?? "")” target \(target["refId"] ?? "?")", expr: expr))
            }
        }
        for annotation in (json["annotations"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
            guard let expr = annotation["expr"] as? String else { continue }
            queries.append(Query(owner: "annotation “\(annotation["name"] ?? "")”", expr: expr, isAnnotation: true))
        }
        return queries
    }

    /// The metric and label of a `label_values(metric, label)` variable.
    static func labelValues(_ variable: [String: Any]) -> (metric: String, label: String)? {
        let text = variable["definition"] as? String ?? (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String ?? ""
        guard text.hasPrefix("label_values("), text.hasSuffix(")") else { return nil }
        let arguments = text.dropFirst("label_values(".count).dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return arguments.count == 2 ? (arguments[0], arguments[1]) : nil
    }

    /// `text` with `$name`, `${name}` and `${name:format}` replaced as Grafana would; the names it does not know.
    static func interpolate(_ text: String, _ variables: [String: String]) -> (text: String, unknown: [String]) {
        var out = ""
        var unknown: [String] = []
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            var after = rest[rest.index(after: dollar)...]
            let name: Substring
            if after.first == "{", let close = after.firstIndex(of: "}") {
                name = after[after.index(after: after.startIndex)..<close].prefix { $0 != ":" }
                after = after[after.index(after: close)...]
            } else {
                name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                after = after.dropFirst(name.count)
            }
            if let value = variables[String(name)] {
                out += value
            } else {
                unknown.append(String(name))
                out += "$" + name
            }
            rest = after
        }
        return (out + rest, unknown)
    }

    /// The `ripcord_…` metric names an expression reads.
    static func metricNames(_ expr: String) -> Set<String> {
        var names = Set<String>()
        var rest = Substring(expr)
        while let found = rest.range(of: "ripcord_") {
            let name = rest[found.lowerBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            let before = found.lowerBound == rest.startIndex ? nil : rest[rest.index(before: found.lowerBound)]
            if !(before.map { $0.isLetter || $0.isNumber || $0 == "_" } ?? false) { names.insert(String(name)) }
            rest = rest[name.endIndex...]
        }
        return names
    }

    /// A histogram's series name without its `_bucket`, `_sum` or `_count`.
    static func family(_ name: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
        return name
    }
}

/// Prometheus' HTTP API.
struct PrometheusQueries {
    let base: String

    struct Answer {
        var status: String
        var error: String?
        /// Every sample of every series (a range query's too).
        var values: [Double]
    }

    func instant(_ expr: String) async throws -> Answer {
        answer(try await get("/api/v1/query", [("query", expr)]))
    }

    /// A range query from `start` to now, as Grafana runs annotations.
    func range(_ expr: String, from start: Date, step: Int) async throws -> Answer {
        let now = Date().timeIntervalSince1970
        return answer(
            try await get(
                "/api/v1/query_range",
                [("query", expr), ("start", String(Int(start.timeIntervalSince1970) - 60)), ("end", String(Int(now) + 1)), ("step", String(step))]))
    }

    func labelValues(_ label: String, match: String? = nil) async throws -> [String] {
        try await get("/api/v1/label/\(label)/values", match.map { [("match[]", $0)] } ?? [])["data"] as? [String] ?? []
    }

    private func answer(_ body: [String: Any]) -> Answer {
        let data = body["data"] as? [String: Any] ?? [:]
        var values: [Double] = []
        func number(_ pair: Any?) -> Double? { ((pair as? [Any])?.last as? String).flatMap(Double.init) }
        if data["resultType"] as? String == "scalar" {
            values = number(data["result"]).map { [$0] } ?? []
        } else {
            for series in data["result"] as? [[String: Any]] ?? [] {
                values += number(series["value"]).map { [$0] } ?? []
                values += (series["values"] as? [Any] ?? []).compactMap(number)
            }
        }
        return Answer(status: body["status"] as? String ?? "no answer", error: body["error"] as? String, values: values)
    }

    private func get(_ path: String, _ parameters: [(String, String)]) async throws -> [String: Any] {
        func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text }
        let query = parameters.map { "\(encoded($0.0))=\(encoded($0.1))" }.joined(separator: "&")
        let request = HTTPClientRequest(url: base + path + (query.isEmpty ? "" : "?" + query))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 24)
        return (try? JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8))) as? [String: Any] ?? [:]
    }
}
