/// Headers the router reads or adds.
public enum RouterHeaders {
    /// Request header pinning a request: `candidate` routes to a candidate backend (weights
    /// ignored) when there is one, `stable` to a stable backend.
    public static let route = "x-ripcord-route"
    /// Request header pinning a request to a release (its id): the candidate of a service in that
    /// release, the stable version of any other. Passed on to the backend, so a service that forwards
    /// it keeps the whole call chain on the release.
    public static let release = "x-ripcord-release"
    /// Response header naming the version of the backend that answered.
    public static let version = "x-ripcord-version"
}

/// Errors in what a client or backend sent.
enum HTTPWireError: Error, Equatable {
    /// 400: framing or syntax the router will not guess at.
    case malformed
    /// 431: a request head over `HTTPWire.maxHeadSize`.
    case headTooLarge
    /// 413: a body over the front door's `maxBodyBytes`.
    case bodyTooLarge
    /// 505
    case unsupportedVersion
    /// 501: a transfer coding other than `chunked` (RFC 9112 §6.1).
    case unsupportedTransferCoding
    /// 408: the client took longer than the header or body timeout.
    case timedOut
}

/// Lean HTTP/1.1 framing on raw bytes. The proxy never needs a dictionary of headers: it needs
/// a handful of facts (framing, keep-alive, method, pin) and to copy the other header lines
/// verbatim. Parsing works on the buffer's bytes in place and allocates nothing; rewriting is one
/// copy of the head into the outgoing buffer. (NIOHTTP1's codec builds `HTTPHeaders` of
/// `String`s for every message and costs more than the rest of the proxy together.)
enum HTTPWire {
    static let maxHeadSize = 64 * 1024

    /// Header names the proxy acts on.
    enum HeaderName {
        case other, connection, keepAlive, proxyConnection, te, trailer, transferEncoding, upgrade
        case contentLength, expect, xForwardedFor, route, release, host
    }

    /// `tchar` of RFC 9110 §5.6.2, the bytes a field name may hold: letters, digits and
    /// ``!#$%&'*+-.^_`|~``, one bit per byte value below 128. (Constants, not a table: a global
    /// array costs a lazy-initialisation check and a retain on every byte of every name.)
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        let below64: UInt64 = 0x03FF_6CFA_0000_0000
        let from64: UInt64 = 0x57FF_FFFF_C7FF_FFFE
        return byte < 64 ? below64 >> byte & 1 == 1 : byte < 128 && from64 >> (byte - 64) & 1 == 1
    }

    // MARK: Scanning

    /// The length of the head (through the empty line) if `p[from...]` completes it.
    static func findHeadEnd(_ p: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = max(0, from)
        let n = p.count
        while i + 3 < n {
            // Ten candidate ends at once: with no LF in p[i + 3 ..< i + 11], no end is there, nor at i + 11
            // or i + 12, whose empty line has an LF two bytes before its last.
            if i + 11 <= n, !hasByte(p.loadUnaligned(fromByteOffset: i + 3, as: UInt64.self), equalTo: 10) {
                i += 10
                continue
            }
            if p[i + 3] == 10 {
                if p[i + 2] == 13, p[i + 1] == 10, p[i] == 13 { return i + 4 }
                i += 1
            } else if p[i + 3] == 13 {
                i += 1
            } else {
                i += 4
            }
        }
        return nil
    }

    /// Whether any of eight bytes is `byte` (exact: the zero-byte test on the word with `byte`'s bits flipped).
    @inline(__always)
    static func hasByte(_ word: UInt64, equalTo byte: UInt8) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let flipped = word ^ (ones &* UInt64(byte))
        return (flipped &- ones) & ~flipped & (ones &* 0x80) != 0
    }

    @inline(__always)
    private static func lowerEquals(_ p: UnsafeRawBufferPointer, _ start: Int, _ name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        let expected = name.utf8Start
        for k in 0..<n where (p[start + k] | 0x20) != expected[k] { return false }
        return true
    }

    static func classify(_ p: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> HeaderName {
        switch length {
        case 2: return lowerEquals(p, start, "te") ? .te : .other
        case 4: return lowerEquals(p, start, "host") ? .host : .other
        case 6: return lowerEquals(p, start, "expect") ? .expect : .other
        case 7:
            if lowerEquals(p, start, "upgrade") { return .upgrade }
            return lowerEquals(p, start, "trailer") ? .trailer : .other
        case 10:
            if lowerEquals(p, start, "connection") { return .connection }
            return lowerEquals(p, start, "keep-alive") ? .keepAlive : .other
        case 14: return lowerEquals(p, start, "content-length") ? .contentLength : .other
        case 15:
            if lowerEquals(p, start, "x-forwarded-for") { return .xForwardedFor }
            return lowerEquals(p, start, "x-ripcord-route") ? .route : .other
        case 16: return lowerEquals(p, start, "proxy-connection") ? .proxyConnection : .other
        case 17:
            if lowerEquals(p, start, "transfer-encoding") { return .transferEncoding }
            return lowerEquals(p, start, "x-ripcord-release") ? .release : .other
        default: return .other
        }
    }

    /// One header line: name `[nameStart, nameEnd)`, trimmed value `[valueStart, valueEnd)`,
    /// the whole line with its CRLF `[lineStart, lineEnd)`.
    struct HeaderLine {
        var lineStart: Int, lineEnd: Int
        var nameStart: Int, nameEnd: Int
        var valueStart: Int, valueEnd: Int
    }

    /// Whether any of eight bytes is below 32 (CR, tab and the other controls) or DEL: a value's bytes
    /// are checked a word at a time, and one word with such a byte is checked byte by byte. Exact: a
    /// byte's borrow can only flag a higher byte when a lower one was already found.
    @inline(__always)
    static func hasControlByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let below32 = (word &- ones &* 32) & ~word & highBits
        return below32 != 0 || hasByte(word, equalTo: 127)
    }

    /// Calls `body` for each header line of a head whose first line ends at `firstLineEnd` (just
    /// past its CRLF) and whose head ends at `headEnd`. Throws on a line without a colon, a name that
    /// is not a token, and a control character in a value: a bare LF or a NUL would be passed on byte
    /// for byte, and a lenient backend could read a header the router never saw (request smuggling).
    @inline(__always)
    static func forEachHeader(
        _ p: UnsafeRawBufferPointer, firstLineEnd: Int, headEnd: Int,
        _ body: (HeaderLine) throws -> Void
    ) throws {
        var lineStart = firstLineEnd
        let last = headEnd - 2  // the final empty line's CR
        while lineStart < last {
            var i = lineStart
            while i < last, p[i] != 58 /* : */ {
                guard isTokenByte(p[i]) else { throw HTTPWireError.malformed }
                i += 1
            }
            guard i < last, i > lineStart else { throw HTTPWireError.malformed }
            let nameEnd = i
            i += 1
            while i < last, p[i] == 32 || p[i] == 9 { i += 1 }
            let valueStart = i
            while i + 8 <= last, !hasControlByte(p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { i += 8 }
            while i < last, p[i] != 13 {
                // Field values are visible characters, spaces, tabs and obs-text (RFC 9110 §5.5).
                let c = p[i]
                if c < 32 && c != 9 || c == 127 { throw HTTPWireError.malformed }
                i += 1
            }
            guard i < last, p[i + 1] == 10 else { throw HTTPWireError.malformed }
            var valueEnd = i
            while valueEnd > valueStart, p[valueEnd - 1] == 32 || p[valueEnd - 1] == 9 { valueEnd -= 1 }
            // Obsolete line folding (a line starting with whitespace) is rejected (RFC 9112 §5.2).
            if i + 2 < last, p[i + 2] == 32 || p[i + 2] == 9 { throw HTTPWireError.malformed }
            try body(
                HeaderLine(
                    lineStart: lineStart, lineEnd: i + 2, nameStart: lineStart, nameEnd: nameEnd,
                    valueStart: valueStart, valueEnd: valueEnd))
            lineStart = i + 2
        }
    }

    /// The lines of a head whose names the router acts on (every name but `.other`), in order, as its
    /// parse found them: a rewrite copies the runs of lines between them instead of scanning the head
    /// again. A head rarely has more than a few; past six, or in a head not parsed here
    /// (`unrecorded`), the rewrite scans.
    struct NamedLines {
        struct Line {
            var start: Int32, end: Int32
            var name: HeaderName
        }
        static let unrecorded = NamedLines(complete: false)

        private var lines = InlineArray<6, Line>(repeating: Line(start: 0, end: 0, name: .other))
        private(set) var count = 0
        /// Every named line of the head is here.
        private(set) var complete: Bool

        init() { complete = true }
        private init(complete: Bool) { self.complete = complete }

        mutating func record(_ line: HeaderLine, _ name: HeaderName) {
            guard name != .other, complete else { return }
            guard count < lines.count else {
                complete = false
                return
            }
            lines[count] = Line(start: Int32(line.lineStart), end: Int32(line.lineEnd), name: name)
            count += 1
        }

        subscript(index: Int) -> Line { lines[index] }
    }

    /// Tokens of a comma-separated value, trimmed.
    @inline(__always)
    static func forEachToken(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ body: (Int, Int) -> Void) {
        var i = start
        while i < end {
            while i < end, p[i] == 32 || p[i] == 9 || p[i] == 44 { i += 1 }
            let tokenStart = i
            while i < end, p[i] != 44 { i += 1 }
            var tokenEnd = i
            while tokenEnd > tokenStart, p[tokenEnd - 1] == 32 || p[tokenEnd - 1] == 9 { tokenEnd -= 1 }
            if tokenEnd > tokenStart { body(tokenStart, tokenEnd) }
        }
    }

    @inline(__always)
    static func tokenIs(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ word: StaticString) -> Bool {
        end - start == word.utf8CodeUnitCount && lowerEquals(p, start, word)
    }

    /// A release id (decimal digits); anything else pins nothing.
    static func parseReleaseID(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int64? {
        guard end > start, end - start <= 18 else { return nil }
        var value: Int64 = 0
        for i in start..<end {
            let digit = Int64(p[i]) - 48
            guard digit >= 0, digit <= 9 else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    static func parseContentLength(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) throws -> Int {
        guard end > start, end - start <= 15 else { throw HTTPWireError.malformed }
        var value = 0
        for i in start..<end {
            let digit = Int(p[i]) - 48
            guard digit >= 0, digit <= 9 else { throw HTTPWireError.malformed }
            value = value * 10 + digit
        }
        return value
    }

    /// Facts of the `Connection` header that matter: close / keep-alive, and whether it names
    /// other headers (which must then be dropped too).
    struct ConnectionTokens {
        var close = false
        var keepAlive = false
        var namesOthers = false

        mutating func add(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) {
            HTTPWire.forEachToken(p, start, end) { s, e in
                if HTTPWire.tokenIs(p, s, e, "close") {
                    close = true
                } else if HTTPWire.tokenIs(p, s, e, "keep-alive") {
                    keepAlive = true
                } else {
                    namesOthers = true
                }
            }
        }
    }

    /// The framing headers of a head (`Content-Length`, `Transfer-Encoding`, `Connection`), gathered
    /// line by line and resolved by one set of rules for requests and responses (RFC 9112 §6.1, §6.3).
    struct Framing {
        var connection = ConnectionTokens()
        private var contentLength: Int?
        private var transferEncoding = false
        private var chunkedCount = 0
        /// `chunked` is the last coding listed so far, over all `Transfer-Encoding` lines.
        private var chunkedIsFinal = false
        /// A coding other than `chunked` was listed (or a `Transfer-Encoding` listed nothing).
        private(set) var otherCoding = false

        /// Takes a framing header line (true); other lines are the caller's (false).
        mutating func add(_ name: HeaderName, _ p: UnsafeRawBufferPointer, _ line: HeaderLine) throws -> Bool {
            switch name {
            case .connection, .proxyConnection:
                connection.add(p, line.valueStart, line.valueEnd)
            case .contentLength:
                let length = try parseContentLength(p, line.valueStart, line.valueEnd)
                if let contentLength, contentLength != length { throw HTTPWireError.malformed }
                contentLength = length
            case .transferEncoding:
                transferEncoding = true
                var listed = false
                forEachToken(p, line.valueStart, line.valueEnd) { s, e in
                    listed = true
                    chunkedIsFinal = tokenIs(p, s, e, "chunked")
                    if chunkedIsFinal { chunkedCount += 1 } else { otherCoding = true }
                }
                if !listed {
                    otherCoding = true
                    chunkedIsFinal = false
                }
            default:
                return false
            }
            return true
        }

        /// How the body is delimited and whether the connection may carry another message after it.
        struct Resolved {
            /// The body's length; nil when a transfer coding delimits it instead (or nothing does).
            var contentLength: Int?
            /// The body is chunked: `chunked` is the final coding.
            var chunked: Bool
            /// A transfer coding without `chunked` last: only the close ends the body.
            var untilClose: Bool
            var keepAlive: Bool
        }

        func resolve(versionMinor: Int) throws -> Resolved {
            // Chunked applied twice leaves no one sure where the body ends (RFC 9112 §6.1).
            guard chunkedCount <= 1 else { throw HTTPWireError.malformed }
            var keepAlive = versionMinor == 1 ? !connection.close : (connection.keepAlive && !connection.close)
            guard transferEncoding else {
                return Resolved(contentLength: contentLength, chunked: false, untilClose: false, keepAlive: keepAlive)
            }
            // Transfer-Encoding overrides Content-Length, and a message that sent both (or a coding in
            // HTTP/1.0) was framed by someone confused: take it, then close (RFC 9112 §6.1, §6.3).
            if contentLength != nil || versionMinor == 0 { keepAlive = false }
            return Resolved(contentLength: nil, chunked: chunkedIsFinal, untilClose: !chunkedIsFinal, keepAlive: keepAlive)
        }
    }

    /// Whether header `[start, start+length)` is named by a `Connection` header of the head.
    static func isNamedByConnection(
        _ p: UnsafeRawBufferPointer, firstLineEnd: Int, headEnd: Int,
        nameStart: Int, nameLength: Int
    ) -> Bool {
        var named = false
        try? forEachHeader(p, firstLineEnd: firstLineEnd, headEnd: headEnd) { line in
            guard classify(p, line.nameStart, line.nameEnd - line.nameStart) == .connection else { return }
            forEachToken(p, line.valueStart, line.valueEnd) { s, e in
                guard e - s == nameLength else { return }
                var same = true
                for k in 0..<nameLength where (p[s + k] | 0x20) != (p[nameStart + k] | 0x20) {
                    same = false
                    break
                }
                if same { named = true }
            }
        }
        return named
    }

    /// The end of the first line (just past its CRLF).
    static func firstLineEnd(_ p: UnsafeRawBufferPointer, headEnd: Int) throws -> Int {
        var i = 0
        while i + 1 < headEnd, p[i] != 13 { i += 1 }
        guard i + 1 < headEnd, p[i + 1] == 10 else { throw HTTPWireError.malformed }
        return i + 2
    }

    // MARK: Requests

    struct RequestHead {
        var headEnd = 0
        var firstLineEnd = 0
        /// Where "HTTP/1.x" starts in the request line.
        var versionStart = 0
        var versionMinor = 1
        var isHEAD = false
        var isIdempotent = false
        /// POST, PUT, PATCH: methods whose requests carry a body, even an empty one.
        var expectsBody = false
        var contentLength: Int?
        var chunked = false
        var expectContinue = false
        /// The client may send another request on this connection after the response. False when
        /// the client asks to close, and when the framing was doubtful (Content-Length beside
        /// Transfer-Encoding, Transfer-Encoding in HTTP/1.0): what follows can't be trusted.
        var keepAlive = true
        var route = RouteMode.weighted
        var pinnedRelease: Int64?
        var forwardedFor: Range<Int>?
        var connectionNamesOthers = false
        /// The request has a `Host` (always, in HTTP/1.1; an HTTP/1.0 request may lack one).
        var hasHost = false
        var namedLines = NamedLines.unrecorded
    }

    static func parseRequestHead(_ p: UnsafeRawBufferPointer, headEnd: Int) throws -> RequestHead {
        var head = RequestHead()
        head.headEnd = headEnd
        head.firstLineEnd = try firstLineEnd(p, headEnd: headEnd)
        let lineEnd = head.firstLineEnd - 2
        // METHOD SP request-target SP HTTP/1.x
        var methodEnd = 0
        while methodEnd < lineEnd, p[methodEnd] != 32 {
            let c = p[methodEnd]
            guard (c >= 65 && c <= 90) || c == 45 || c == 95 else { throw HTTPWireError.malformed }
            methodEnd += 1
        }
        guard methodEnd > 0, lineEnd - methodEnd >= 11 else { throw HTTPWireError.malformed }
        head.versionStart = lineEnd - 8
        guard p[head.versionStart - 1] == 32, p[methodEnd + 1] != 32,
            p[head.versionStart] == 72, p[head.versionStart + 1] == 84, p[head.versionStart + 2] == 84,
            p[head.versionStart + 3] == 80, p[head.versionStart + 4] == 47, p[head.versionStart + 6] == 46
        else { throw HTTPWireError.malformed }
        guard p[head.versionStart + 5] == 49, p[head.versionStart + 7] == 48 || p[head.versionStart + 7] == 49 else {
            throw HTTPWireError.unsupportedVersion
        }
        for i in (methodEnd + 1)..<(head.versionStart - 1) where p[i] <= 32 || p[i] == 127 {
            throw HTTPWireError.malformed
        }
        head.versionMinor = p[head.versionStart + 7] == 49 ? 1 : 0
        switch methodEnd {
        case 3:
            if lowerEquals(p, 0, "get") { head.isIdempotent = true }
            if lowerEquals(p, 0, "put") {
                head.isIdempotent = true
                head.expectsBody = true
            }
        case 4:
            if lowerEquals(p, 0, "head") {
                head.isHEAD = true
                head.isIdempotent = true
            }
            if lowerEquals(p, 0, "post") { head.expectsBody = true }
        case 5:
            if lowerEquals(p, 0, "trace") { head.isIdempotent = true }
            if lowerEquals(p, 0, "patch") { head.expectsBody = true }
        case 6: if lowerEquals(p, 0, "delete") { head.isIdempotent = true }
        case 7: if lowerEquals(p, 0, "options") { head.isIdempotent = true }
        default: break
        }
        var framing = Framing()
        var hosts = 0
        head.namedLines = NamedLines()
        try forEachHeader(p, firstLineEnd: head.firstLineEnd, headEnd: headEnd) { line in
            let name = classify(p, line.nameStart, line.nameEnd - line.nameStart)
            head.namedLines.record(line, name)
            if try framing.add(name, p, line) { return }
            switch name {
            case .host:
                hosts += 1
            case .expect:
                head.expectContinue = tokenIs(p, line.valueStart, line.valueEnd, "100-continue")
            case .route:
                if tokenIs(p, line.valueStart, line.valueEnd, "candidate") {
                    head.route = .candidate
                } else if tokenIs(p, line.valueStart, line.valueEnd, "stable") {
                    head.route = .stable
                }
            case .release:
                head.pinnedRelease = parseReleaseID(p, line.valueStart, line.valueEnd)
            case .xForwardedFor:
                if head.forwardedFor == nil { head.forwardedFor = line.valueStart..<line.valueEnd }
            default:
                break
            }
        }
        // HTTP/1.1 requests carry exactly one Host (RFC 9112 §3.2); two could route differently on each hop.
        if hosts > 1 || (hosts == 0 && head.versionMinor == 1) { throw HTTPWireError.malformed }
        head.hasHost = hosts == 1
        // The router decodes no request coding but chunked: it re-frames the bodies it holds (RFC 9112 §6.1: 501).
        if framing.otherCoding { throw HTTPWireError.unsupportedTransferCoding }
        let body = try framing.resolve(versionMinor: head.versionMinor)
        head.contentLength = body.contentLength
        head.chunked = body.chunked
        head.keepAlive = body.keepAlive
        head.connectionNamesOthers = framing.connection.namesOthers
        return head
    }

    // MARK: Responses

    enum BodyFraming: Equatable {
        case none
        case length(Int)
        case chunked
        /// Until the backend closes the connection.
        case untilClose
    }

    struct ResponseHead {
        var headEnd = 0
        var firstLineEnd = 0
        var status = 0
        var versionMinor = 1
        /// The backend keeps the connection open after this response.
        var keepAlive = true
        var contentLength: Int?
        var chunked = false
        var otherTransferCoding = false
        var connectionNamesOthers = false
        var namedLines = NamedLines.unrecorded

        var isInformational: Bool { status >= 100 && status < 200 && status != 101 }

        func framing(requestWasHEAD: Bool) -> BodyFraming {
            if requestWasHEAD || (status >= 100 && status < 200) || status == 204 || status == 304 { return .none }
            if chunked { return .chunked }
            if otherTransferCoding { return .untilClose }
            if let contentLength { return contentLength == 0 ? .none : .length(contentLength) }
            return .untilClose
        }
    }

    static func parseResponseHead(_ p: UnsafeRawBufferPointer, headEnd: Int) throws -> ResponseHead {
        var head = ResponseHead()
        head.headEnd = headEnd
        head.firstLineEnd = try firstLineEnd(p, headEnd: headEnd)
        // HTTP/1.x SP 3DIGIT [SP reason]
        guard head.firstLineEnd >= 14, p[0] == 72, p[1] == 84, p[2] == 84, p[3] == 80, p[4] == 47, p[5] == 49,
            p[6] == 46, p[8] == 32
        else { throw HTTPWireError.malformed }
        head.versionMinor = p[7] == 48 ? 0 : 1
        var status = 0
        for i in 9..<12 {
            let digit = Int(p[i]) - 48
            guard digit >= 0, digit <= 9 else { throw HTTPWireError.malformed }
            status = status * 10 + digit
        }
        head.status = status
        var framing = Framing()
        head.namedLines = NamedLines()
        try forEachHeader(p, firstLineEnd: head.firstLineEnd, headEnd: headEnd) { line in
            let name = classify(p, line.nameStart, line.nameEnd - line.nameStart)
            head.namedLines.record(line, name)
            _ = try framing.add(name, p, line)
        }
        // Unlike a request's, a response's body is relayed as the backend coded it, so any coding is
        // taken; without `chunked` last, only the close ends it.
        let body = try framing.resolve(versionMinor: head.versionMinor)
        head.contentLength = body.contentLength
        head.chunked = body.chunked
        head.otherTransferCoding = body.untilClose
        head.keepAlive = body.keepAlive
        head.connectionNamesOthers = framing.connection.namesOthers
        return head
    }
}

/// Finds the end of a chunked body (RFC 9112 §7.1) in a stream of bytes, reporting where the
/// chunk data is, without copying. Used to pass chunked responses through as they are, and to
/// decode chunked request bodies (and responses for HTTP/1.0 clients).
struct ChunkedScanner {
    private enum State {
        case size, extensions, sizeLF, data, dataCR, dataLF, trailerStart, trailerLine, trailerLF, finalLF, done
    }
    private var state = State.size
    private var size = 0
    private var digits = 0

    var isDone: Bool { state == .done }

    /// Scans `p[start..<end]`; calls `data` with each range of chunk data. Returns how many bytes
    /// were consumed (all of them, unless the body ended earlier).
    mutating func scan(
        _ p: UnsafeRawBufferPointer, from start: Int, to end: Int,
        data: (Range<Int>) -> Void
    ) throws -> Int {
        var i = start
        while i < end {
            switch state {
            case .size:
                let c = p[i]
                if let value = Self.hexValue(c) {
                    guard digits < 15 else { throw HTTPWireError.malformed }
                    size = size * 16 + value
                    digits += 1
                } else if c == 13 {
                    guard digits > 0 else { throw HTTPWireError.malformed }
                    state = .sizeLF
                } else if c == 59 || c == 32 || c == 9 {  // ; or whitespace before extensions
                    guard digits > 0 else { throw HTTPWireError.malformed }
                    state = .extensions
                } else {
                    throw HTTPWireError.malformed
                }
                i += 1
            case .extensions:
                if p[i] == 13 { state = .sizeLF }
                i += 1
            case .sizeLF:
                guard p[i] == 10 else { throw HTTPWireError.malformed }
                state = size == 0 ? .trailerStart : .data
                i += 1
            case .data:
                let take = min(size, end - i)
                data(i..<(i + take))
                size -= take
                i += take
                if size == 0 { state = .dataCR }
            case .dataCR:
                guard p[i] == 13 else { throw HTTPWireError.malformed }
                state = .dataLF
                i += 1
            case .dataLF:
                guard p[i] == 10 else { throw HTTPWireError.malformed }
                state = .size
                size = 0
                digits = 0
                i += 1
            case .trailerStart:
                state = p[i] == 13 ? .finalLF : .trailerLine
                i += 1
            case .trailerLine:
                if p[i] == 13 { state = .trailerLF }
                i += 1
            case .trailerLF:
                guard p[i] == 10 else { throw HTTPWireError.malformed }
                state = .trailerStart
                i += 1
            case .finalLF:
                guard p[i] == 10 else { throw HTTPWireError.malformed }
                state = .done
                return i + 1 - start
            case .done:
                return i - start
            }
        }
        return i - start
    }

    @inline(__always)
    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: return Int(c - 48)
        case 65...70: return Int(c - 55)
        case 97...102: return Int(c - 87)
        default: return nil
        }
    }
}
