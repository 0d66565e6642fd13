import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordCore
import RipcordDrivers

/// Splits traffic through nginx: every change rewrites the included upstream file and reloads nginx
/// gracefully (new workers take new connections, old ones finish their requests), then waits until
/// the front door answers the new file's generation. Measurements come from the JSON access log.
public actor NginxTrafficManager: TrafficManager {
    static let reloadTimeout = TimeSpan.seconds(10)
    static let generationDeadline = Duration.seconds(10)

    private let spec: NginxSpec
    private var services: [TrafficService]
    private var backends: [String: [Backend]]
    private var generation: Int
    private let changes = OrderedChanges()
    private var accessLog: FileTail
    /// Which series an upstream address serves (kept after it leaves: its last requests are still logged).
    private var seriesByAddress: [HostPort: MetricsSeries] = [:]
    private var totals: [MetricsSeries: VersionMetrics] = [:]

    public init(spec: NginxSpec, services: [TrafficService]) {
        self.spec = spec
        self.services = services
        let recorded = (try? String(contentsOfFile: spec.configFile, encoding: .utf8)).flatMap(NginxRecordedState.read(from:))
        let backends = recorded?.liveBackends ?? [:]
        var seriesByAddress: [HostPort: MetricsSeries] = [:]
        for (service, members) in backends {
            for backend in members { seriesByAddress[backend.address] = MetricsSeries(service: service, version: backend.version, role: backend.role) }
        }
        self.backends = backends
        self.seriesByAddress = seriesByAddress
        generation = recorded?.generation ?? 0
        accessLog = FileTail(path: spec.accessLog)
    }

    /// The front door is nginx's own (in the rendered file); a service not rendered yet is added at the next change.
    @discardableResult
    public func addService(name: String, listen: HostPort, previewListen: HostPort?) async throws -> HostPort {
        if !services.contains(where: { $0.name == name }) {
            services.append(TrafficService(name: name, listen: listen, previewListen: previewListen))
        }
        return listen
    }

    public func setBackends(service: String, _ backends: [Backend]) async throws {
        try await changes.run { try await self.apply(service: service, backends) }
    }

    public func metrics(service: String, version: SemanticVersion, role: InstanceRole) async -> VersionMetrics {
        readAccessLog()
        return totals[MetricsSeries(service: service, version: version, role: role)] ?? VersionMetrics()
    }

    private func apply(service: String, _ members: [Backend]) async throws {
        // Lines logged so far belong to the addresses' current owners.
        readAccessLog()
        backends[service] = members
        for backend in members { seriesByAddress[backend.address] = MetricsSeries(service: service, version: backend.version, role: backend.role) }
        generation += 1
        let text = NginxConfigRenderer.render(services: services, backends: backends, generation: generation, accessLog: spec.accessLog)
        do {
            try text.write(toFile: spec.configFile, atomically: true, encoding: .utf8)
        } catch {
            throw TrafficManagerError("cannot write the nginx configuration \(spec.configFile): \(error.localizedDescription)")
        }
        let reloadedAt = NginxWorkers.ticksSinceBoot()
        let outcome = try await CommandRunner.run(spec.reload, timeout: Self.reloadTimeout)
        guard outcome.succeeded else {
            throw TrafficManagerError("nginx reload '\(spec.reload)' \(outcome.describe(timeout: Self.reloadTimeout)): \(outcome.output.suffix(500))")
        }
        try await waitForGeneration(generation, service: service, reloadedAt: reloadedAt)
    }

    /// Asks the service's front door (on a new connection each time) until a new worker answers the
    /// new generation and no worker from before the reload still accepts: nginx's master lets new
    /// workers start for 100 ms before it tells the old ones to stop, and until then an old worker
    /// may take a connection and route it the old way.
    private func waitForGeneration(_ wanted: Int, service: String, reloadedAt: UInt64?) async throws {
        guard let door = services.first(where: { $0.name == service })?.listen else { return }
        let deadline = ContinuousClock.now + Self.generationDeadline
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                let (served, worker) = try await Self.servedGeneration(door: door)
                if served == wanted {
                    if let reloadedAt, let worker, !NginxWorkers.onlyWorkersStartedSince(reloadedAt, sibling: worker) {
                        last = "workers from before the reload still accept"
                    } else {
                        return
                    }
                } else {
                    last = "generation \(served)"
                }
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TrafficManagerError(
            "nginx did not serve generation \(wanted) of \(spec.configFile) within \(Self.generationDeadline) "
                + "(\(last) at \(door)\(NginxConfigRenderer.generationPath))")
    }

    /// The generation of the configuration that answers on a front door, and the worker that answered
    /// (a wildcard address is asked on loopback).
    static func servedGeneration(door: HostPort) async throws -> (generation: Int, worker: Int32?) {
        let host = ["0.0.0.0", "::", "*"].contains(door.host) ? "127.0.0.1" : door.host
        let url = "http://\(HostPort(host: host, port: door.port))\(NginxConfigRenderer.generationPath)"
        var request = HTTPClientRequest(url: url)
        // A pooled connection may belong to an old worker, which still answers the old generation.
        request.headers.add(name: "connection", value: "close")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(2))
        let body = String(buffer: try await response.body.collect(upTo: 1024))
        let fields = body.split(separator: " ")
        guard response.status == .ok, let generation = fields.first.flatMap({ Int($0) }) else {
            throw TrafficManagerError("\(url) answered \(response.status.code) '\(body.prefix(80))'")
        }
        return (generation, fields.dropFirst().first.flatMap { Int32($0) })
    }

    private func readAccessLog() {
        for line in accessLog.newLines() {
            for attempt in NginxUpstreamAttempt.parse(line: line) {
                guard let series = seriesByAddress[attempt.address] else { continue }
                var metrics = totals[series] ?? VersionMetrics()
                if let response = attempt.response {
                    metrics.recordResponse(status: response.status, microseconds: response.microseconds)
                } else {
                    metrics.recordConnectionFailure()
                }
                totals[series] = metrics
            }
        }
    }
}

/// nginx's worker processes as Linux shows them in /proc (Ripcord reloads nginx on its own host).
enum NginxWorkers {
    /// Now, in the clock ticks since boot that /proc/PID/stat counts process start times in.
    static func ticksSinceBoot() -> UInt64? {
        guard let uptime = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))?.split(separator: " ").first.flatMap({ Double($0) })
        else { return nil }
        return UInt64(uptime * Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// Whether every accepting worker of `sibling`'s master started at `ticks` or later (a worker
    /// told to stop calls itself "worker process is shutting down" and accepts no more).
    static func onlyWorkersStartedSince(_ ticks: UInt64, sibling: Int32) -> Bool {
        guard let master = status(of: sibling)?.parent,
            let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc")
        else { return true }
        for entry in entries {
            guard let pid = Int32(entry), let process = status(of: pid), process.parent == master, process.started < ticks,
                let title = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
            else { continue }
            if title.hasPrefix("nginx: worker process") && !title.contains("shutting down") { return false }
        }
        return true
    }

    private static func status(of pid: Int32) -> (parent: Int32, started: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = text.lastIndex(of: ")") else { return nil }
        // After "pid (name)": state, ppid, … and the start time as the 22nd field of the line.
        let fields = text[text.index(after: end)...].split(separator: " ")
        guard fields.count > 19, let parent = Int32(fields[1]), let started = UInt64(fields[19]) else { return nil }
        return (parent, started)
    }
}

/// Reads the lines appended to a file since the last read, from where it ended when first opened
/// (older lines are not ours); starts over when the file is truncated or replaced (log rotation).
struct FileTail {
    let path: String
    private var offset: UInt64
    private var identity: UInt64
    private var partial = Data()

    init(path: String) {
        self.path = path
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        offset = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        identity = (attributes?[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
    }

    mutating func newLines() -> [Substring] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        let fileNumber = (attributes?[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        if size < offset || fileNumber != identity {
            offset = 0
            partial = Data()
            identity = fileNumber
        }
        guard size > offset, (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() else { return [] }
        offset += UInt64(data.count)
        partial.append(data)
        guard let lastNewline = partial.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        let complete = String(decoding: partial[..<lastNewline], as: UTF8.self)
        partial = Data(partial[(lastNewline + 1)...])
        return complete.split(separator: "\n")
    }
}
