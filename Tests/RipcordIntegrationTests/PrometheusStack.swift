import AsyncHTTPClient
import Foundation
import NIOCore
import Logging
import NIOHTTP1
import RipcordDrivers
import RipcordServer
import RipcordTestSupport
import ServiceLifecycle
import Testing

/// A real Prometheus (and optionally Alertmanager) on loopback, scraping Ripcord's `/metrics` and the
/// sample-service instances listed by `writeInstanceTargets`.
struct PrometheusStack {
    let prometheus: ChildProcess
    let alertmanager: ChildProcess?

    /// Starts Prometheus on `prometheusPort`, scraping `apiAddress` every second with the token in
    /// `tokenFile`; with `alertRules`, also Alertmanager routing every alert to Ripcord's webhook.
    static func start(directory: String, prometheusPort: Int, apiAddress: String, tokenFile: String, alertRules: String? = nil) throws -> PrometheusStack {
        let prometheusProgram = try SystemProgram.require("prometheus", package: "prometheus")
        var alerting = ""
        var alertmanager: ChildProcess?
        if let alertRules {
            let alertmanagerProgram = try SystemProgram.require("prometheus-alertmanager", package: "prometheus-alertmanager")
            let alertmanagerPort = try FreePort.allocate()
            try """
            route: { receiver: ripcord, group_by: [alertname, service], group_wait: 0s, group_interval: 1s, repeat_interval: 1h }
            receivers:
              - name: ripcord
                webhook_configs:
                  - url: http://\(apiAddress)/api/v1/alerts/alertmanager
                    send_resolved: false
                    http_config: { authorization: { credentials_file: \(tokenFile) } }
            """.write(toFile: "\(directory)/alertmanager.yml", atomically: true, encoding: .utf8)
            try alertRules.write(toFile: "\(directory)/rules.yml", atomically: true, encoding: .utf8)
            alerting = """
                rule_files: [\(directory)/rules.yml]
                alerting: { alertmanagers: [ { static_configs: [ { targets: ["127.0.0.1:\(alertmanagerPort)"] } ] } ] }
                """
            alertmanager = try ChildProcess(
                alertmanagerProgram,
                [
                    "--config.file=\(directory)/alertmanager.yml", "--storage.path=\(directory)/alertmanager",
                    "--web.listen-address=127.0.0.1:\(alertmanagerPort)", "--cluster.listen-address=",
                ], outputPath: "\(directory)/alertmanager.log")
        }
        try """
        global: { scrape_interval: 1s, evaluation_interval: 1s }
        \(alerting)
        scrape_configs:
          - job_name: ripcord
            metrics_path: /metrics
            authorization: { credentials_file: \(tokenFile) }
            static_configs: [ { targets: ["\(apiAddress)"] } ]
          - job_name: instances
            metrics_path: /metrics
            file_sd_configs: [ { files: ["\(directory)/instances.json"], refresh_interval: 1s } ]
        """.write(toFile: "\(directory)/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try ChildProcess(
            prometheusProgram,
            [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/prometheus",
                "--web.listen-address=127.0.0.1:\(prometheusPort)",
            ], outputPath: "\(directory)/prometheus.log")
        return PrometheusStack(prometheus: prometheus, alertmanager: alertmanager)
    }

    /// Tells Prometheus which instances to scrape (it watches the file).
    static func writeInstanceTargets(directory: String, addresses: [String]) throws {
        let targets = addresses.map { "\"\($0)\"" }.joined(separator: ", ")
        try "[ { \"targets\": [\(targets)] } ]".write(toFile: "\(directory)/instances.json", atomically: true, encoding: .utf8)
    }

    /// Waits until Prometheus has scraped a series matching `selector` (it needs a few seconds after start).
    static func waitForSeries(_ selector: String, prometheusPort: Int) async throws {
        let encoded = selector.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? selector
        try await eventually("Prometheus to have scraped \(selector)", within: 60) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(prometheusPort)/api/v1/query?query=\(encoded)")
            request.method = .GET
            guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)),
                let body = try? await response.body.collect(upTo: 1 << 20)
            else { return false }
            return String(buffer: body).contains("\"value\"")
        }
    }

    var logs: String {
        "prometheus log: \(prometheus.output.suffix(1500))\nalertmanager log: \(alertmanager?.output.suffix(1500) ?? "-")"
    }

    func stop() async throws {
        for child in [prometheus] + (alertmanager.map { [$0] } ?? []) {
            child.signal(SIGTERM)
            try await child.wait()
        }
    }
}

/// Serves the harness's HTTP API on its configured address while `body` runs (Prometheus scrapes it).
func withLiveAPI(_ harness: Harness, _ body: () async throws -> Void) async throws {
    var logger = Logger(label: "api")
    logger.logLevel = .warning
    let api = ServiceGroup(services: [harness.server.application()], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
    let task = Task { try await api.run() }
    do { try await body() } catch {
        await api.triggerGracefulShutdown()
        _ = await task.result
        throw error
    }
    await api.triggerGracefulShutdown()
    _ = await task.result
}
