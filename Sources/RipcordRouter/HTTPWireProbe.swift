/// Runs the wire parsers over arbitrary bytes as the proxy does (head, then a chunked body) and
/// checks what they report against the bytes. Shared by the libFuzzer targets (fuzz/, built from
/// this file, HTTPParsing.swift and RouteMode.swift alone) and the corpus replay tests; a
/// non-empty `violations` is a parser bug.
enum HTTPWireProbe {
    struct Outcome: Equatable {
        /// Where the head ends, when the bytes hold a whole one.
        var headEnd: Int?
        /// Why the head or the chunked body was refused.
        var error: HTTPWireError?
        /// Chunk data bytes found after the head.
        var bodyBytes = 0
        var violations: [String] = []
    }

    static func request(_ p: UnsafeRawBufferPointer) -> Outcome {
        var outcome = Outcome()
        guard let headEnd = head(p, &outcome) else { return outcome }
        do {
            let head = try HTTPWire.parseRequestHead(p, headEnd: headEnd)
            check(head.firstLineEnd <= headEnd && head.versionStart < head.firstLineEnd, "request line outside the head", &outcome)
            check((head.contentLength ?? 0) >= 0, "negative Content-Length", &outcome)
            check(!(head.chunked && head.contentLength != nil), "chunked and sized at once", &outcome)
            if let forwarded = head.forwardedFor {
                check(forwarded.lowerBound >= head.firstLineEnd && forwarded.upperBound <= headEnd, "X-Forwarded-For outside the head", &outcome)
            }
            if head.chunked { scanChunks(p, from: headEnd, &outcome) }
        } catch let error as HTTPWireError {
            outcome.error = error
        } catch {
            outcome.violations.append("unexpected error \(error)")
        }
        return outcome
    }

    static func response(_ p: UnsafeRawBufferPointer) -> Outcome {
        var outcome = Outcome()
        guard let headEnd = head(p, &outcome) else { return outcome }
        do {
            let head = try HTTPWire.parseResponseHead(p, headEnd: headEnd)
            check((0...999).contains(head.status), "status \(head.status) is not three digits", &outcome)
            check(head.firstLineEnd <= headEnd, "status line outside the head", &outcome)
            switch head.framing(requestWasHEAD: false) {
            case .chunked: scanChunks(p, from: headEnd, &outcome)
            case .length(let length): check(length > 0, "a sized body of \(length) bytes", &outcome)
            case .none, .untilClose: break
            }
        } catch let error as HTTPWireError {
            outcome.error = error
        } catch {
            outcome.violations.append("unexpected error \(error)")
        }
        return outcome
    }

    /// The head's end, checked to be a CRLF CRLF inside the bytes.
    private static func head(_ p: UnsafeRawBufferPointer, _ outcome: inout Outcome) -> Int? {
        guard let headEnd = HTTPWire.findHeadEnd(p, from: 0) else { return nil }
        outcome.headEnd = headEnd
        let endsWithEmptyLine =
            headEnd >= 4 && headEnd <= p.count
            && p[headEnd - 4] == 13 && p[headEnd - 3] == 10 && p[headEnd - 2] == 13 && p[headEnd - 1] == 10
        check(endsWithEmptyLine, "head end \(headEnd) is not after CRLF CRLF", &outcome)
        return endsWithEmptyLine ? headEnd : nil
    }

    /// Scans the body in two reads split in the middle, as bytes arrive from a socket.
    private static func scanChunks(_ p: UnsafeRawBufferPointer, from start: Int, _ outcome: inout Outcome) {
        var scanner = ChunkedScanner()
        var position = start
        var data = 0
        do {
            for end in [start + (p.count - start) / 2, p.count] where position < end && !scanner.isDone {
                let consumed = try scanner.scan(p, from: position, to: end) { range in
                    if range.lowerBound < position || range.upperBound > end { outcome.violations.append("chunk data \(range) outside the read") }
                    data += range.count
                }
                check(consumed >= 0 && consumed <= end - position, "consumed \(consumed) of \(end - position) bytes", &outcome)
                position += consumed
            }
        } catch let error as HTTPWireError {
            outcome.error = error
        } catch {
            outcome.violations.append("unexpected error \(error)")
        }
        outcome.bodyBytes = data
    }

    private static func check(_ holds: Bool, _ violation: @autoclosure () -> String, _ outcome: inout Outcome) {
        if !holds { outcome.violations.append(violation()) }
    }
}
