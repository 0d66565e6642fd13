import NIOCore

/// Rewriting heads for the other side: what the router adds, drops and keeps of each head.
extension HTTPWire {
    /// Writes the head to send upstream, except its last lines: the request line as HTTP/1.1 and
    /// every header line but hop-by-hop ones, framing, `Expect` and `X-Forwarded-For`, which
    /// `finishUpstreamRequestHead` adds.
    static func writeUpstreamRequestHead(_ p: UnsafeRawBufferPointer, _ head: RequestHead, into out: inout ByteBuffer) {
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: head.headEnd + 10) { space in
            var writer = HeadWriter(space)
            writer.append(UnsafeRawBufferPointer(rebasing: p[0..<head.versionStart]))
            writer.append("HTTP/1.1\r\n")
            let lines = HeadLines(
                firstLineEnd: head.firstLineEnd, headEnd: head.headEnd, named: head.namedLines,
                connectionNamesOthers: head.connectionNamesOthers)
            lines.write(p, from: head.firstLineEnd, into: &writer) { name in
                switch name {
                case .other, .route, .release, .host: .keptUnlessConnectionNamesIt
                default: .dropped
                }
            }
            return writer.count
        }
    }

    /// What a rewrite does with a header line, by its name.
    enum LineFate {
        case dropped
        case kept
        /// Kept, unless a `Connection` header names it (hop-by-hop, RFC 9110 §7.6.1).
        case keptUnlessConnectionNamesIt
    }

    /// The header lines of a parsed head, for a rewrite to copy the ones it keeps.
    struct HeadLines {
        let firstLineEnd: Int, headEnd: Int
        let named: NamedLines
        let connectionNamesOthers: Bool

        /// Copies `p[start..<firstLineEnd]` and then each header line `fate` keeps, adjacent lines in one
        /// copy: with the parse's named lines, only the runs between the lines dropped (every other line
        /// is kept); without them, or when a `Connection` header names other lines, line by line.
        @inline(__always)
        func write(_ p: UnsafeRawBufferPointer, from start: Int, into writer: inout HeadWriter, fate: (HeaderName) -> LineFate) {
            if named.complete, !connectionNamesOthers {
                var from = start
                for index in 0..<named.count where fate(named[index].name) == .dropped {
                    writer.append(UnsafeRawBufferPointer(rebasing: p[from..<Int(named[index].start)]))
                    from = Int(named[index].end)
                }
                writer.append(UnsafeRawBufferPointer(rebasing: p[from..<(headEnd - 2)]))  // through the last line's CRLF
                return
            }
            var kept = KeptLines(start..<firstLineEnd)
            try? forEachHeader(p, firstLineEnd: firstLineEnd, headEnd: headEnd) { line in
                switch fate(classify(p, line.nameStart, line.nameEnd - line.nameStart)) {
                case .dropped: return
                case .kept: break
                case .keptUnlessConnectionNamesIt:
                    if connectionNamesOthers,
                        isNamedByConnection(
                            p, firstLineEnd: firstLineEnd, headEnd: headEnd, nameStart: line.nameStart,
                            nameLength: line.nameEnd - line.nameStart)
                    {
                        return
                    }
                }
                kept.keep(line, p, into: &writer)
            }
            kept.flush(p, into: &writer)
        }
    }

    /// Bytes appended straight into a buffer's free space: a head goes into its buffer in one
    /// `ByteBuffer` call, not one per piece (each checks capacity, uniqueness and exclusive access).
    /// The caller reserves room for everything it appends.
    struct HeadWriter {
        private let space: UnsafeMutableRawBufferPointer
        private(set) var count = 0

        init(_ space: UnsafeMutableRawBufferPointer) { self.space = space }

        mutating func append(_ bytes: UnsafeRawBufferPointer) {
            precondition(bytes.count <= space.count - count, "a head outgrew the room reserved for it")
            guard let source = bytes.baseAddress else { return }
            (space.baseAddress! + count).copyMemory(from: source, byteCount: bytes.count)
            count += bytes.count
        }

        mutating func append(_ text: StaticString) {
            append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }

        mutating func append(_ text: String) {
            // In place where the string's bytes are contiguous (native and small strings): no copy to retain.
            if text.utf8.withContiguousStorageIfAvailable({ append(UnsafeRawBufferPointer($0)) }) == nil {
                var text = text
                text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
            }
        }
    }

    /// Copies the lines a rewrite keeps, each run of adjacent ones in one copy (most heads keep
    /// nearly all their lines).
    struct KeptLines {
        private var run: Range<Int>

        /// Starts with the bytes `range` (empty: none yet), which a kept line starting at its end extends.
        init(_ range: Range<Int>) { run = range }

        mutating func keep(_ line: HeaderLine, _ p: UnsafeRawBufferPointer, into writer: inout HeadWriter) {
            if line.lineStart != run.upperBound {
                flush(p, into: &writer)
                run = line.lineStart..<line.lineStart
            }
            run = run.lowerBound..<line.lineEnd
        }

        mutating func flush(_ p: UnsafeRawBufferPointer, into writer: inout HeadWriter) {
            writer.append(UnsafeRawBufferPointer(rebasing: p[run]))
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
        let existing = head.forwardedFor.flatMap { range in p.map { UnsafeRawBufferPointer(rebasing: $0[range]) } } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let room = 96 + existing.count + (clientAddress?.utf8.count ?? 0)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { space in
            var writer = HeadWriter(space)
            // An HTTP/1.0 request without Host goes upstream as HTTP/1.1, which needs one: empty, as
            // RFC 9112 §3.2 says for a target without an authority (backends refuse a missing Host with 400).
            if !head.hasHost { writer.append("host: \r\n") }
            switch body {
            case .length(let length) where length > 0 || head.expectsBody || head.chunked || head.contentLength != nil:
                writer.append("content-length: ")
                writer.append(String(length))
                writer.append("\r\n")
            case .length:
                break
            case .chunked:
                writer.append("transfer-encoding: chunked\r\n")
            }
            if let clientAddress {
                writer.append("x-forwarded-for: ")
                if !existing.isEmpty {
                    writer.append(existing)
                    writer.append(", ")
                }
                writer.append(clientAddress)
                writer.append("\r\n")
            }
            writer.append("\r\n")
            return writer.count
        }
    }

    /// Writes the head the client gets: status line as HTTP/1.1, the backend's headers minus
    /// hop-by-hop ones (keeping `Transfer-Encoding: chunked` when the chunks pass through), the
    /// keep-alive decision, and the backend's version.
    static func writeClientResponseHead(
        _ p: UnsafeRawBufferPointer, _ head: ResponseHead, keepAlive: Bool,
        clientVersionMinor: Int, dechunk: Bool, versionHeader: String,
        into out: inout ByteBuffer
    ) {
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: head.headEnd + 64 + versionHeader.utf8.count) { space in
            var writer = HeadWriter(space)
            writer.append("HTTP/1.1 ")
            let lines = HeadLines(
                firstLineEnd: head.firstLineEnd, headEnd: head.headEnd, named: head.namedLines,
                connectionNamesOthers: head.connectionNamesOthers)
            // From the status and reason, as the backend sent them.
            lines.write(p, from: 9, into: &writer) { name in
                switch name {
                case .connection, .keepAlive, .proxyConnection, .te, .trailer, .upgrade:
                    .dropped
                case .transferEncoding:
                    dechunk || !head.chunked ? .dropped : .kept
                case .contentLength:
                    // Any transfer coding overrides the length (RFC 9112 §6.3): the body is chunked or
                    // runs to the close, and a length would make the client stop early and misread the rest.
                    head.chunked || head.otherTransferCoding ? .dropped : .kept
                default:
                    .keptUnlessConnectionNamesIt
                }
            }
            if !keepAlive {
                writer.append("connection: close\r\n")
            } else if clientVersionMinor == 0 {
                writer.append("connection: keep-alive\r\n")
            }
            writer.append("x-ripcord-version: ")
            writer.append(versionHeader)
            writer.append("\r\n\r\n")
            return writer.count
        }
    }
}
