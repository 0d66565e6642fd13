import NIOCore

/// Receives what happens on an upstream connection during one exchange.
protocol UpstreamResponseReceiver: AnyObject {
    /// The response head arrived (`bytes` holds it, valid only during the call). Returns whether
    /// a chunked body should be decoded rather than passed through (for HTTP/1.0 clients).
    func upstreamResponseHead(
        _ head: HTTPWire.ResponseHead, bytes: UnsafeRawBufferPointer,
        framing: HTTPWire.BodyFraming
    ) -> Bool
    func upstreamResponseBody(_ body: ByteBuffer)
    /// The response is complete (its last bytes were read at `end`). `reusable`: the connection may
    /// carry another request.
    func upstreamResponseEnd(reusable: Bool, at end: NIODeadline)
    /// The upstream delivered a batch of reads: a natural point to flush towards the client.
    func upstreamReadComplete()
    /// The upstream connection can take more of a streamed request body (or can't, for now).
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The connection died (EOF, reset, bad response) before the response ended.
    func upstreamFailed()
    /// No byte from the upstream for the response timeout.
    func upstreamTimedOut()
}

/// The only handler of an upstream (router → backend) connection. Its one job: carry one
/// exchange at a time — write the request bytes, frame the response (head, then a sized,
/// chunked or close-delimited body), relay it part by part to the current receiver — and report
/// the connection's death and silence. It is also the object the pool holds.
final class UpstreamConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum ResponseState {
        case idle
        case head
        case body(remaining: Int)
        case chunked
        case untilClose
    }

    private var context: ChannelHandlerContext?
    private(set) var receiver: (any UpstreamResponseReceiver)?
    /// The pool this connection belongs to (set once connected).
    var pool: BackendPool?
    private let responseTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var isParked = false
    private(set) var isActive = false

    private var state = ResponseState.idle
    private var requestIsHEAD = false
    private var keepAlive = false
    private var dechunk = false
    private var scanner = ChunkedScanner()
    private var cumulation: ByteBuffer?
    private var scanFrom = 0

    init(responseTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.responseTimeout = responseTimeout
        self.idleTimeout = idleTimeout
    }

    // MARK: Used by the exchange owner

    /// Starts an exchange (at `now`, when the response timeout starts): writes the request bytes with one flush.
    func send(_ request: ByteBuffer, isHEAD: Bool, to receiver: any UpstreamResponseReceiver, at now: NIODeadline) {
        // A fresh connection's connect promise completes just before channelActive fires.
        guard let context, isActive || context.channel.isActive else {
            receiver.upstreamFailed()
            return
        }
        becameActive(context: context)
        self.receiver = receiver
        isParked = false
        requestIsHEAD = isHEAD
        state = .head
        scanFrom = 0
        cumulation = nil
        lastActivity = now
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    /// Writes the next piece of a streamed request body. Progress on the request counts as
    /// activity: the response timeout runs from the last byte sent.
    func sendBody(_ body: ByteBuffer) {
        guard let context, isActive else { return }
        lastActivity = .now()
        context.writeAndFlush(wrapOutboundOut(body), promise: nil)
    }

    /// Whether the socket takes more bytes without queueing them in the process.
    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Ends the exchange without closing; the pool decides what follows.
    func detach() {
        receiver = nil
    }

    /// Marks the connection idle in its pool: idle since its last activity.
    func parked() {
        receiver = nil
        isParked = true
        state = .idle
        setAutoRead(true)
    }

    func close() {
        receiver = nil
        isParked = false
        guard let context, isActive else { return }
        context.close(promise: nil)
    }

    private var autoReadOff = false

    /// Backpressure from the client side: stop (or resume) reading the response.
    func setAutoRead(_ enabled: Bool) {
        guard let context, isActive, autoReadOff == enabled else { return }
        autoReadOff = !enabled
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: enabled)
        if enabled { context.read() }
    }

    // MARK: ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { becameActive(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        becameActive(context: context)
        context.fireChannelActive()
    }

    private func becameActive(context: ChannelHandlerContext) {
        guard !isActive else { return }
        isActive = true
        lastActivity = .now()
        scheduleCheck(at: lastActivity + min(responseTimeout, idleTimeout))
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        timer?.cancel()
        timer = nil
        if let receiver {
            if case .untilClose = state {
                finish(reusable: false)
            } else {
                self.receiver = nil
                state = .idle
                receiver.upstreamFailed()
            }
        } else if isParked {
            isParked = false
            pool?.state.idleConnectionClosed(self)
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard receiver != nil else {
            // Bytes nobody asked for: this connection can't be trusted with another request.
            context.close(promise: nil)
            return
        }
        lastActivity = .now()
        var buffer = unwrapInboundIn(data)
        if var cumulated = cumulation {
            cumulation = nil
            cumulated.writeBuffer(&buffer)
            buffer = cumulated
        }
        do {
            try process(&buffer)
        } catch {
            fail(context: context)
        }
    }

    private func process(_ buffer: inout ByteBuffer) throws {
        while let receiver {
            switch state {
            case .idle:
                // Bytes after the end of the response: the connection is out of step.
                if buffer.readableBytes > 0 { throw HTTPWireError.malformed }
                return
            case .head:
                let from = scanFrom
                let isHEAD = requestIsHEAD
                var framing = HTTPWire.BodyFraming.none
                let headEnd: Int? = try buffer.withUnsafeReadableBytes { p in
                    guard let headEnd = HTTPWire.findHeadEnd(p, from: from) else { return nil }
                    guard headEnd <= HTTPWire.maxHeadSize else { throw HTTPWireError.headTooLarge }
                    let head = try HTTPWire.parseResponseHead(p, headEnd: headEnd)
                    if head.isInformational {
                        framing = .none
                        return -headEnd  // skipped below
                    }
                    framing = head.framing(requestWasHEAD: isHEAD)
                    keepAlive = head.keepAlive
                    dechunk = receiver.upstreamResponseHead(head, bytes: p, framing: framing)
                    return headEnd
                }
                guard let headEnd else {
                    guard buffer.readableBytes <= HTTPWire.maxHeadSize else { throw HTTPWireError.headTooLarge }
                    scanFrom = max(0, buffer.readableBytes - 3)
                    if buffer.readableBytes > 0 { cumulation = buffer }
                    return
                }
                scanFrom = 0
                if headEnd < 0 {  // 1xx: dropped, the final response follows
                    buffer.moveReaderIndex(forwardBy: -headEnd)
                    continue
                }
                guard self.receiver != nil else { return }  // the receiver went away during the head
                buffer.moveReaderIndex(forwardBy: headEnd)
                switch framing {
                case .none:
                    finish(reusable: keepAlive && buffer.readableBytes == 0)
                    return
                case .length(let length):
                    state = .body(remaining: length)
                case .chunked:
                    scanner = ChunkedScanner()
                    state = .chunked
                case .untilClose:
                    state = .untilClose
                }
            case .body(let remaining):
                let take = min(remaining, buffer.readableBytes)
                if take == 0 { return }
                receiver.upstreamResponseBody(buffer.readSlice(length: take)!)
                if take == remaining {
                    finish(reusable: keepAlive && buffer.readableBytes == 0)
                    return
                }
                state = .body(remaining: remaining - take)
                return
            case .chunked:
                if buffer.readableBytes == 0 { return }
                if dechunk {
                    var data: [ByteBuffer] = []
                    let consumed = try buffer.withUnsafeReadableBytes { p in
                        try scanner.scan(p, from: 0, to: p.count) { range in data.append(ByteBuffer(bytes: p[range])) }
                    }
                    buffer.moveReaderIndex(forwardBy: consumed)
                    for part in data where part.readableBytes > 0 { receiver.upstreamResponseBody(part) }
                } else {
                    let consumed = try buffer.withUnsafeReadableBytes { p in
                        try scanner.scan(p, from: 0, to: p.count) { _ in }
                    }
                    receiver.upstreamResponseBody(buffer.readSlice(length: consumed)!)
                }
                if scanner.isDone {
                    finish(reusable: keepAlive && buffer.readableBytes == 0)
                }
                return
            case .untilClose:
                if buffer.readableBytes > 0 { receiver.upstreamResponseBody(buffer.readSlice(length: buffer.readableBytes)!) }
                return
            }
        }
    }

    private func finish(reusable: Bool) {
        state = .idle
        guard let receiver = receiver.take() else { return }
        receiver.upstreamResponseEnd(reusable: reusable && isActive, at: lastActivity)
    }

    private func fail(context: ChannelHandlerContext) {
        state = .idle
        cumulation = nil
        context.close(promise: nil)  // channelInactive reports the failure to the receiver
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        receiver?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()  // the last handler: nothing after it to tell
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets and the like: the connection is done. channelInactive reports it.
        context.close(promise: nil)
    }

    // MARK: Timeouts (one scheduled check per connection, re-armed lazily)

    private func scheduleCheck(at deadline: NIODeadline) {
        guard let context else { return }
        // Held strongly, not weakly (see ClientConnectionHandler.arm); closing cancels the check.
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            checkTimeouts()
        }
    }

    private func checkTimeouts() {
        timer = nil
        guard isActive, let context else { return }
        let now = NIODeadline.now()
        if let receiver {
            let due = lastActivity + responseTimeout
            if now >= due {
                self.receiver = nil
                state = .idle
                receiver.upstreamTimedOut()
                context.close(promise: nil)
                return
            }
            scheduleCheck(at: due)
        } else if isParked {
            let due = lastActivity + idleTimeout
            if now >= due {
                context.close(promise: nil)
                return
            }
            scheduleCheck(at: due)
        } else {
            scheduleCheck(at: now + min(responseTimeout, idleTimeout))
        }
    }
}
