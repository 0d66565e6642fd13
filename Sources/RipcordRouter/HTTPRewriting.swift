import NIOCore

/// Rewriting heads for the other side: what the router adds, drops and keeps of each head.
extension HTTPWire {
    /// Writes the head to send upstream, except its last lines: the request line as HTTP/1.1 and
    /// every header line but hop-by-hop ones, framing, `Expect` and `X-Forwarded-For`, which
    /// `finishUpstreamRequestHead` adds.
    static func writeUpstreamRequestHead(_ p: UnsafeRawBufferPointer, _ head: RequestHead, into out: inout ByteBuffer) {
        out.writeBytes(UnsafeRawBufferPointer(rebasing: p[0..<head.versionStart]))
        out.writeStaticString("HTTP/1.1\r\n")
        var kept = KeptLines(from: head.firstLineEnd)
        try? forEachHeader(p, firstLineEnd: head.firstLineEnd, headEnd: head.headEnd) { line in
            switch classify(p, line.nameStart, line.nameEnd - line.nameStart) {
            case .other, .route, .release, .host:
                if head.connectionNamesOthers,
                    isNamedByConnection(
                        p, firstLineEnd: head.firstLineEnd, headEnd: head.headEnd,
                        nameStart: line.nameStart, nameLength: line.nameEnd - line.nameStart)
                {
                    return
                }
                kept.keep(line, p, into: &out)
            default:
                return
            }
        }
        kept.flush(p, into: &out)
    }

    /// Copies the lines a rewrite keeps, each run of adjacent ones in one write (most heads keep
    /// nearly all their lines: two or three writes instead of one per line).
    struct KeptLines {
        private var run: Range<Int>

        /// Starts with the bytes `[from, from)`; a line starting at `from` joins them.
        init(from: Int) { run = from..<from }

        /// Starts with the bytes `range`, which the kept lines after it may extend.
        init(_ range: Range<Int>) { run = range }

        mutating func keep(_ line: HeaderLine, _ p: UnsafeRawBufferPointer, into out: inout ByteBuffer) {
            if line.lineStart != run.upperBound {
                flush(p, into: &out)
                run = line.lineStart..<line.lineStart
            }
            run = run.lowerBound..<line.lineEnd
        }

        mutating func flush(_ p: UnsafeRawBufferPointer, into out: inout ByteBuffer) {
            if !run.isEmpty { out.writeBytes(UnsafeRawBufferPointer(rebasing: p[run])) }
            run = run.upperBound..<run.upperBound
        }
    }

    /// How the router frames a request body towards the backend.
    enum UpstreamBody {
        /// Held whole or streamed with a known length.
        case length(Int)
        /// Streamed in chunks as they come (a chunked body too long to hold).
        case chunked
    }

    /// Completes the upstream head: `Host` if the client sent none, the body's framing,
    /// `X-Forwarded-For`, the empty line.
    static func finishUpstreamRequestHead(
        _ p: UnsafeRawBufferPointer?, _ head: RequestHead, body: UpstreamBody,
        clientAddress: String?, into out: inout ByteBuffer
    ) {
        // An HTTP/1.0 request without Host goes upstream as HTTP/1.1, which needs one: empty, as
        // RFC 9112 §3.2 says for a target without an authority (backends refuse a missing Host with 400).
        if !head.hasHost { out.writeStaticString("host: \r\n") }
        switch body {
        case .length(let length) where length > 0 || head.expectsBody || head.chunked || head.contentLength != nil:
            out.writeStaticString("content-length: ")
            out.writeString(String(length))
            out.writeStaticString("\r\n")
        case .length:
            break
        case .chunked:
            out.writeStaticString("transfer-encoding: chunked\r\n")
        }
        if let clientAddress {
            out.writeStaticString("x-forwarded-for: ")
            if let existing = head.forwardedFor, let p, !existing.isEmpty {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: p[existing]))
                out.writeStaticString(", ")
            }
            out.writeString(clientAddress)
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("\r\n")
    }

    /// Writes the head the client gets: status line as HTTP/1.1, the backend's headers minus
    /// hop-by-hop ones (keeping `Transfer-Encoding: chunked` when the chunks pass through), the
    /// keep-alive decision, and the backend's version.
    static func writeClientResponseHead(
        _ p: UnsafeRawBufferPointer, _ head: ResponseHead, keepAlive: Bool,
        clientVersionMinor: Int, dechunk: Bool, versionHeader: String,
        into out: inout ByteBuffer
    ) {
        out.writeStaticString("HTTP/1.1 ")
        var kept = KeptLines(9..<head.firstLineEnd)  // the status and reason, as the backend sent them
        try? forEachHeader(p, firstLineEnd: head.firstLineEnd, headEnd: head.headEnd) { line in
            switch classify(p, line.nameStart, line.nameEnd - line.nameStart) {
            case .connection, .keepAlive, .proxyConnection, .te, .trailer, .upgrade:
                return
            case .transferEncoding:
                if dechunk || !head.chunked { return }
            case .contentLength:
                // Any transfer coding overrides the length (RFC 9112 §6.3): the body is chunked or
                // runs to the close, and a length would make the client stop early and misread the rest.
                if head.chunked || head.otherTransferCoding { return }
            default:
                if head.connectionNamesOthers,
                    isNamedByConnection(
                        p, firstLineEnd: head.firstLineEnd, headEnd: head.headEnd,
                        nameStart: line.nameStart, nameLength: line.nameEnd - line.nameStart)
                {
                    return
                }
            }
            kept.keep(line, p, into: &out)
        }
        kept.flush(p, into: &out)
        if !keepAlive {
            out.writeStaticString("connection: close\r\n")
        } else if clientVersionMinor == 0 {
            out.writeStaticString("connection: keep-alive\r\n")
        }
        out.writeStaticString("x-ripcord-version: ")
        out.writeString(versionHeader)
        out.writeStaticString("\r\n\r\n")
    }
}
