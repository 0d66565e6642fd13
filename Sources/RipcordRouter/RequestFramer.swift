import NIOCore

/// A client request's head, already rewritten for the backend.
struct ProxyRequest {
    /// The bytes to send upstream first: the head (HTTP/1.1, hop-by-hop headers removed, framing and
    /// `X-Forwarded-For` set) and, unless `streamsBody`, the whole body. Resent as they are on a retry.
    var bytes: ByteBuffer
    /// The body follows as `RequestPart.body` parts and an `.end`: too long to hold whole.
    var streamsBody: Bool
    var isHEAD: Bool
    var isIdempotent: Bool
    /// The client wants the connection kept open after the response.
    var keepAlive: Bool
    var versionMinor: Int
    var route: RouteMode
    var pinnedRelease: Int64?
}

/// What the framer hands on, in order: a request, then (only when it streams its body) the body's
/// parts and its end.
enum RequestPart {
    case head(ProxyRequest)
    /// The next piece of a streamed body, already framed for the backend.
    case body(ByteBuffer)
    case end
}

/// Reading progress the connection's timeouts follow (sent as user events).
enum RequestReadProgress {
    /// The first byte of a request head arrived: the header timeout runs.
    case headStarted
    /// The head is complete and a body is being read: the body timeout runs from each of these.
    case bodyProgress
}

/// The first handler of a client connection. Its one job: cut the byte stream into requests,
/// rewriting each head for the backend as it goes. A body up to `bufferLimit` is held and sent
/// with its head (so a request can be retried on another backend); a longer one is handed on as it
/// arrives, so the router holds at most one read of it and the client is slowed by the backend's
/// pace (backpressure), never buffered whole. Errors (malformed, too large) are thrown as
/// `HTTPWireError` for the next handler to answer.
struct RequestFramer: ByteToMessageDecoder {
    typealias InboundOut = RequestPart

    private enum State {
        case head
        /// A body of known length: held whole, or handed on as it comes.
        case sized(remaining: Int, streamed: Bool)
        /// A chunked body: held while it fits `bufferLimit`, then handed on re-chunked.
        case chunked(streamed: Bool)
    }

    private let maxBody: Int
    private let bufferLimit: Int
    private var state = State.head
    private var scanFrom = 0
    private var headStartSignalled = false
    private var clientAddress: String?
    private var addressLooked = false
    // The request being assembled.
    private var pending: ByteBuffer?
    private var pendingHead = HTTPWire.RequestHead()
    private var forwardedFor: ByteBuffer?
    private var chunkedBody: ByteBuffer?
    private var chunkedTotal = 0
    private var scanner = ChunkedScanner()

    init(maxBody: Int, bufferLimit: Int) {
        self.maxBody = maxBody
        self.bufferLimit = bufferLimit
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .head:
            return try decodeHead(context: context, buffer: &buffer)
        case .sized(let remaining, let streamed):
            let take = min(remaining, buffer.readableBytes)
            guard take > 0 else { return .needMoreData }
            let slice = buffer.readSlice(length: take)!
            context.fireUserInboundEventTriggered(RequestReadProgress.bodyProgress)
            if streamed {
                context.fireChannelRead(NIOAny(RequestPart.body(slice)))
            } else {
                appendToPending(slice)
            }
            guard take == remaining else {
                state = .sized(remaining: remaining - take, streamed: streamed)
                return .needMoreData
            }
            if streamed { end(context: context) } else { emit(context: context, streamsBody: false) }
            return .continue
        case .chunked(let streamed):
            return try decodeChunks(context: context, buffer: &buffer, streamed: streamed)
        }
    }

    private mutating func decodeChunks(context: ChannelHandlerContext, buffer: inout ByteBuffer, streamed: Bool) throws -> DecodingState {
        guard buffer.readableBytes > 0 else { return .needMoreData }
        var data = chunkedBody ?? context.channel.allocator.buffer(capacity: 0)
        chunkedBody = nil
        let before = data.readableBytes
        let consumed = try buffer.withUnsafeReadableBytes { p in
            try scanner.scan(p, from: 0, to: p.count) { range in data.writeBytes(UnsafeRawBufferPointer(rebasing: p[range])) }
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        chunkedTotal += data.readableBytes - before
        guard chunkedTotal <= maxBody else { throw HTTPWireError.bodyTooLarge }
        context.fireUserInboundEventTriggered(RequestReadProgress.bodyProgress)
        if streamed {
            if data.readableBytes > 0 { context.fireChannelRead(NIOAny(RequestPart.body(Self.chunk(data, context)))) }
            if scanner.isDone {
                context.fireChannelRead(NIOAny(RequestPart.body(ByteBuffer(staticString: "0\r\n\r\n"))))
                end(context: context)
                return .continue
            }
            return .needMoreData
        }
        if scanner.isDone {
            finishHead(body: .length(data.readableBytes))
            appendToPending(data)
            emit(context: context, streamsBody: false)
            return .continue
        }
        if data.readableBytes > bufferLimit {
            // Too long to hold: the head goes now, the chunks as they come.
            finishHead(body: .chunked)
            emit(context: context, streamsBody: true)
            state = .chunked(streamed: true)
            context.fireChannelRead(NIOAny(RequestPart.body(Self.chunk(data, context))))
            return .needMoreData
        }
        chunkedBody = data
        return .needMoreData
    }

    private mutating func decodeHead(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let readable = buffer.readableBytes
        guard readable > 0 else { return .needMoreData }
        if !headStartSignalled {
            headStartSignalled = true
            context.fireUserInboundEventTriggered(RequestReadProgress.headStarted)
        }
        if !addressLooked {
            addressLooked = true
            clientAddress = context.channel.remoteAddress?.ipAddress
        }
        let from = scanFrom
        let maxBody = self.maxBody
        let bufferLimit = self.bufferLimit
        let parsed: (HTTPWire.RequestHead, ByteBuffer)? = try buffer.withUnsafeReadableBytes { p in
            guard let headEnd = HTTPWire.findHeadEnd(p, from: from) else { return nil }
            // However much arrived in one read, a head over the limit is refused.
            guard headEnd <= HTTPWire.maxHeadSize else { throw HTTPWireError.headTooLarge }
            let head = try HTTPWire.parseRequestHead(p, headEnd: headEnd)
            if let length = head.contentLength, length > maxBody { throw HTTPWireError.bodyTooLarge }
            let heldBody = min(head.contentLength ?? 0, bufferLimit)
            var out = context.channel.allocator.buffer(capacity: headEnd + 96 + heldBody)
            HTTPWire.writeUpstreamRequestHead(p, head, into: &out)
            return (head, out)
        }
        guard let (head, out) = parsed else {
            guard readable <= HTTPWire.maxHeadSize else { throw HTTPWireError.headTooLarge }
            scanFrom = max(0, readable - 3)
            return .needMoreData
        }
        scanFrom = 0
        headStartSignalled = false
        pending = out
        pendingHead = head
        forwardedFor = head.forwardedFor.map { buffer.getSlice(at: buffer.readerIndex + $0.lowerBound, length: $0.count)! }
        buffer.moveReaderIndex(forwardBy: head.headEnd)
        if head.expectContinue, head.chunked || (head.contentLength ?? 0) > 0 {
            context.writeAndFlush(NIOAny(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
        }
        if head.chunked {
            scanner = ChunkedScanner()
            chunkedBody = context.channel.allocator.buffer(capacity: 0)
            chunkedTotal = 0
            state = .chunked(streamed: false)
            context.fireUserInboundEventTriggered(RequestReadProgress.bodyProgress)
            return .continue
        }
        let length = head.contentLength ?? 0
        finishHead(body: .length(length))
        if length == 0 {
            emit(context: context, streamsBody: false)
        } else {
            let streamed = length > bufferLimit
            if streamed { emit(context: context, streamsBody: true) }
            state = .sized(remaining: length, streamed: streamed)
            context.fireUserInboundEventTriggered(RequestReadProgress.bodyProgress)
        }
        return .continue
    }

    private mutating func appendToPending(_ data: ByteBuffer) {
        var out = pending!
        pending = nil
        var data = data
        out.writeBuffer(&data)
        pending = out
    }

    private mutating func finishHead(body: HTTPWire.UpstreamBody) {
        let head = pendingHead
        var out = pending!
        pending = nil
        if let forwardedFor {
            self.forwardedFor = nil
            forwardedFor.withUnsafeReadableBytes { p in
                var adjusted = head
                adjusted.forwardedFor = 0..<p.count
                HTTPWire.finishUpstreamRequestHead(p, adjusted, body: body, clientAddress: clientAddress, into: &out)
            }
        } else {
            HTTPWire.finishUpstreamRequestHead(nil, head, body: body, clientAddress: clientAddress, into: &out)
        }
        pending = out
    }

    private mutating func emit(context: ChannelHandlerContext, streamsBody: Bool) {
        let head = pendingHead
        // A streamed body can't be sent twice, so its request is never retried after it went out.
        let request = ProxyRequest(
            bytes: pending!, streamsBody: streamsBody, isHEAD: head.isHEAD,
            isIdempotent: head.isIdempotent && !streamsBody, keepAlive: head.keepAlive,
            versionMinor: head.versionMinor, route: head.route, pinnedRelease: head.pinnedRelease)
        pending = nil
        if !streamsBody { state = .head }
        context.fireChannelRead(NIOAny(RequestPart.head(request)))
    }

    private mutating func end(context: ChannelHandlerContext) {
        state = .head
        context.fireChannelRead(NIOAny(RequestPart.end))
    }

    /// Chunk data as one chunk of the upstream body.
    private static func chunk(_ data: ByteBuffer, _ context: ChannelHandlerContext) -> ByteBuffer {
        var data = data
        var out = context.channel.allocator.buffer(capacity: data.readableBytes + 20)
        out.writeString(String(data.readableBytes, radix: 16))
        out.writeStaticString("\r\n")
        out.writeBuffer(&data)
        out.writeStaticString("\r\n")
        return out
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A request cut short by the client's close is dropped.
        .needMoreData
    }
}
