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

/// Where the framer hands what it finds, in order. The client connection's handler is the one
/// sink in the router (called directly: no pipeline hop, no boxing per request).
protocol RequestFramerSink: AnyObject {
    /// The first byte of a request head arrived: the header timeout runs.
    func framerHeadStarted()
    /// The head is complete and a body is being read: the body timeout runs from each of these.
    func framerBodyProgress()
    /// The client waits for `100 Continue` before sending the body.
    func framerExpectsContinue()
    func framerEmitted(_ part: RequestPart)
    /// A finished request's buffer to write the next head into (its storage is reused when nothing
    /// else holds it any more), or nil.
    func framerSpareBuffer() -> ByteBuffer?
}

/// Cuts a client connection's byte stream into requests, rewriting each head for the backend as it
/// goes. A value type its owner drives (`ClientConnectionHandler`): it decides, the owner acts. A body
/// up to `bufferLimit` is held and sent with its head (so a request can be retried on another
/// backend); a longer one is handed on as it arrives, so the router holds at most one read of it and
/// the client is slowed by the backend's pace (backpressure), never buffered whole. Errors
/// (malformed, too large) are thrown as `HTTPWireError` for the owner to answer.
struct RequestFramer {
    private enum State {
        case head
        /// A body of known length: held whole, or handed on as it comes.
        case sized(remaining: Int, streamed: Bool)
        /// A chunked body: held while it fits `bufferLimit`, then handed on re-chunked.
        case chunked(streamed: Bool)
    }

    private enum Step { case next, needMoreData }

    private let maxBody: Int
    private let bufferLimit: Int
    /// The address `X-Forwarded-For` gets.
    var clientAddress: String?
    private var state = State.head
    /// Bytes not framed yet: the start of a request still arriving.
    private var unframed: ByteBuffer?
    private var scanFrom = 0
    private var headStartSignalled = false
    // The request being assembled.
    private var pending: ByteBuffer?
    private var pendingHead = HTTPWire.RequestHead()
    private var forwardedFor: ByteBuffer?
    private var chunkedBody: ByteBuffer?
    private var chunkedTotal = 0
    private var scanner = ChunkedScanner()

    init(maxBody: Int, bufferLimit: Int, clientAddress: String? = nil) {
        self.maxBody = maxBody
        self.bufferLimit = bufferLimit
        self.clientAddress = clientAddress
    }

    /// Frames what `bytes` (after the bytes kept from earlier reads) completes, handing it to `sink`,
    /// and keeps the rest for the next read.
    mutating func decode(_ bytes: consuming ByteBuffer, allocator: ByteBufferAllocator, to sink: some RequestFramerSink) throws {
        var buffer = consume bytes  // the read's own buffer, not a copy (which would retain and release it)
        if var earlier = unframed.take() {
            earlier.writeBuffer(&buffer)
            buffer = earlier
        }
        try frame(&buffer, allocator: allocator, sink)
        if buffer.readableBytes > 0 { unframed = buffer }
    }

    private mutating func frame(_ buffer: inout ByteBuffer, allocator: ByteBufferAllocator, _ sink: some RequestFramerSink) throws {
        while buffer.readableBytes > 0 {
            let step: Step
            switch state {
            case .head:
                step = try decodeHead(&buffer, allocator: allocator, sink)
            case .sized(let remaining, let streamed):
                let take = min(remaining, buffer.readableBytes)
                let slice = buffer.readSlice(length: take)!
                sink.framerBodyProgress()
                if streamed {
                    sink.framerEmitted(.body(slice))
                } else {
                    appendToPending(slice)
                }
                guard take == remaining else {
                    state = .sized(remaining: remaining - take, streamed: streamed)
                    return
                }
                if streamed { end(sink) } else { emit(sink, streamsBody: false) }
                step = .next
            case .chunked(let streamed):
                step = try decodeChunks(&buffer, allocator: allocator, sink, streamed: streamed)
            }
            if case .needMoreData = step { return }
        }
    }

    private mutating func decodeChunks(
        _ buffer: inout ByteBuffer, allocator: ByteBufferAllocator, _ sink: some RequestFramerSink, streamed: Bool
    ) throws -> Step {
        var data = chunkedBody ?? allocator.buffer(capacity: 0)
        chunkedBody = nil
        let before = data.readableBytes
        let consumed = try buffer.withUnsafeReadableBytes { p in
            try scanner.scan(p, from: 0, to: p.count) { range in data.writeBytes(UnsafeRawBufferPointer(rebasing: p[range])) }
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        chunkedTotal += data.readableBytes - before
        guard chunkedTotal <= maxBody else { throw HTTPWireError.bodyTooLarge }
        sink.framerBodyProgress()
        if streamed {
            if data.readableBytes > 0 { sink.framerEmitted(.body(Self.chunk(data, allocator))) }
            if scanner.isDone {
                sink.framerEmitted(.body(ByteBuffer(staticString: "0\r\n\r\n")))
                end(sink)
                return .next
            }
            return .needMoreData
        }
        if scanner.isDone {
            finishHead(body: .length(data.readableBytes))
            appendToPending(data)
            emit(sink, streamsBody: false)
            return .next
        }
        if data.readableBytes > bufferLimit {
            // Too long to hold: the head goes now, the chunks as they come.
            finishHead(body: .chunked)
            emit(sink, streamsBody: true)
            state = .chunked(streamed: true)
            sink.framerEmitted(.body(Self.chunk(data, allocator)))
            return .needMoreData
        }
        chunkedBody = data
        return .needMoreData
    }

    private mutating func decodeHead(_ buffer: inout ByteBuffer, allocator: ByteBufferAllocator, _ sink: some RequestFramerSink) throws -> Step {
        let readable = buffer.readableBytes
        if !headStartSignalled {
            headStartSignalled = true
            sink.framerHeadStarted()
        }
        let from = scanFrom
        let maxBody = self.maxBody
        let bufferLimit = self.bufferLimit
        // The rewritten head goes straight to `pending`: any other copy of it would make the writes
        // that finish it copy the whole buffer.
        var rewritten: ByteBuffer?
        let parsed: HTTPWire.RequestHead? = try buffer.withUnsafeReadableBytes { p in
            guard let headEnd = HTTPWire.findHeadEnd(p, from: from) else { return nil }
            // However much arrived in one read, a head over the limit is refused.
            guard headEnd <= HTTPWire.maxHeadSize else { throw HTTPWireError.headTooLarge }
            let head = try HTTPWire.parseRequestHead(p, headEnd: headEnd)
            if let length = head.contentLength, length > maxBody { throw HTTPWireError.bodyTooLarge }
            let capacity = headEnd + 96 + min(head.contentLength ?? 0, bufferLimit)
            var out = allocator.buffer(reusing: sink.framerSpareBuffer(), capacity: capacity)
            HTTPWire.writeUpstreamRequestHead(p, head, into: &out)
            rewritten = consume out
            return head
        }
        guard let head = parsed else {
            guard readable <= HTTPWire.maxHeadSize else { throw HTTPWireError.headTooLarge }
            scanFrom = max(0, readable - 3)
            return .needMoreData
        }
        scanFrom = 0
        headStartSignalled = false
        pending = rewritten.take()
        pendingHead = head
        forwardedFor = head.forwardedFor.map { buffer.getSlice(at: buffer.readerIndex + $0.lowerBound, length: $0.count)! }
        buffer.moveReaderIndex(forwardBy: head.headEnd)
        if head.expectContinue, head.chunked || (head.contentLength ?? 0) > 0 {
            sink.framerExpectsContinue()
        }
        if head.chunked {
            scanner = ChunkedScanner()
            chunkedBody = allocator.buffer(capacity: 0)
            chunkedTotal = 0
            state = .chunked(streamed: false)
            sink.framerBodyProgress()
            return .next
        }
        let length = head.contentLength ?? 0
        finishHead(body: .length(length))
        if length == 0 {
            emit(sink, streamsBody: false)
        } else {
            let streamed = length > bufferLimit
            if streamed { emit(sink, streamsBody: true) }
            state = .sized(remaining: length, streamed: streamed)
            sink.framerBodyProgress()
        }
        return .next
    }

    private mutating func appendToPending(_ data: ByteBuffer) {
        var out = pending.take()!
        var data = data
        out.writeBuffer(&data)
        pending = out
    }

    private mutating func finishHead(body: HTTPWire.UpstreamBody) {
        let head = pendingHead
        var out = pending.take()!
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

    private mutating func emit(_ sink: some RequestFramerSink, streamsBody: Bool) {
        let head = pendingHead
        // A streamed body can't be sent twice, so its request is never retried after it went out.
        let request = ProxyRequest(
            bytes: pending.take()!, streamsBody: streamsBody, isHEAD: head.isHEAD,
            isIdempotent: head.isIdempotent && !streamsBody, keepAlive: head.keepAlive,
            versionMinor: head.versionMinor, route: head.route, pinnedRelease: head.pinnedRelease)
        if !streamsBody { state = .head }
        sink.framerEmitted(.head(request))
    }

    private mutating func end(_ sink: some RequestFramerSink) {
        state = .head
        sink.framerEmitted(.end)
    }

    /// Chunk data as one chunk of the upstream body.
    private static func chunk(_ data: ByteBuffer, _ allocator: ByteBufferAllocator) -> ByteBuffer {
        var data = data
        var out = allocator.buffer(capacity: data.readableBytes + 20)
        out.writeString(String(data.readableBytes, radix: 16))
        out.writeStaticString("\r\n")
        out.writeBuffer(&data)
        out.writeStaticString("\r\n")
        return out
    }
}
