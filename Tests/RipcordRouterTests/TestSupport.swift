#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import RipcordCore
import RipcordTestSupport
@testable import RipcordRouter

// MARK: A tiny NIO HTTP backend that answers with its own name.

/// Paths: `/fail` → 500, `/slow` → 200 after 200 ms, `/slow-body` → the head at once and the body 200 ms later, `/hang` → never answers,
/// `/chunked` → chunked 200 in three parts, anything else → 200 with the backend's name.
final class TestBackend: Sendable {
    let name: String
    let channel: any Channel
    let address: HostPort
    /// How many `/slow` requests arrived.
    let slowRequests: Counter

    private init(name: String, channel: any Channel, slowRequests: Counter) {
        self.slowRequests = slowRequests
        self.name = name
        self.channel = channel
        self.address = HostPort(host: "127.0.0.1", port: channel.localAddress!.port!)
    }

    static func start(name: String, group: any EventLoopGroup, closeAfterEachResponse: Bool = false) async throws -> TestBackend {
        let slowRequests = Counter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        TestBackendHandler(name: name, closeAfterEachResponse: closeAfterEachResponse, slowRequests: slowRequests))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestBackend(name: name, channel: channel, slowRequests: slowRequests)
    }

    func stop() async {
        try? await channel.close()
    }
}

final class TestBackendHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let name: String
    let closeAfterEachResponse: Bool
    let slowRequests: Counter
    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    init(name: String, closeAfterEachResponse: Bool, slowRequests: Counter) {
        self.slowRequests = slowRequests
        self.name = name
        self.closeAfterEachResponse = closeAfterEachResponse
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let body):
            bodyBytes += body.readableBytes
        case .end:
            guard let head else { return }
            let uri = head.uri
            switch uri {
            case "/hang":
                return
            case "/slow":
                slowRequests.increment()
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(200)) {
                    self.respond(context: context, status: .ok, body: self.name)
                }
            case "/slow-body":
                // The head at once, the body 200 ms later.
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: String(name.utf8.count))
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(200)) {
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: self.name)))), promise: nil)
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                }
            case "/fail":
                respond(context: context, status: .internalServerError, body: name)
            case "/chunked":
                var headers = HTTPHeaders()
                headers.add(name: "x-backend", value: name)
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                for part in ["one-", "two-", name] {
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: part)))), promise: nil)
                }
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case "/echo":
                respond(context: context, status: .ok, body: "\(name) \(head.method.rawValue) \(bodyBytes) \(head.headers.first(name: "x-forwarded-for") ?? "-")")
            default:
                respond(context: context, status: .ok, body: name)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-backend", value: name)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        if closeAfterEachResponse {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

// MARK: A minimal keep-alive HTTP/1.1 client on NIO.

struct TestResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: String
    var version: HTTPVersion
    var backend: String? { headers.first(name: "x-backend") }
}

struct TestRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var promise: EventLoopPromise<TestResponse>
}

struct TestClientError: Error {}

final class TestClientHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = TestRequest
    typealias OutboundOut = HTTPClientRequestPart
    private var pending: [EventLoopPromise<TestResponse>] = []
    private var current: TestResponse?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        pending.append(request.promise)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            current = TestResponse(status: head.status, headers: head.headers, body: "", version: head.version)
        case .body(var body):
            current?.body += body.readString(length: body.readableBytes) ?? ""
        case .end:
            if let current, !pending.isEmpty { pending.removeFirst().succeed(current) }
            current = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let waiting = pending
        pending.removeAll()
        for promise in waiting { promise.fail(TestClientError()) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

final class TestClient: Sendable {
    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    static func connect(to address: HostPort, group: any EventLoopGroup) async throws -> TestClient {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(TestClientHandler())
                }
            }
            .connect(host: address.host, port: address.port).get()
        return TestClient(channel: channel)
    }

    func request(
        _ method: HTTPMethod = .GET, _ uri: String = "/", headers: [(String, String)] = [],
        body: String? = nil, version: HTTPVersion = .http1_1
    ) async throws -> TestResponse {
        var head = HTTPRequestHead(version: version, method: method, uri: uri)
        head.headers.add(name: "host", value: "test")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "content-length", value: String(body.utf8.count)) }
        let promise = channel.eventLoop.makePromise(of: TestResponse.self)
        let request = TestRequest(head: head, body: body.map { ByteBuffer(string: $0) }, promise: promise)
        channel.writeAndFlush(request).whenFailure { promise.fail($0) }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }

    var isClosed: Bool { !channel.isActive }
}

// MARK: Helpers

enum Versions {
    static let stable = SemanticVersion(major: 1, minor: 0, patch: 0)
    static let candidate = SemanticVersion(major: 1, minor: 1, patch: 0)
    static let other = SemanticVersion(major: 0, minor: 9, patch: 0)
}

/// A loopback port nobody listens on (bound, then closed).
func closedPort(group: any EventLoopGroup) async throws -> HostPort {
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return HostPort(host: "127.0.0.1", port: port)
}

/// Polls `condition` until it holds or `timeout` passes.
func waitUntil(timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// A router on its own 2-thread group, plus a 1-thread group for backends and clients.
struct RouterHarness {
    let routerGroup: MultiThreadedEventLoopGroup
    let sideGroup: MultiThreadedEventLoopGroup
    let router: Router

    init(configuration: RouterConfiguration = RouterConfiguration()) {
        routerGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        sideGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        router = Router(group: routerGroup, configuration: configuration)
    }

    func backend(_ name: String, closeAfterEachResponse: Bool = false) async throws -> TestBackend {
        try await TestBackend.start(name: name, group: sideGroup, closeAfterEachResponse: closeAfterEachResponse)
    }

    func client(_ address: HostPort) async throws -> TestClient {
        try await TestClient.connect(to: address, group: sideGroup)
    }

    func tearDown(_ backends: [TestBackend] = []) async {
        await router.shutdown()
        for backend in backends { await backend.stop() }
        try? await routerGroup.shutdownGracefully()
        try? await sideGroup.shutdownGracefully()
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}

/// A backend that records every byte it receives and answers each request head with 200 "ok".
final class RecordingBackend: Sendable {
    let address: HostPort
    private let channel: any Channel
    private let bytes = NIOLockedValueBox<[UInt8]>([])

    var received: String { String(decoding: bytes.withLockedValue { $0 }, as: UTF8.self) }

    init(group: any EventLoopGroup) async throws {
        let bytes = self.bytes
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(bytes: bytes))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        address = HostPort(host: "127.0.0.1", port: channel.localAddress!.port!)
    }

    func stop() async { try? await channel.close() }

    private final class RecordingHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let bytes: NIOLockedValueBox<[UInt8]>
        private var pending = ""

        init(bytes: NIOLockedValueBox<[UInt8]>) { self.bytes = bytes }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLockedValue { $0 += buffer.readableBytesView }
            pending += String(buffer: buffer)
            while let end = pending.range(of: "\r\n\r\n") {
                pending.removeSubrange(..<end.upperBound)
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")), promise: nil)
            }
        }
    }
}
