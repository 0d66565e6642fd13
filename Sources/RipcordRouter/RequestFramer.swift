import NIOCore

/// A complete client request, already rewritten for the backend.
struct ProxyRequest {
    /// The bytes to send upstream: head (HTTP/1.1, hop-by-hop headers removed, length and
    /// `X-Forwarded-For` set) and the whole body. Resent as they are on a retry.
    var bytes: ByteBuffer
    var isHEAD: Bool
    var isIdempotent: Bool
    /// The client wants the connection kept open after the response.
    var keepAlive: Bool
    var versionMinor: Int
    var route: RouteMode
    var pinnedRelease: Int64?
}

/// The first handler of a client connection. Its one job: cut the byte stream into whole
/// requests (head and body, buffered), rewriting each head for the backend as it goes. Errors
/// (malformed, too large) are thrown as `HTTPWireError` for the next handler to answer.
struct RequestFramer: ByteToMessageDecoder {
    typealias InboundOut = ProxyRequest

    private enum State {
        case head
        case body(remaining: Int)
        case chunked
    }

    private let maxBody: Int
    private var state = State.head
    private var scanFrom = 0
    private var clientAddress: String?
    private var addressLooked = false
    // The request being assembled (only while its body is read).
    private var pending: ByteBuffer?
    private var pendingHead = HTTPWire.RequestHead()
    private var forwardedFor: ByteBuffer?
    private var chunkedBody: ByteBuffer?
    private var scanner = ChunkedScanner()

    init(maxBody: Int) {
        self.maxBody = maxBody
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .head:
            return try decodeHead(context: context, buffer: &buffer)
        case .body(let remaining):
            let take = min(remaining, buffer.readableBytes)
            guard take > 0 else { return .needMoreData }
            var slice = buffer.readSlice(length: take)!
            var out = pending!
            pending = nil
            out.writeBuffer(&slice)
            pending = out
            if take == remaining {
                emit(context: context)
                return .continue
            }
            state = .body(remaining: remaining - take)
            return .needMoreData
        case .chunked:
            guard buffer.readableBytes > 0 else { return .needMoreData }
            var body = chunkedBody!
            chunkedBody = nil
            let consumed = try buffer.withUnsafeReadableBytes { p in
                try scanner.scan(p, from: 0, to: p.count) { range in
                    body.writeBytes(UnsafeRawBufferPointer(rebasing: p[range]))
                }
            }
            buffer.moveReaderIndex(forwardBy: consumed)
            guard body.readableBytes <= maxBody else { throw HTTPWireError.bodyTooLarge }
            if scanner.isDone {
                finishHead(bodyLength: body.readableBytes)
                var out = pending!
                pending = nil
                out.writeBuffer(&body)
                pending = out
                emit(context: context)
                return .continue
            }
            chunkedBody = body
            return .needMoreData
        }
    }

    private mutating func decodeHead(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let readable = buffer.readableBytes
        guard readable > 0 else { return .needMoreData }
        if !addressLooked {
            addressLooked = true
            clientAddress = context.channel.remoteAddress?.ipAddress
        }
        let from = scanFrom
        let maxBody = self.maxBody
        let parsed: (HTTPWire.RequestHead, ByteBuffer)? = try buffer.withUnsafeReadableBytes { p in
            guard let headEnd = HTTPWire.findHeadEnd(p, from: from) else { return nil }
            let head = try HTTPWire.parseRequestHead(p, headEnd: headEnd)
            if let length = head.contentLength, length > maxBody { throw HTTPWireError.bodyTooLarge }
            var out = context.channel.allocator.buffer(capacity: headEnd + 96 + (head.contentLength ?? 0))
            HTTPWire.writeUpstreamRequestHead(p, head, into: &out)
            return (head, out)
        }
        guard let (head, out) = parsed else {
            guard readable <= HTTPWire.maxHeadSize else { throw HTTPWireError.headTooLarge }
            scanFrom = max(0, readable - 3)
            return .needMoreData
        }
        scanFrom = 0
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
            state = .chunked
            return .continue
        }
        let length = head.contentLength ?? 0
        finishHead(bodyLength: length)
        if length == 0 {
            emit(context: context)
        } else {
            state = .body(remaining: length)
        }
        return .continue
    }

    private mutating func finishHead(bodyLength: Int) {
        let head = pendingHead
        var out = pending!
        pending = nil
        if let forwardedFor {
            self.forwardedFor = nil
            forwardedFor.withUnsafeReadableBytes { p in
                var adjusted = head
                adjusted.forwardedFor = 0..<p.count
                HTTPWire.finishUpstreamRequestHead(p, adjusted, bodyLength: bodyLength, clientAddress: clientAddress,
                                                   into: &out)
            }
        } else {
            HTTPWire.finishUpstreamRequestHead(nil, head, bodyLength: bodyLength, clientAddress: clientAddress, into: &out)
        }
        pending = out
    }

    private mutating func emit(context: ChannelHandlerContext) {
        let head = pendingHead
        let request = ProxyRequest(bytes: pending!, isHEAD: head.isHEAD, isIdempotent: head.isIdempotent,
                                   keepAlive: head.keepAlive, versionMinor: head.versionMinor, route: head.route,
                                   pinnedRelease: head.pinnedRelease)
        pending = nil
        state = .head
        context.fireChannelRead(NIOAny(request))
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A request cut short by the client's close is dropped.
        .needMoreData
    }
}
