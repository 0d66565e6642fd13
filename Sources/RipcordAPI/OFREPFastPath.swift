import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import RipcordFlagService
import RipcordFlags

/// Answers the OFREP single-flag evaluation — the request SDKs send on every flag read — on the
/// event loop, before Hummingbird's router and its per-request task. Only the plain success is
/// answered here: a valid SDK token, flags already loaded, a known flag, a well-formed context.
/// Anything else (and any request while one handed on is unanswered, so responses keep their order)
/// goes to the routes unchanged, which answer it exactly as they would have.
final class OFREPFastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let prefix = "/ofrep/v1/evaluate/flags/"

    private enum State {
        case idle
        /// An evaluation being read; `key` and `environment` are known from the head.
        case collecting(HTTPRequest, key: String, environment: String, body: ByteBuffer)
        /// A request handed on to the routes.
        case handingOn
    }

    private let flags: FlagService
    private let authenticator: TokenAuthenticator?
    private var state = State.idle
    /// Requests handed on whose response has not been written yet.
    private var handedOn = 0
    /// The connection's last SDK token and who it is: an SDK sends the same one on every request, so
    /// it is hashed once per connection — until any token changes (`generation`): a revoked one is refused at once.
    private var lastToken: (token: String, principal: TokenPrincipal, generation: Int64)?
    /// Evaluations answered on this connection not yet handed to the service's counts: batched, so
    /// the shared lock is taken about once a second per busy connection, not once per request.
    private var uncounted: [String: [(flag: String, enabled: Bool)]] = [:]
    private var uncountedSince = NIODeadline.now()

    init(flags: FlagService, authenticator: TokenAuthenticator?) {
        self.flags = flags
        self.authenticator = authenticator
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case let (.idle, .head(head)):
            if handedOn == 0, let (key, environment) = evaluation(head) {
                state = .collecting(head, key: key, environment: environment, body: context.channel.allocator.buffer(capacity: 128))
            } else {
                handOn(context, [part])
            }
        case (.collecting(let head, let key, let environment, var body), .body(var chunk)):
            guard body.readableBytes + chunk.readableBytes <= OFREP.maxBodyBytes else {
                state = .idle
                handOn(context, [.head(head), .body(body), part])
                return
            }
            body.writeBuffer(&chunk)
            state = .collecting(head, key: key, environment: environment, body: body)
        case let (.collecting(head, key, environment, body), .end):
            state = .idle
            guard let answer = answer(key: key, environment: environment, body: body) else {
                handOn(context, [.head(head), .body(body), part])
                return
            }
            respond(context, answer, keepAlive: !Self.asksToClose(head))
        case (.handingOn, .end):
            state = .idle
            context.fireChannelRead(data)
        default:
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), handedOn > 0 { handedOn -= 1 }
        context.write(data, promise: promise)
    }

    private func handOn(_ context: ChannelHandlerContext, _ parts: [HTTPRequestPart]) {
        handedOn += 1
        state = parts.last.map { if case .end = $0 { State.idle } else { State.handingOn } } ?? .handingOn
        for part in parts { context.fireChannelRead(wrapInboundOut(part)) }
    }

    /// The flag key and the token's environment of a single-flag evaluation this handler can answer.
    private func evaluation(_ head: HTTPRequest) -> (String, String)? {
        // Browsers (which send Origin) go to the routes, where the CORS rules apply.
        guard head.method == .post, head.headerFields[.origin] == nil, let path = head.path, path.hasPrefix(Self.prefix) else { return nil }
        let raw = String(path.dropFirst(Self.prefix.count).prefix { $0 != "?" })
        guard !raw.isEmpty, !raw.utf8.contains(UInt8(ascii: "/")) else { return nil }
        let environment: String
        if let authenticator {
            guard let header = head.headerFields[.authorization], !header.isEmpty else { return nil }
            let token = TokenAuthenticator.sdkToken(fromAuthorization: header)
            let principal: TokenPrincipal
            let generation = authenticator.generation
            if let last = lastToken, last.token == token, last.generation == generation {
                principal = last.principal
            } else {
                guard let found = authenticator.principal(for: token) else { return nil }
                principal = found
                lastToken = (token, found, generation)
            }
            // Refused tokens take the ordinary route, which says why.
            guard !principal.isExpired(at: Date()), principal.kind == .client || principal.kind == .frontend, let tokenEnvironment = principal.environment else { return nil }
            environment = tokenEnvironment
        } else {
            environment = FlagService.defaultEnvironment
        }
        let key = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding ?? raw : raw
        return (key, environment)
    }

    private func answer(key: String, environment: String, body: ByteBuffer) -> String? {
        guard let snapshot = flags.cachedSnapshot(environment: environment),
            let evaluation = try? OFREP.evaluate(key, body: Array(body.readableBytesView), in: snapshot)
        else { return nil }
        uncounted[environment, default: []].append((evaluation.flag, evaluation.enabled))
        if NIODeadline.now() - uncountedSince > .seconds(1) { countEvaluations() }
        return OFREP.success(evaluation)
    }

    private func countEvaluations() {
        for (environment, evaluations) in uncounted { flags.countEvaluations(evaluations, environment: environment) }
        uncounted = [:]
        uncountedSince = NIODeadline.now()
    }

    func channelInactive(context: ChannelHandlerContext) {
        countEvaluations()
        context.fireChannelInactive()
    }

    private func respond(_ context: ChannelHandlerContext, _ answer: String, keepAlive: Bool) {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(answer.utf8.count)
        if !keepAlive { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: answer))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        if !keepAlive { written.futureResult.whenComplete { _ in context.close(promise: nil) } }
    }

    private static func asksToClose(_ head: HTTPRequest) -> Bool {
        guard let connection = head.headerFields[.connection] else { return false }
        return connection.lowercased().contains("close")
    }
}

extension RipcordAPI {
    /// The channel handlers the API's HTTP server runs before its routes.
    public static func channelHandlers(flags: FlagService?, authenticator: TokenAuthenticator?) -> [any RemovableChannelHandler] {
        flags.map { [OFREPFastPathHandler(flags: $0, authenticator: authenticator)] } ?? []
    }
}
