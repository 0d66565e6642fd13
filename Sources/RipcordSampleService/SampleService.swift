import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// How the sample service should misbehave, so demos and tests can stage a bad release.
public struct SampleFaults: Sendable, Equatable {
    /// Fraction of `/` requests answered with 500.
    public var errorRate: Double = 0
    /// Delay added to every `/` response.
    public var addedLatencyMilliseconds: Int = 0
    /// Spread of that delay: each is multiplied by exp(spread × a standard normal draw), so latencies are
    /// log-normal like a real service's rather than all equal.
    public var latencySpread: Double = 0
    /// Delay between the response head (sent at once) and its body: a slow body behind a fast head.
    public var bodyDelayMilliseconds: Int = 0
    /// Exit with status 1 right after start.
    public var crashAtStart = false
    /// Answer `/health` with 503.
    public var failHealth = false
    /// Answer `/health` with 503 once this many milliseconds have passed since start.
    public var failHealthAfterMilliseconds: Int?
    /// `errorRate` applies only while this file exists, so a test can turn a release bad after its promotion.
    public var errorsWhileFileExists: String?

    public init(
        errorRate: Double = 0, addedLatencyMilliseconds: Int = 0, crashAtStart: Bool = false, failHealth: Bool = false,
        failHealthAfterMilliseconds: Int? = nil, errorsWhileFileExists: String? = nil
    ) {
        self.errorRate = errorRate
        self.addedLatencyMilliseconds = addedLatencyMilliseconds
        self.crashAtStart = crashAtStart
        self.failHealth = failHealth
        self.failHealthAfterMilliseconds = failHealthAfterMilliseconds
        self.errorsWhileFileExists = errorsWhileFileExists
    }

    public static let environmentVariable = "RIPCORD_SAMPLE_FAULTS"

    /// Reads the faults for `version` from a spec such as
    /// `1.2.0=errorRate:0.5,latency:100,latencySpread:0.3,bodyDelay:200;1.3.0=crashAtStart;1.4.0=failHealth;1.5.0=failHealthAfter:2000;1.6.0=errorRate:1,errorsWhileFileExists:/tmp/x`.
    public static func parse(_ spec: String, version: String) -> SampleFaults {
        var faults = SampleFaults()
        for entry in spec.split(separator: ";") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0] == version else { continue }
            for setting in parts[1].split(separator: ",") {
                let pair = setting.split(separator: ":", maxSplits: 1).map(String.init)
                switch pair[0] {
                case "errorRate": faults.errorRate = pair.count > 1 ? Double(pair[1]) ?? 0 : 0
                case "latency": faults.addedLatencyMilliseconds = pair.count > 1 ? Int(pair[1]) ?? 0 : 0
                case "latencySpread": faults.latencySpread = pair.count > 1 ? max(0, Double(pair[1]) ?? 0) : 0
                case "bodyDelay": faults.bodyDelayMilliseconds = pair.count > 1 ? max(0, Int(pair[1]) ?? 0) : 0
                case "crashAtStart": faults.crashAtStart = true
                case "failHealth": faults.failHealth = true
                case "failHealthAfter": faults.failHealthAfterMilliseconds = pair.count > 1 ? Int(pair[1]) : nil
                case "errorsWhileFileExists": faults.errorsWhileFileExists = pair.count > 1 ? pair[1] : nil
                default: continue
                }
            }
        }
        return faults
    }
}

/// A small HTTP service that reports its version (`GET /`), its health (`GET /health`),
/// and misbehaves on demand.
public enum SampleService {
    /// - Parameter downstream: a URL called on every `GET /`, whose answer is embedded in this one's.
    public static func run(host: String, port: Int, name: String, version: String, faults: SampleFaults, downstream: String? = nil) async throws {
        if faults.crashAtStart {
            FileHandle.standardError.write(Data("sample service \(version): crashing at start as configured\n".utf8))
            exit(1)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let answered = AnsweredRequests()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(
                        SampleHandler(
                            name: name, version: version, faults: faults, answered: answered,
                            downstream: downstream))
                }
            }
            .bind(host: host, port: port).get()
        try await channel.closeFuture.get()
    }
}

final class SampleHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let name: String
    private let version: String
    private let faults: SampleFaults
    private let answered: AnsweredRequests
    private let downstream: String?
    private var head: HTTPRequestHead?
    private var generator = SystemRandomNumberGenerator()
    private let startedAt = NIODeadline.now()

    init(name: String, version: String, faults: SampleFaults, answered: AnsweredRequests, downstream: String?) {
        self.name = name
        self.version = version
        self.faults = faults
        self.answered = answered
        self.downstream = downstream
    }

    /// The release pin a real service would pass on to the services it calls.
    static let propagatedHeader = "x-ripcord-release"

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(requestHead):
            head = requestHead
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
            guard let downstream, path == "/" else {
                respond(to: head, context: context)
                return
            }
            let pin = head.headers.first(name: Self.propagatedHeader)
            let loop = context.eventLoop
            let boundContext = NIOLoopBound(context, eventLoop: loop)
            Task { [self] in
                let answer = await Self.call(downstream, pin: pin)
                loop.execute { self.respond(to: head, context: boundContext.value, downstreamAnswer: answer) }
            }
        }
    }

    private static func call(_ url: String, pin: String?) async -> String {
        var request = HTTPClientRequest(url: url)
        if let pin { request.headers.add(name: propagatedHeader, value: pin) }
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 1 << 16)
        else { return "null" }
        let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.hasPrefix("{") ? text : "null"
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext, downstreamAnswer: String? = nil) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let body: String
        var delay = 0
        switch path {
        case "/health":
            let unhealthy =
                faults.failHealth
                || faults.failHealthAfterMilliseconds.map { NIODeadline.now() - startedAt >= .milliseconds(Int64($0)) } ?? false
            status = unhealthy ? .serviceUnavailable : .ok
            body = unhealthy ? "unhealthy\n" : "ok\n"
        case "/metrics":
            status = .ok
            body = answered.exposition(service: name, version: version)
        default:
            delay = faults.addedLatencyMilliseconds
            if faults.latencySpread > 0, delay > 0 {
                delay = Int((Double(delay) * exp(faults.latencySpread * standardNormal())).rounded())
            }
            let faulty = faults.errorsWhileFileExists.map { FileManager.default.fileExists(atPath: $0) } ?? true
            if faulty, faults.errorRate > 0, Double.random(in: 0..<1, using: &generator) < faults.errorRate {
                status = .internalServerError
                body = "{\"service\":\"\(name)\",\"version\":\"\(version)\",\"error\":\"injected fault\"}\n"
            } else {
                status = .ok
                let downstream = downstreamAnswer.map { ",\"downstream\":\($0)" } ?? ""
                body = "{\"service\":\"\(name)\",\"version\":\"\(version)\"\(downstream)}\n"
            }
            answered.count(status.code)
        }
        let keepAlive = head.isKeepAlive
        let write = { [self] in
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: path == "/health" || path == "/metrics" ? "text/plain" : "application/json")
            headers.add(name: "content-length", value: String(body.utf8.count))
            headers.add(name: "x-sample-version", value: version)
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            let finish = {
                context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
                    if !keepAlive { context.close(promise: nil) }
                }
            }
            let bodyDelay = path == "/" ? faults.bodyDelayMilliseconds : 0
            if bodyDelay > 0 {
                context.flush()
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(bodyDelay))) { finish() }
            } else {
                finish()
            }
        }
        if delay > 0 {
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay))) { write() }
        } else {
            write()
        }
    }
}

extension SampleHandler {
    /// Box-Muller: one standard normal draw.
    private func standardNormal() -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &generator), v = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}

/// The service's own answers by status code, exposed at `GET /metrics` so a real Prometheus can
/// scrape the instances as well as the router.
final class AnsweredRequests: Sendable {
    private let byStatus = NIOLockedValueBox([UInt: Int]())

    func count(_ status: UInt) {
        byStatus.withLockedValue { $0[status, default: 0] += 1 }
    }

    func exposition(service: String, version: String) -> String {
        let counts = byStatus.withLockedValue { $0 }
        var text = "# HELP sample_requests_total Requests to / answered by this instance, by status code.\n# TYPE sample_requests_total counter\n"
        for (status, count) in counts.sorted(by: { $0.key < $1.key }) {
            text += "sample_requests_total{service=\"\(service)\",version=\"\(version)\",code=\"\(status)\"} \(count)\n"
        }
        return text
    }
}
