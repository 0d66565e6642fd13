import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordRouter
import RipcordSampleService
import RipcordTrafficManagers

/// How fast each traffic manager moves traffic and what a move costs: `benchmarks/traffic-managers.sh`.
struct BenchTrafficSwitchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traffic-switch", abstract: "Switch traffic back and forth under load through each traffic manager.")

    @Option var switches: Int = 20
    @Option var requestsPerSecond: Double = 200
    @Option(help: "router, haproxy, nginx (all three by default).") var manager: [String] = ["router", "haproxy", "nginx"]

    struct Result {
        var manager: String
        /// How long each `setBackends` took to return (the new split is in force when it does).
        var callMilliseconds: [Double]
        /// From the call until the last answer from the old version among requests sent after the call began.
        var lastOldAnswerMilliseconds: [Double]
        /// Answers from the old version to requests sent after the call returned.
        var staleAfterReturn: Int
        var failed: Int
        var total: Int
    }

    func run() async throws {
        let versions = ["1.0.0", "2.0.0"]
        var backends: [HostPort] = []
        for version in versions {
            let port = try FreePort.allocate()
            Task { try await SampleService.run(host: "127.0.0.1", port: port, name: "bench", version: version, faults: SampleFaults()) }
            backends.append(HostPort(host: "127.0.0.1", port: port))
        }
        for backend in backends { try await waitUntilServing("http://\(backend)/") }
        var results: [Result] = []
        for name in manager {
            results.append(try await measure(name, backends: backends, versions: versions.map { try SemanticVersion(parsing: $0) }))
        }
        print(report(results))
    }

    private func measure(_ name: String, backends: [HostPort], versions: [SemanticVersion]) async throws -> Result {
        let listen = HostPort(host: "127.0.0.1", port: try FreePort.allocate())
        let service = TrafficService(name: "bench", listen: listen)
        var balancer: LocalLoadBalancer?
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let traffic: any TrafficManager
        switch name {
        case "router":
            traffic = Router(group: group)
        default:
            guard let kind = TrafficManagers.Kind(rawValue: name) else { throw ValidationError("unknown manager \(name)") }
            let directory = NSTemporaryDirectory() + "ripcord-bench-\(name)-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let started = try await LocalLoadBalancer(kind, services: [service], directory: directory)
            balancer = started
            traffic = TrafficManagers.external(
                for: RipcordConfiguration(
                    api: HostPort(host: "127.0.0.1", port: 0), stateDirectory: directory, services: [], traffic: started.traffic))!
        }
        try await traffic.addService(name: "bench", listen: listen, previewListen: nil)
        func route(to index: Int) async throws {
            try await traffic.setBackends(service: "bench", [Backend(address: backends[index], version: versions[index], role: .stable, weight: 100)])
        }
        try await route(to: 0)
        let load = LoadGenerator(url: "http://\(listen)/", requestsPerSecond: requestsPerSecond, concurrency: 4)
        let running = Task { await load.run() }
        var result = Result(manager: name, callMilliseconds: [], lastOldAnswerMilliseconds: [], staleAfterReturn: 0, failed: 0, total: 0)
        var windows: [(old: String, began: Double, returned: Double)] = []
        for index in 1...switches {
            try await Task.sleep(for: .milliseconds(400))
            let target = index % 2
            let began = Date().timeIntervalSince1970 * 1000
            try await route(to: target)
            let returned = Date().timeIntervalSince1970 * 1000
            result.callMilliseconds.append(returned - began)
            windows.append((versions[1 - target].description, began, returned))
        }
        try await Task.sleep(for: .milliseconds(400))
        running.cancel()
        await running.value
        await load.shutdown()
        let samples = load.samples
        for (position, window) in windows.enumerated() {
            let end = position + 1 < windows.count ? windows[position + 1].began : .infinity
            let during = samples.filter { Double($0.sentAt) >= window.began.rounded(.down) && Double($0.sentAt) < end }
            let lastOld = during.filter { $0.version == window.old }.map { Double($0.sentAt) + $0.latencyMilliseconds }.max()
            result.lastOldAnswerMilliseconds.append(max(0, (lastOld ?? window.began) - window.began))
            // Sent at least 2 ms after the return (sentAt has millisecond resolution).
            result.staleAfterReturn += during.filter { $0.version == window.old && Double($0.sentAt) > window.returned + 1 }.count
        }
        result.failed = samples.filter(\.failed).count
        result.total = samples.count
        await balancer?.stop()
        if let router = traffic as? Router { await router.shutdown() }
        try? await group.shutdownGracefully()
        return result
    }

    private func waitUntilServing(_ url: String) async throws {
        for _ in 0..<200 {
            if (try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(1))) != nil { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ValidationError("the sample service at \(url) did not start")
    }

    private func report(_ results: [Result]) -> String {
        func quantile(_ values: [Double], _ q: Double) -> Double {
            let sorted = values.sorted()
            return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)]
        }
        func format(_ value: Double) -> String { String(format: "%8.2f", value) }
        var lines = [
            "\(switches) switches each (all traffic from one version to the other), \(Int(requestsPerSecond)) req/s, 4 connections",
            "manager   setBackends p50 / p95 / max ms      last old answer p50 / max ms   stale after return   failed / requests",
        ]
        for result in results {
            lines.append(
                result.manager.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + "  \(format(quantile(result.callMilliseconds, 0.5))) \(format(quantile(result.callMilliseconds, 0.95))) \(format(result.callMilliseconds.max() ?? 0))"
                    + "     \(format(quantile(result.lastOldAnswerMilliseconds, 0.5))) \(format(result.lastOldAnswerMilliseconds.max() ?? 0))"
                    + "   \(String(result.staleAfterReturn).padding(toLength: 18, withPad: " ", startingAt: 0))"
                    + "   \(result.failed) / \(result.total)")
        }
        if let router = results.first(where: { $0.manager == "router" }) {
            let base = max(0.001, quantile(router.callMilliseconds, 0.5))
            for result in results where result.manager != "router" {
                lines.append("ratio \(result.manager)/router setBackends p50: \(String(format: "%.1f", quantile(result.callMilliseconds, 0.5) / base))x")
            }
        }
        return lines.joined(separator: "\n")
    }
}
