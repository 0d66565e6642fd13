import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One client request and what came of it.
public struct LoadSample: Sendable {
    /// Wall-clock time the request was sent, in milliseconds since the epoch.
    public var sentAt: Int64
    public var latencyMilliseconds: Double
    /// HTTP status, or 0 when no response came back.
    public var status: Int
    /// The version that answered (from the `x-sample-version` or `x-ripcord-version` header).
    public var version: String?
    /// Why no response came back, when none did.
    public var error: String?

    public var failed: Bool { status == 0 || status >= 500 }
}

/// Sends a steady rate of GET requests through keep-alive connections and records every response.
public final class LoadGenerator: Sendable {
    private let url: String
    private let rate: Double
    private let concurrency: Int
    private let headers: [(String, String)]
    private let client: HTTPClient
    private let recorder = Recorder()

    public init(url: String, requestsPerSecond: Double, concurrency: Int = 8, headers: [(String, String)] = []) {
        self.url = url
        self.rate = requestsPerSecond
        self.concurrency = concurrency
        self.headers = headers
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(10))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Runs until the task is cancelled (or `duration` elapses), then returns.
    public func run(for duration: Duration? = nil) async {
        let start = ContinuousClock.now
        let period = Duration.seconds(Double(concurrency) / rate)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var next = start + period * (Double(worker) / Double(self.concurrency))
                    while !Task.isCancelled {
                        if let duration, next - start >= duration { return }
                        try? await Task.sleep(until: next, clock: .continuous)
                        if Task.isCancelled { return }
                        await self.sendOne()
                        next += period
                        // Fall behind rather than burst when responses are slow.
                        if next < ContinuousClock.now { next = ContinuousClock.now }
                    }
                }
            }
        }
    }

    private func sendOne() async {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let sentAt = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let started = ContinuousClock.now
        var sample = LoadSample(sentAt: sentAt, latencyMilliseconds: 0, status: 0, version: nil)
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            sample.status = Int(response.status.code)
            sample.version = response.headers.first(name: "x-sample-version") ?? response.headers.first(name: "x-ripcord-version")
        } catch {
            // A request cut short because the load stopped is not a failure of the system under test.
            if Task.isCancelled { return }
            sample.status = 0
            sample.error = String(describing: error)
        }
        let elapsed = ContinuousClock.now - started
        sample.latencyMilliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        recorder.append(sample)
    }

    public var samples: [LoadSample] { recorder.all }

    /// Samples recorded since index `from` (for live reporting).
    public func samples(from index: Int) -> [LoadSample] { recorder.slice(from: index) }

    public func shutdown() async {
        try? await client.shutdown()
    }
}

private final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [LoadSample] = []

    func append(_ sample: LoadSample) { lock.withLock { samples.append(sample) } }
    var all: [LoadSample] { lock.withLock { samples } }
    func slice(from index: Int) -> [LoadSample] { lock.withLock { index < samples.count ? Array(samples[index...]) : [] } }
}
