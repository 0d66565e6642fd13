import NIOCore

/// The last handler of a client (client → router) connection, after `RequestFramer`. Its one
/// job: run each request's exchange — choose a backend, lease or open an upstream connection,
/// relay the response back part by part, retry when nothing was sent or nothing came back, and
/// decide keep-alive on both sides. Pipelined requests wait in a small queue (reading pauses
/// meanwhile) and run one at a time, so responses keep their order.
///
/// Client and upstream connections share an event loop, so the two handlers call each other
/// directly: no lock, no task, no hop.
final class ClientConnectionHandler: ChannelInboundHandler, UpstreamResponseReceiver {
    typealias InboundIn = ProxyRequest
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Between requests.
        case idle
        /// Request dispatched; waiting for a connection or the response head.
        case awaitingResponse
        /// Response head sent to the client; relaying the body.
        case streamingResponse
        case closed
    }

    private let service: ServiceLoopState
    /// The preview door routes only to candidates, whatever the weights and headers say.
    private let isPreviewDoor: Bool
    private var context: ChannelHandlerContext?
    private var state = State.idle

    // The exchange in progress.
    private var request: ProxyRequest?
    private var exchangeID: UInt64 = 0
    private var attempts = 0
    private var triedBackends: UInt64 = 0
    private var metricsSlot = 0
    private var versionHeader = ""
    private var pool: BackendPool?
    private var upstream: UpstreamConnectionHandler?
    private var dispatchedAt = NIODeadline.uptimeNanoseconds(0)
    private var keepAliveAfterResponse = true
    private var needsFlush = false
    private var isDraining = false

    // Pipelined requests that arrived while an exchange was in progress.
    private var queued: [ProxyRequest] = []
    private var isProcessingQueue = false
    private var readingPaused = false

    init(service: ServiceLoopState, isPreviewDoor: Bool) {
        self.service = service
        self.isPreviewDoor = isPreviewDoor
    }

    /// Sets up a client connection's pipeline: the request framer, then this.
    static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, service: ServiceLoopState,
                          isPreviewDoor: Bool) throws {
        try pipeline.addHandler(ByteToMessageHandler(RequestFramer(maxBody: service.configuration.maxRequestBody)))
        try pipeline.addHandler(ClientConnectionHandler(service: service, isPreviewDoor: isPreviewDoor))
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        service.register(self)
        if service.isDraining { isDraining = true }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connectionClosed()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Framing errors get an answer when nothing else is in flight; anything else just closes.
        if case .idle = state, queued.isEmpty, let wireError = error as? HTTPWireError {
            let response: StaticString
            switch wireError {
            case .bodyTooLarge:
                response = "HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .headTooLarge:
                response = "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .unsupportedVersion:
                response = "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .malformed:
                response = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            }
            state = .closed
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: response))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        closeClient()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        upstream?.setAutoRead(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        switch state {
        case .idle where queued.isEmpty:
            dispatch(request)
        case .closed:
            break
        default:
            // Pipelined: keep it for after the response in progress, and stop reading meanwhile.
            queued.append(request)
            if !readingPaused {
                readingPaused = true
                try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
            }
        }
    }

    /// Runs queued pipelined requests until one of them is in flight.
    private func processQueue() {
        guard !isProcessingQueue, let context else { return }
        isProcessingQueue = true
        defer { isProcessingQueue = false }
        while !queued.isEmpty {
            guard case .idle = state else { return }
            dispatch(queued.removeFirst())
        }
        if readingPaused, case .idle = state {
            readingPaused = false
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            context.read()
        }
    }

    // MARK: Exchange

    private func dispatch(_ request: ProxyRequest) {
        self.request = request
        state = .awaitingResponse
        exchangeID &+= 1
        attempts = 0
        triedBackends = 0
        tryBackend()
    }

    private func tryBackend() {
        let mode = isPreviewDoor ? .candidate : service.table.mode(route: request!.route, pinnedRelease: request!.pinnedRelease)
        guard let index = service.pick(mode, strict: isPreviewDoor, excluding: triedBackends) else {
            respondWithError("503 Service Unavailable", "no backend available\n")
            return
        }
        if index < 64 { triedBackends |= 1 << UInt64(index) }
        let backend = service.table.backends[index]
        let pool = service.pools[index]
        self.pool = pool
        metricsSlot = backend.metricsSlot
        versionHeader = backend.versionHeader
        switch pool.state.lease() {
        case .reuse(let connection):
            start(on: connection)
        case .connect:
            connect(pool)
        case .refuse:
            retryOrFail(nothingSent: true)
        }
    }

    private func connect(_ pool: BackendPool) {
        guard let context else { return }
        let exchange = exchangeID
        let slot = metricsSlot
        pool.connect(on: context.eventLoop, configuration: service.configuration)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    pool.state.connectSucceeded()
                    guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self) else {
                        channel.close(promise: nil)
                        pool.state.connectFailedAfterSuccess()
                        self.connectFailed(exchange: exchange, slot: slot)
                        return
                    }
                    connection.pool = pool
                    if self.exchangeID == exchange, case .awaitingResponse = self.state {
                        self.start(on: connection)
                    } else {
                        // The client left meanwhile: keep the fresh connection for the next request.
                        pool.release(connection, reusable: true)
                    }
                case .failure:
                    pool.state.connectFailed()
                    self.connectFailed(exchange: exchange, slot: slot)
                }
            }
    }

    private func connectFailed(exchange: UInt64, slot: Int) {
        service.recordConnectionFailure(slot: slot)
        guard exchangeID == exchange, case .awaitingResponse = state else { return }
        retryOrFail(nothingSent: true)
    }

    private func start(on connection: UpstreamConnectionHandler) {
        guard let request else { return }
        upstream = connection
        dispatchedAt = .now()
        connection.send(request.bytes, isHEAD: request.isHEAD, to: self)
    }

    /// After a failed attempt: retry on another backend if allowed, else answer 502.
    private func retryOrFail(nothingSent: Bool) {
        upstream = nil
        pool = nil
        attempts += 1
        if attempts <= service.configuration.maxRetries, nothingSent || request?.isIdempotent == true {
            tryBackend()
        } else {
            respondWithError("502 Bad Gateway", "bad gateway\n")
        }
    }

    /// Gives the upstream connection back to its pool (or closes it).
    private func releaseUpstream(reusable: Bool) {
        if let upstream {
            upstream.detach()
            if let pool { pool.release(upstream, reusable: reusable) } else { upstream.close() }
        }
        upstream = nil
        pool = nil
    }

    // MARK: UpstreamResponseReceiver

    func upstreamResponseHead(_ head: HTTPWire.ResponseHead, bytes: UnsafeRawBufferPointer,
                              framing: HTTPWire.BodyFraming) -> Bool {
        guard case .awaitingResponse = state, let context, let request else { return false }
        let elapsed = NIODeadline.now() - dispatchedAt
        service.recordResponse(slot: metricsSlot, status: head.status,
                               microseconds: UInt64(max(0, elapsed.nanoseconds / 1000)))
        let clientIsOld = request.versionMinor == 0
        // A body whose end only the close can tell, or chunks an HTTP/1.0 client can't read,
        // end with closing the client connection.
        let closeDelimited = framing == .untilClose || (framing == .chunked && clientIsOld)
        keepAliveAfterResponse = request.keepAlive && !isDraining && !closeDelimited
        let dechunk = framing == .chunked && clientIsOld
        var out = context.channel.allocator.buffer(capacity: head.headEnd + 64)
        HTTPWire.writeClientResponseHead(bytes, head, keepAlive: keepAliveAfterResponse,
                                         clientVersionMinor: request.versionMinor, dechunk: dechunk,
                                         versionHeader: versionHeader, into: &out)
        state = .streamingResponse
        context.write(wrapOutboundOut(out), promise: nil)
        needsFlush = true
        return dechunk
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard case .streamingResponse = state, let context else { return }
        context.write(wrapOutboundOut(body), promise: nil)
        needsFlush = true
    }

    func upstreamResponseEnd(reusable: Bool) {
        guard case .streamingResponse = state else { return }
        releaseUpstream(reusable: reusable)
        finishResponse(keepAlive: keepAliveAfterResponse && !isDraining)
    }

    func upstreamReadComplete() {
        if needsFlush, let context {
            needsFlush = false
            context.flush()
        }
    }

    func upstreamFailed() {
        switch state {
        case .awaitingResponse:
            service.recordConnectionFailure(slot: metricsSlot)
            releaseUpstream(reusable: false)
            retryOrFail(nothingSent: false)
        case .streamingResponse:
            // Cut short after the head went out: the client can only learn by the connection closing.
            releaseUpstream(reusable: false)
            closeClient()
        default:
            break
        }
    }

    func upstreamTimedOut() {
        switch state {
        case .awaitingResponse:
            service.recordConnectionFailure(slot: metricsSlot)
            releaseUpstream(reusable: false)
            respondWithError("504 Gateway Timeout", "gateway timeout\n")
        case .streamingResponse:
            releaseUpstream(reusable: false)
            closeClient()
        default:
            break
        }
    }

    // MARK: Responses and connection lifecycle

    private func finishResponse(keepAlive: Bool) {
        guard let context else { return }
        request = nil
        needsFlush = false
        if keepAlive {
            state = .idle
            context.flush()
            if !queued.isEmpty || readingPaused { processQueue() }
        } else {
            state = .closed
            queued.removeAll()
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    private func respondWithError(_ status: StaticString, _ text: StaticString) {
        guard let context else { return }
        releaseUpstream(reusable: false)
        let keepAlive = (request?.keepAlive ?? false) && !isDraining
        var out = context.channel.allocator.buffer(capacity: 160)
        out.writeStaticString("HTTP/1.1 ")
        out.writeStaticString(status)
        out.writeStaticString("\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ")
        out.writeString(String(text.utf8CodeUnitCount))
        if !keepAlive {
            out.writeStaticString("\r\nconnection: close")
        } else if request?.versionMinor == 0 {
            out.writeStaticString("\r\nconnection: keep-alive")
        }
        out.writeStaticString("\r\n\r\n")
        if request?.isHEAD != true { out.writeStaticString(text) }
        state = .streamingResponse
        context.write(wrapOutboundOut(out), promise: nil)
        finishResponse(keepAlive: keepAlive)
    }

    private func closeClient() {
        state = .closed
        context?.close(promise: nil)
    }

    private func connectionClosed() {
        state = .closed
        queued.removeAll()
        exchangeID &+= 1
        releaseUpstream(reusable: false)
        service.unregister(self)
    }

    /// Shutdown: close now if idle, else after the response in progress.
    func drain() {
        isDraining = true
        if case .idle = state, queued.isEmpty { closeClient() }
    }

    func forceClose() {
        closeClient()
    }
}
