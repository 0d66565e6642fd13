import NIOCore

/// The only handler of a client (client → router) connection. It feeds the bytes to its
/// `RequestFramer` (a value type, called directly: no second handler, no boxing per request) and
/// runs each request's exchange — choose a backend, lease or open an upstream connection,
/// pass a streamed request body on at the backend's pace, relay the response back part by part,
/// retry when nothing was sent or nothing came back, decide keep-alive on both sides — and keep
/// the client's clock: header, body and idle timeouts. Pipelined requests wait in a small queue
/// (reading pauses meanwhile) and run one at a time, so responses keep their order.
///
/// Client and upstream connections share an event loop, so the two handlers call each other
/// directly: no lock, no task, no hop.
final class ClientConnectionHandler: ChannelInboundHandler, UpstreamResponseReceiver, RequestFramerSink {
    typealias InboundIn = ByteBuffer
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
    private var configuration: RouterConfiguration { service.configuration }
    /// The preview door routes only to candidates, whatever the weights and headers say.
    private let isPreviewDoor: Bool
    private var context: ChannelHandlerContext?
    private var state = State.idle

    private var framer: RequestFramer
    /// The channel's allocator, kept: asking the channel for it on every read retains and releases it.
    private var allocator = ByteBufferAllocator()
    /// The framer refused the stream: later bytes are not read.
    private var framingStopped = false
    /// The response head, held back so a small body read with it goes out in the same write.
    private var heldResponse: ByteBuffer?
    /// The last response head's buffer: its storage is reused once the socket has written it.
    private var spareResponse: ByteBuffer?
    /// The last request's bytes, for the framer to write the next head into.
    private var spareRequest: ByteBuffer?
    /// Spares larger than this are let go: thousands of idle connections each keeping a held body's
    /// buffer would add up.
    private static let spareCapacityLimit = 8192
    /// When the read being handled began: one clock reading serves the timeouts and the latency.
    private var readStartedAt = NIODeadline.uptimeNanoseconds(0)

    // The exchange in progress.
    private var request: ProxyRequest?
    private var exchangeID: UInt64 = 0
    private var attempts = 0
    private var triedBackends: UInt64 = 0
    private var metricsSlot = 0
    private var versionHeader = ""
    private var pool: BackendPool?
    private var upstream: UpstreamConnectionHandler?
    /// When the exchange began: the read that brought its request (or, for a pipelined one, the end of
    /// the response before it). Its latency runs from here, through any connect, retry or drill delay.
    private var dispatchedAt = NIODeadline.uptimeNanoseconds(0)
    /// A drill's added latency already held the current request (its retries are not held again).
    private var heldByDrill = false
    /// The status of the response being streamed, recorded with its latency once its last byte is sent.
    private var responseStatus: Int?
    private var keepAliveAfterResponse = true
    private var needsFlush = false
    private var isDraining = false

    // A streamed request body: parts wait here until an upstream connection takes them.
    private var bodyIsOpen = false
    private var bodySent = false
    private var heldBody: [ByteBuffer] = []
    private var heldBodyBytes = 0

    // Parts of pipelined requests that arrived while an exchange was in progress, in order.
    private var queued: [RequestPart] = []
    private var isProcessingQueue = false
    private var pausedForQueue = false
    private var pausedForBackpressure = false
    private var readingPaused = false
    /// A framing error behind requests still to answer: answered after them.
    private var pendingWireError: HTTPWireError?

    // The client's clock (one lazily re-armed check, as upstream connections do).
    private var idleSince: NIODeadline?
    private var headStartedAt: NIODeadline?
    private var bodyProgressAt: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture

    init(service: ServiceLoopState, isPreviewDoor: Bool) {
        self.service = service
        self.isPreviewDoor = isPreviewDoor
        self.framer = RequestFramer(maxBody: service.configuration.maxRequestBody, bufferLimit: service.configuration.heldBodyLimit)
    }

    /// Sets up a client connection's pipeline: this handler alone.
    static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, service: ServiceLoopState,
        isPreviewDoor: Bool
    ) throws {
        try pipeline.addHandler(ClientConnectionHandler(service: service, isPreviewDoor: isPreviewDoor))
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        allocator = context.channel.allocator
        noteClientAddress(context)
        service.register(self)
        if service.isDraining { isDraining = true }
        becameIdle(at: context.eventLoop.now)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connectionClosed()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        noteClientAddress(context)
        context.fireChannelActive()
    }

    /// The address `X-Forwarded-For` gets (an accepted connection knows it when the handler is added).
    private func noteClientAddress(_ context: ChannelHandlerContext) {
        if framer.clientAddress == nil { framer.clientAddress = context.channel.remoteAddress?.ipAddress }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeClient()  // resets and the like: the connection is done
    }

    /// The framer refused the bytes that follow the requests it framed.
    private func framingFailed(_ wireError: HTTPWireError) {
        framingStopped = true
        guard !isClosed else { return }
        if bodyIsOpen, queued.isEmpty {
            // The body of the exchange in progress can't be finished: answer if nothing went out yet.
            abortExchange(answering: wireError)
        } else if case .idle = state, queued.isEmpty {
            answer(wireError)
        } else {
            // Requests before the bad bytes still get their answers, then this one.
            pendingWireError = wireError
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        upstream?.setAutoRead(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !framingStopped, !isClosed else { return }
        readStartedAt = .now()
        do {
            try framer.decode(unwrapInboundIn(data), allocator: allocator, to: self)
        } catch {
            framingFailed(error as? HTTPWireError ?? .malformed)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {}  // the last handler: nothing after it to tell

    // MARK: RequestFramerSink

    func framerHeadStarted() {
        idleSince = nil
        headStartedAt = readStartedAt
        if case .idle = state { arm(readStartedAt + configuration.headerTimeout) }
    }

    func framerBodyProgress() {
        headStartedAt = nil
        bodyProgressAt = readStartedAt
        arm(readStartedAt + configuration.bodyTimeout)
    }

    func framerExpectsContinue() {
        context?.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
    }

    func framerSpareBuffer() -> ByteBuffer? {
        spareRequest.take()
    }

    func framerEmitted(_ part: RequestPart) {
        guard !isClosed else { return }
        if queued.isEmpty, receive(part, at: readStartedAt) { return }
        // Pipelined: keep it for after the exchange in progress, and stop reading meanwhile.
        queued.append(part)
        pausedForQueue = true
        updateReading()
    }

    /// Takes a part for the exchange in progress or starts one (`at`: when it became this request's
    /// turn); false when it must wait its turn.
    private func receive(_ part: RequestPart, at time: NIODeadline) -> Bool {
        switch part {
        case .head(let request):
            guard case .idle = state else { return false }
            headStartedAt = nil
            if !request.streamsBody { bodyProgressAt = nil }
            dispatch(request, at: time)
        case .body(let body):
            guard bodyIsOpen else { return request == nil }  // a body behind a finished exchange is dropped
            passOn(body)
        case .end:
            guard bodyIsOpen else { return request == nil }
            bodyIsOpen = false
            bodyProgressAt = nil
        }
        return true
    }

    /// Runs queued pipelined parts until a request is in flight (`at`: when the one before ended).
    private func processQueue(at time: NIODeadline) {
        guard !isProcessingQueue else { return }
        isProcessingQueue = true
        defer { isProcessingQueue = false }
        while let next = queued.first, !isClosed {
            guard receive(next, at: time) else { break }
            queued.removeFirst()
        }
        if queued.isEmpty, case .idle = state {
            pausedForQueue = false
            if let pendingWireError {
                self.pendingWireError = nil
                answer(pendingWireError)
                return
            }
            updateReading()
        }
    }

    private var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    private func updateReading() {
        guard let context, !isClosed else { return }
        let paused = pausedForQueue || pausedForBackpressure
        guard paused != readingPaused else { return }
        readingPaused = paused
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: !paused)
        if !paused { context.read() }
    }

    // MARK: Exchange

    private func dispatch(_ request: ProxyRequest, at time: NIODeadline) {
        self.request = request
        state = .awaitingResponse
        idleSince = nil
        dispatchedAt = time
        exchangeID &+= 1
        attempts = 0
        triedBackends = 0
        heldByDrill = false
        bodyIsOpen = request.streamsBody
        bodySent = false
        tryBackend(at: time)
    }

    /// A piece of the streamed body: to the backend if it is connected, else held until it is.
    private func passOn(_ body: ByteBuffer) {
        if let upstream, request != nil, case .awaitingResponse = state {
            bodySent = true
            upstream.sendBody(body)
            pausedForBackpressure = !upstream.isWritable
        } else if case .awaitingResponse = state {
            heldBody.append(body)
            heldBodyBytes += body.readableBytes
            pausedForBackpressure = heldBodyBytes > configuration.heldBodyLimit
        } else if case .streamingResponse = state, let upstream {
            // The backend answers before reading all of the body: it still gets the rest.
            upstream.sendBody(body)
            pausedForBackpressure = !upstream.isWritable
        }
        updateReading()
    }

    /// `at`: now, as the caller last read the clock (an upstream connection's response timeout starts there).
    private func tryBackend(at now: NIODeadline) {
        // Fields read one by one, not `guard let request`: a copy of the request retains and releases its bytes.
        guard let route = request?.route else { return }
        let table = service.table
        let mode = isPreviewDoor ? .candidate : table.mode(route: route, pinnedRelease: request?.pinnedRelease)
        guard let index = service.pick(mode, strict: isPreviewDoor, excluding: triedBackends) else {
            respondWithError("503 Service Unavailable", "no backend available\n")
            return
        }
        if index < 64 { triedBackends |= 1 << UInt64(index) }
        // Field by field, not the whole backend: a copy of it retains and releases each of its references.
        metricsSlot = table.backends[index].metricsSlot
        versionHeader = table.backends[index].versionHeader
        if let fault = table.backends[index].fault, !heldByDrill {
            switch FaultInjection.decide(fault) {
            case .answerError:
                service.recordResponse(slot: metricsSlot, status: 503, microseconds: 0)
                respondWithError("503 Service Unavailable", "fault injected by a ripcord drill\n")
                return
            case .cutOff:
                service.recordConnectionFailure(slot: metricsSlot)
                closeClient()
                return
            case let .delay(milliseconds):
                heldByDrill = true
                delay(by: milliseconds, index: index)
                return
            case .none:
                break
            }
        }
        lease(index, at: now)
    }

    /// A drill's added latency: the request waits on the event loop, then goes on to the same backend
    /// (the wait counts in its measured latency).
    private func delay(by milliseconds: Int, index: Int) {
        guard let context else { return }
        let exchange = exchangeID
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(milliseconds))) {
            guard self.exchangeID == exchange, case .awaitingResponse = self.state, index < self.service.pools.count else { return }
            self.lease(index, at: .now())
        }
    }

    private func lease(_ index: Int, at now: NIODeadline) {
        let pool = service.pools[index]
        self.pool = pool
        switch pool.state.lease() {
        case .reuse(let connection):
            start(on: connection, at: now)
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
        pool.connect(on: context.eventLoop, configuration: configuration, budget: service.budget)
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
                        self.start(on: connection, at: .now())
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

    private func start(on connection: UpstreamConnectionHandler, at now: NIODeadline) {
        guard let bytes = request?.bytes, let isHEAD = request?.isHEAD else { return }
        upstream = connection
        connection.send(bytes, isHEAD: isHEAD, to: self, at: now)
        guard upstream === connection, !heldBody.isEmpty else { return }
        bodySent = true
        for part in heldBody { connection.sendBody(part) }
        heldBody.removeAll()
        heldBodyBytes = 0
        pausedForBackpressure = !connection.isWritable
        updateReading()
    }

    /// After a failed attempt: retry on another backend if allowed, else answer 502.
    private func retryOrFail(nothingSent: Bool) {
        upstream = nil
        pool = nil
        attempts += 1
        let resendable = !bodySent && (nothingSent || request?.isIdempotent == true)
        if attempts <= configuration.maxRetries, resendable {
            tryBackend(at: .now())
        } else {
            respondWithError("502 Bad Gateway", "bad gateway\n")
        }
    }

    /// Gives the upstream connection back to its pool (or closes it).
    private func releaseUpstream(reusable: Bool) {
        // Moved out, not copied: a copy retains and releases each.
        let pool = self.pool.take()
        guard let upstream = self.upstream.take() else { return }
        upstream.detach()
        if let pool { pool.release(upstream, reusable: reusable) } else { upstream.close() }
    }

    // MARK: UpstreamResponseReceiver

    func upstreamResponseHead(
        _ head: HTTPWire.ResponseHead, bytes: UnsafeRawBufferPointer,
        framing: HTTPWire.BodyFraming
    ) -> Bool {
        guard case .awaitingResponse = state, context != nil, let versionMinor = request?.versionMinor, let clientKeepAlive = request?.keepAlive
        else { return false }
        // Measured at the last byte (upstreamResponseEnd): a slow body is slow for the client too.
        responseStatus = head.status
        let clientIsOld = versionMinor == 0
        // A body whose end only the close can tell, or chunks an HTTP/1.0 client can't read,
        // end with closing the client connection.
        let closeDelimited = framing == .untilClose || (framing == .chunked && clientIsOld)
        keepAliveAfterResponse = clientKeepAlive && !isDraining && !closeDelimited
        let dechunk = framing == .chunked && clientIsOld
        var smallBody = 0
        if case .length(let length) = framing, length <= Self.coalescedBodyLimit { smallBody = length }
        let capacity = head.headEnd + 64 + smallBody
        var out = allocator.buffer(reusing: spareResponse.take(), capacity: capacity)
        HTTPWire.writeClientResponseHead(
            bytes, head, keepAlive: keepAliveAfterResponse,
            clientVersionMinor: versionMinor, dechunk: dechunk,
            versionHeader: versionHeader, into: &out)
        state = .streamingResponse
        heldResponse = consume out
        needsFlush = true
        return dechunk
    }

    /// A body part up to this size read with its head goes out in the head's buffer: one write, one copy.
    private static let coalescedBodyLimit = 4096

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard case .streamingResponse = state, let context else { return }
        if heldResponse != nil {
            if body.readableBytes <= Self.coalescedBodyLimit {
                heldResponse!.writeImmutableBuffer(body)  // in place: the buffer has room, and no other owner
                return
            }
            sendHeldResponse(flushing: false)
        }
        context.write(wrapOutboundOut(body), promise: nil)
        needsFlush = true
    }

    /// Writes the held response head (and the body it carries), keeping its buffer for the next one;
    /// flushing, in the same pass through the pipeline.
    private func sendHeldResponse(flushing: Bool) {
        guard let context else { return }
        guard let head = heldResponse.take() else {
            if flushing { context.flush() }
            return
        }
        if flushing {
            context.writeAndFlush(wrapOutboundOut(head), promise: nil)
        } else {
            context.write(wrapOutboundOut(head), promise: nil)
        }
        if head.capacity <= Self.spareCapacityLimit { spareResponse = consume head }
    }

    func upstreamResponseEnd(reusable: Bool, at end: NIODeadline) {
        guard case .streamingResponse = state else { return }
        if let status = responseStatus {
            let elapsed = end - dispatchedAt
            service.recordResponse(slot: metricsSlot, status: status, microseconds: UInt64(max(0, elapsed.nanoseconds / 1000)))
            responseStatus = nil
        }
        // A response that ends before the request body did leaves both connections out of step.
        let bodyUnfinished = bodyIsOpen
        releaseUpstream(reusable: reusable && !bodyUnfinished)
        // Keep-alive as the head told the client, even if draining began since: closing now could cut a request
        // the client is already sending; its next answer says `connection: close`, or the idle grace ends it.
        finishResponse(keepAlive: keepAliveAfterResponse && !bodyUnfinished, at: end)
    }

    func upstreamReadComplete() {
        if needsFlush {
            needsFlush = false
            sendHeldResponse(flushing: true)
        }
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        guard bodyIsOpen else { return }
        pausedForBackpressure = !isWritable
        updateReading()
    }

    func upstreamFailed() {
        switch state {
        case .awaitingResponse:
            service.recordConnectionFailure(slot: metricsSlot)
            releaseUpstream(reusable: false)
            retryOrFail(nothingSent: false)
        case .streamingResponse:
            // Cut short after the head went out: the client can only learn by the connection closing,
            // and counts it as the failure it is.
            recordCutShortResponse()
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
            recordCutShortResponse()
            releaseUpstream(reusable: false)
            closeClient()
        default:
            break
        }
    }

    private func recordCutShortResponse() {
        guard responseStatus != nil else { return }
        responseStatus = nil
        service.recordConnectionFailure(slot: metricsSlot)
    }

    // MARK: Responses and connection lifecycle

    private func finishResponse(keepAlive: Bool, at time: NIODeadline? = nil) {
        guard let context else { return }
        sendHeldResponse(flushing: keepAlive)
        if let bytes = request.take()?.bytes, bytes.capacity <= Self.spareCapacityLimit { spareRequest = bytes }
        needsFlush = false
        heldBody.removeAll()
        heldBodyBytes = 0
        pausedForBackpressure = false
        if keepAlive {
            state = .idle
            let now = time ?? context.eventLoop.now
            becameIdle(at: now)
            processQueue(at: now)
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
        // Unread body bytes would be taken for the next request: close instead.
        let keepAlive = (request?.keepAlive ?? false) && !isDraining && !bodyIsOpen
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

    /// Answers a request the router refuses (or a client too slow to finish one), then closes.
    private func answer(_ error: HTTPWireError) {
        let response: StaticString =
            switch error {
            case .bodyTooLarge: "HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .headTooLarge: "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .unsupportedVersion: "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .unsupportedTransferCoding: "HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .malformed: "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            case .timedOut: "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            }
        guard let context else { return }
        state = .closed
        queued.removeAll()
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: response))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// The exchange's request can't be completed (its body broke off): answer if the client has
    /// had nothing yet, else close.
    private func abortExchange(answering error: HTTPWireError) {
        releaseUpstream(reusable: false)
        bodyIsOpen = false
        if case .awaitingResponse = state { answer(error) } else { closeClient() }
    }

    private func closeClient() {
        state = .closed
        context?.close(promise: nil)
    }

    private func connectionClosed() {
        state = .closed
        queued.removeAll()
        heldBody.removeAll()
        exchangeID &+= 1
        timer?.cancel()
        timer = nil
        releaseUpstream(reusable: false)
        service.unregister(self)
    }

    /// Shutdown: close after the response in progress, or once idle for `drainingIdleGrace`.
    func drain() {
        isDraining = true
        guard case .idle = state, queued.isEmpty, let now = context?.eventLoop.now else { return }
        arm((idleSince ?? now) + configuration.drainingIdleGrace)
    }

    func forceClose() {
        closeClient()
    }

    // MARK: Timeouts

    private func becameIdle(at now: NIODeadline) {
        if headStartedAt != nil {
            // A pipelined head had started while the router was busy: its clock starts now.
            headStartedAt = now
            arm(now + configuration.headerTimeout)
        } else {
            idleSince = now
            arm(now + idleLimit)
        }
    }

    /// How long the connection may stay idle: the idle timeout, or only the grace once draining.
    private var idleLimit: TimeAmount {
        isDraining ? min(configuration.clientIdleTimeout, configuration.drainingIdleGrace) : configuration.clientIdleTimeout
    }

    /// Makes sure a check runs by `deadline` (one scheduled check at a time, moved only earlier).
    private func arm(_ deadline: NIODeadline) {
        guard let context, timer == nil || deadline < timerDeadline else { return }
        timer?.cancel()
        timerDeadline = deadline
        // Held strongly, not weakly: a weak reference gives the handler a side table, which makes every
        // retain and release of it on the hot path the slow kind. connectionClosed cancels the check.
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            checkTimeouts()
        }
    }

    private func checkTimeouts() {
        timer = nil
        guard !isClosed, let now = context?.eventLoop.now else { return }
        let due: NIODeadline
        if let bodyProgressAt {
            due = bodyProgressAt + configuration.bodyTimeout
            if now >= due { return bodyTimedOut() }
        } else if let headStartedAt, case .idle = state {
            due = headStartedAt + configuration.headerTimeout
            if now >= due { return answer(.timedOut) }
        } else if let idleSince, case .idle = state, queued.isEmpty {
            due = idleSince + idleLimit
            if now >= due { return closeClient() }
        } else {
            return  // an exchange in flight: the upstream's response timeout applies
        }
        arm(due)
    }

    private func bodyTimedOut() {
        bodyProgressAt = nil
        if bodyIsOpen {
            abortExchange(answering: .timedOut)
        } else if case .idle = state {
            answer(.timedOut)  // a body the framer holds, still incomplete
        } else {
            closeClient()
        }
    }
}
