import NIOCore
import NIOEmbedded
import NIOHTTP1
import RipcordCore
import RipcordTestSupport
import Testing
@testable import RipcordRouter

@Suite(.tags(.unit)) struct SmoothWeightedRoundRobinTests {
    @Test func ninetyTenIsExactAndInterleavedOverEveryCycle() {
        var swrr = SmoothWeightedRoundRobin(weights: [90, 10])
        var picks: [Int] = []
        for _ in 0..<1000 { picks.append(swrr.next()!) }
        #expect(picks.filter { $0 == 1 }.count == 100)
        // nginx's smooth order: the candidate is picked once in every window of ten, never twice in a row.
        for cycle in stride(from: 0, to: 1000, by: 10) {
            #expect(picks[cycle..<cycle + 10].filter { $0 == 1 }.count == 1)
        }
        #expect(Array(picks.prefix(10)) == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    }

    @Test func matchesNginxReferenceSequence() {
        // The example from nginx's commit introducing smooth weighted round-robin: { a:5, b:1, c:1 }.
        var swrr = SmoothWeightedRoundRobin(weights: [5, 1, 1])
        let picks = (0..<7).map { _ in swrr.next()! }
        #expect(picks == [0, 0, 1, 0, 2, 0, 0])
    }

    @Test func zeroWeightIsNeverPicked() {
        var swrr = SmoothWeightedRoundRobin(weights: [0, 3, 0, 1])
        var counts = [0, 0, 0, 0]
        for _ in 0..<400 { counts[swrr.next()!] += 1 }
        #expect(counts == [0, 300, 0, 100])
        var none = SmoothWeightedRoundRobin(weights: [0, 0])
        #expect(none.next() == nil)
        #expect(!none.hasEligiblePeer)
    }

    @Test func exclusionSkipsTriedPeers() {
        var swrr = SmoothWeightedRoundRobin(weights: [1, 1, 1])
        for _ in 0..<30 {
            let pick = swrr.next(excluding: 0b011)
            #expect(pick == 2)
        }
        #expect(swrr.next(excluding: 0b111) == nil)
    }
}

final class FakeConnection {}

@Suite(.tags(.unit)) struct UpstreamPoolStateMachineTests {
    @Test func connectsWhenEmptyThenReusesReleasedConnectionsLIFO() {
        var pool = UpstreamPoolStateMachine<FakeConnection>(maxIdle: 4)
        guard case .connect = pool.lease() else {
            Issue.record("expected connect")
            return
        }
        guard case .connect = pool.lease() else {
            Issue.record("expected connect")
            return
        }
        #expect(pool.connecting == 2)
        pool.connectSucceeded()
        pool.connectSucceeded()
        #expect(pool.leased == 2 && pool.connecting == 0)
        let first = FakeConnection(), second = FakeConnection()
        #expect(pool.release(first, reusable: true) == .parked)
        #expect(pool.release(second, reusable: true) == .parked)
        #expect(pool.idle.count == 2 && pool.leased == 0)
        guard case .reuse(let reused) = pool.lease() else {
            Issue.record("expected reuse")
            return
        }
        #expect(reused === second)
        #expect(pool.leased == 1 && pool.idle.count == 1)
    }

    @Test func nonReusableAndSurplusConnectionsAreClosed() {
        var pool = UpstreamPoolStateMachine<FakeConnection>(maxIdle: 1)
        for _ in 0..<3 {
            _ = pool.lease()
            pool.connectSucceeded()
        }
        #expect(pool.release(FakeConnection(), reusable: false) == .close)
        #expect(pool.release(FakeConnection(), reusable: true) == .parked)
        #expect(pool.release(FakeConnection(), reusable: true) == .close)  // over maxIdle
        #expect(pool.leased == 0 && pool.idle.count == 1)
    }

    @Test func connectFailureFreesTheAttempt() {
        var pool = UpstreamPoolStateMachine<FakeConnection>()
        _ = pool.lease()
        pool.connectFailed()
        #expect(pool.busy == 0 && pool.idle.isEmpty)
    }

    @Test func idleConnectionClosedByPeerIsForgotten() {
        var pool = UpstreamPoolStateMachine<FakeConnection>()
        let a = FakeConnection(), b = FakeConnection()
        _ = pool.lease()
        pool.connectSucceeded()
        _ = pool.lease()
        pool.connectSucceeded()
        _ = pool.release(a, reusable: true)
        _ = pool.release(b, reusable: true)
        let closedOnce = pool.idleConnectionClosed(a)
        let closedTwice = pool.idleConnectionClosed(a)
        #expect(closedOnce && !closedTwice)
        guard case .reuse(let reused) = pool.lease() else {
            Issue.record("expected reuse")
            return
        }
        #expect(reused === b)
        guard case .connect = pool.lease() else {
            Issue.record("expected connect")
            return
        }
    }

    @Test func closedPoolRefusesLeasesAndClosesReleasedConnections() {
        var pool = UpstreamPoolStateMachine<FakeConnection>()
        let idle = FakeConnection(), leased = FakeConnection()
        _ = pool.lease()
        pool.connectSucceeded()
        _ = pool.lease()
        pool.connectSucceeded()
        _ = pool.release(idle, reusable: true)
        let toClose = pool.close()
        #expect(toClose.count == 1 && toClose[0] === idle)
        guard case .refuse = pool.lease() else {
            Issue.record("expected refuse")
            return
        }
        #expect(pool.release(leased, reusable: true) == .close)
        #expect(pool.busy == 0)
    }
}

/// What a `RequestFramer` hands on, collected.
final class CollectedRequestParts: RequestFramerSink {
    var parts: [RequestPart] = []
    var events: [String] = []
    var spare: ByteBuffer?
    func framerSpareBuffer() -> ByteBuffer? { spare.take() }
    func framerHeadStarted() { events.append("headStarted") }
    func framerBodyProgress() { events.append("bodyProgress") }
    func framerExpectsContinue() { events.append("100-continue") }
    func framerEmitted(_ part: RequestPart) {
        parts.append(part)
        if case .head = part { events.append("head") }
    }

    /// Frames `reads` one after the other, as the client connection's handler does.
    static func framing(
        _ reads: [ByteBuffer], address: String = "10.1.2.3", maxBody: Int = 4096, bufferLimit: Int = 1024
    ) -> (collected: CollectedRequestParts, refusal: HTTPWireError?) {
        var framer = RequestFramer(maxBody: maxBody, bufferLimit: bufferLimit, clientAddress: address)
        let collected = CollectedRequestParts()
        for read in reads {
            do { try framer.decode(read, allocator: ByteBufferAllocator(), to: collected) } catch {
                return (collected, error as? HTTPWireError)
            }
        }
        return (collected, nil)
    }
}

@Suite(.tags(.unit)) struct HTTPWireTests {
    /// Runs the request framer over `reads` and returns what it emits, or throws its refusal.
    private func parts(_ reads: String..., address: String = "10.1.2.3") throws -> [RequestPart] {
        let (collected, refusal) = CollectedRequestParts.framing(reads.map { ByteBuffer(string: $0) }, address: address)
        if let refusal { throw refusal }
        return collected.parts
    }

    private func frame(_ text: String, address: String = "10.1.2.3") throws -> [ProxyRequest] {
        try parts(text, address: address).compactMap { if case .head(let request) = $0 { request } else { nil } }
    }

    /// The parts as text: `head:<bytes>`, `body:<bytes>`, `end`.
    private func describe(_ parts: [RequestPart]) -> [String] {
        parts.map {
            switch $0 {
            case .head(let request): "head:" + String(buffer: request.bytes)
            case .body(let body): "body:" + String(buffer: body)
            case .end: "end"
            }
        }
    }

    @Test func requestHeadIsRewrittenForTheBackend() throws {
        let requests = try frame(
            "POST /x?y=1 HTTP/1.0\r\nHost: example\r\nConnection: keep-alive, X-Secret\r\n"
                + "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 10.0.0.1\r\nX-Ripcord-Route: Candidate\r\n"
                + "Content-Length: 5\r\n\r\nhello")
        let request = try #require(requests.first)
        #expect(
            String(buffer: request.bytes) == "POST /x?y=1 HTTP/1.1\r\nHost: example\r\nX-Ripcord-Route: Candidate\r\n"
                + "content-length: 5\r\nx-forwarded-for: 10.0.0.1, 10.1.2.3\r\n\r\nhello")
        #expect(request.keepAlive && request.versionMinor == 0 && request.route == .candidate)
        #expect(!request.isIdempotent && !request.isHEAD && !request.streamsBody)
    }

    @Test func chunkedRequestBodiesAreDecodedAndPipelinedRequestsSplit() throws {
        let requests = try frame(
            "PUT /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n"
                + "HEAD /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(requests.count == 2)
        #expect(String(buffer: requests[0].bytes) == "PUT /a HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nx-forwarded-for: 10.1.2.3\r\n\r\nabcde")
        #expect(requests[0].isIdempotent && requests[0].keepAlive)
        #expect(requests[1].isHEAD && !requests[1].keepAlive)
        #expect(String(buffer: requests[1].bytes) == "HEAD /b HTTP/1.1\r\nHost: h\r\nx-forwarded-for: 10.1.2.3\r\n\r\n")
        var bad = ChunkedScanner()
        #expect(throws: HTTPWireError.malformed) {
            try Array("zz\r\n".utf8).withUnsafeBytes { p in try bad.scan(p, from: 0, to: p.count) { _ in } }
        }
    }

    @Test func malformedAndOversizedRequestsAreRejected() throws {
        #expect(throws: HTTPWireError.malformed) { try frame("GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n") }
        #expect(throws: HTTPWireError.malformed) { try frame("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") }
        #expect(throws: HTTPWireError.bodyTooLarge) { try frame("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n") }
        #expect(throws: HTTPWireError.unsupportedVersion) { try frame("GET / HTTP/2.0\r\n\r\n") }
    }

    /// A bare LF or a NUL would reach the backend byte for byte: a lenient backend would read a second
    /// header the router never saw (request smuggling). Every control character but tab is refused.
    @Test(arguments: [
        "X-A: a\nTransfer-Encoding: chunked", "X-A: a\0b", "X-A: a\rb", "X-\0A: b", "X-A\n: b",
        "X-A: \u{1}", "X-A: a\u{7f}", "X(A): b", "X-A : b", " X-A: b",
    ])
    func controlCharactersInHeadersAreRefused(_ header: String) {
        #expect(throws: HTTPWireError.malformed) { try frame("GET / HTTP/1.1\r\nHost: h\r\n\(header)\r\n\r\n") }
    }

    /// Values are checked eight bytes at a time: a control byte is refused wherever it falls in a word,
    /// and every other byte passes wherever it falls.
    @Test func aControlByteAnywhereInALongValueIsRefusedAndNoOtherByteIs() throws {
        func parses(_ value: [UInt8]) -> Bool {
            let head = Array("GET / HTTP/1.1\r\nHost: h\r\nX-A: ".utf8) + value + Array("\r\n\r\n".utf8)
            return head.withUnsafeBytes { (try? HTTPWire.parseRequestHead($0, headEnd: $0.count)) != nil }
        }
        let controls = Array(UInt8(0)..<32).filter { $0 != 9 } + [127]
        for position in 1..<20 {  // a leading tab or space is trimmed, not part of the value
            var value = [UInt8](repeating: UInt8(ascii: "v"), count: 20)
            for byte in controls {
                value[position] = byte
                #expect(!parses(value), "byte \(byte) at \(position)")
            }
            for byte: UInt8 in [9, 32, 33, 126, 128, 200, 255] {
                value[position] = byte
                #expect(parses(value), "byte \(byte) at \(position)")
            }
        }
    }

    @Test func aHeadEndsAtTheFirstEmptyLineFromWhereverTheSearchStarts() {
        // Every buffer of up to 11 bytes made of CR, LF and one other byte (265,720 of them), and longer
        // ones with the empty line at each offset: the end found skipping ten bytes at a time is the first one.
        func firstEnd(_ bytes: [UInt8], from: Int) -> Int? {
            var start = from
            while start + 4 <= bytes.count {
                if bytes[start] == 13, bytes[start + 1] == 10, bytes[start + 2] == 13, bytes[start + 3] == 10 { return start + 4 }
                start += 1
            }
            return nil
        }
        var checked = 0
        for length in 0...11 {
            var combination = [Int](repeating: 0, count: length)
            repeat {
                let bytes = combination.map { [13, 10, 97][$0] } as [UInt8]
                bytes.withUnsafeBytes { p in
                    for from in 0...length where HTTPWire.findHeadEnd(p, from: from) != firstEnd(bytes, from: from) {
                        Issue.record("\(bytes) from \(from): \(String(describing: HTTPWire.findHeadEnd(p, from: from)))")
                    }
                }
                checked += 1
            } while Self.increment(&combination, base: 3)
        }
        for length in 4...40 {
            for offset in 0...(length - 4) {
                for loneLineFeedBefore in offset > 1 ? [false, true] : [false] {
                    var bytes = [UInt8](repeating: 97, count: length)
                    bytes.replaceSubrange(offset..<offset + 4, with: [13, 10, 13, 10])
                    if loneLineFeedBefore { bytes[offset - 1] = 10 }
                    bytes.withUnsafeBytes { p in
                        for from in 0...length { #expect(HTTPWire.findHeadEnd(p, from: from) == firstEnd(bytes, from: from)) }
                    }
                }
            }
        }
        #expect(checked == 265_720)  // 3^0 + 3^1 + … + 3^11: none skipped
    }

    /// The next of all base-`base` numbers of its length (least significant digit first); false after the last.
    private static func increment(_ digits: inout [Int], base: Int) -> Bool {
        for index in digits.indices {
            digits[index] += 1
            if digits[index] < base { return true }
            digits[index] = 0
        }
        return false
    }

    @Test func aWordHasALineFeedExactlyWhenOneOfItsBytesIsOne() {
        for position in 0..<8 {
            for byte in UInt8.min...UInt8.max {
                var bytes = [UInt8](repeating: 11, count: 8)  // LF + 1: its neighbour in every borrow
                bytes[position] = byte
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                #expect(HTTPWire.hasByte(word, equalTo: 10) == (byte == 10), "byte \(byte) at \(position)")
            }
        }
        #expect(!HTTPWire.hasByte(0, equalTo: 10) && !HTTPWire.hasByte(.max, equalTo: 10) && HTTPWire.hasByte(0x0A0A_0A0A_0A0A_0A0A, equalTo: 10))
    }

    @Test func obsTextAndTabsInValuesPass() throws {
        let request = try #require(try frame("GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\u{e9}\tb\r\n\r\n").first)
        #expect(String(buffer: request.bytes).contains("X-A: caf\u{e9}\tb\r\n"))
    }

    @Test func fieldNameBytesAreExactlyTheTokenCharactersOfRFC9110() {
        let tchar = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPWire.isTokenByte(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }

    @Test func theFramerSignalsAHeadsStartBeforeItsEndAndEachPieceOfABody() {
        let (collected, refusal) = CollectedRequestParts.framing([
            ByteBuffer(string: "POST / HTTP/1.1\r\nHo"),
            ByteBuffer(string: "st: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nab"),
            ByteBuffer(string: "cdGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ])
        #expect(refusal == nil)
        #expect(collected.events == ["headStarted", "100-continue", "bodyProgress", "bodyProgress", "bodyProgress", "head", "headStarted", "head"])
    }

    @Test func aFinishedRequestsBufferIsReusedForTheNextHeadUnlessStillHeld() throws {
        var framer = RequestFramer(maxBody: 4096, bufferLimit: 1024, clientAddress: "10.1.2.3")
        let collected = CollectedRequestParts()
        func next() throws -> ByteBuffer {
            try framer.decode(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\n\r\n"), allocator: ByteBufferAllocator(), to: collected)
            guard case .head(let request) = collected.parts.removeLast() else { throw HTTPWireError.malformed }
            return request.bytes
        }
        func storage(_ buffer: ByteBuffer) -> UInt? { buffer.withVeryUnsafeBytes { $0.baseAddress.map { UInt(bitPattern: $0) } } }
        let expected = "GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-for: 10.1.2.3\r\n\r\n"
        // The spare is still held elsewhere (as a socket's pending write would hold it): written anew.
        let first = try next()
        collected.spare = first
        let second = try next()
        #expect(storage(second) != storage(first))
        #expect(String(buffer: first) == expected && String(buffer: second) == expected)
        // Held by nothing else: its storage takes the next head.
        let secondStorage = storage(second)
        collected.spare = consume second
        let third = try next()
        #expect(storage(third) == secondStorage)
        #expect(String(buffer: third) == expected)
    }

    @Test func http11NeedsExactlyOneHost() throws {
        #expect(throws: HTTPWireError.malformed) { try frame("GET / HTTP/1.1\r\n\r\n") }
        #expect(throws: HTTPWireError.malformed) { try frame("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") }
        #expect(throws: HTTPWireError.malformed) { try frame("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n") }
        // Found by RequestFramerFuzzTests: forwarded as HTTP/1.1, it needs a Host, empty when the client sent none.
        let hostless = try #require(try frame("GET / HTTP/1.0\r\n\r\n").first)
        #expect(String(buffer: hostless.bytes) == "GET / HTTP/1.1\r\nhost: \r\nx-forwarded-for: 10.1.2.3\r\n\r\n")
    }

    @Test func transferCodingsOtherThanChunkedAre501() throws {
        #expect(throws: HTTPWireError.unsupportedTransferCoding) {
            try frame("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
        }
        #expect(throws: HTTPWireError.unsupportedTransferCoding) { try frame("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n") }
        #expect(throws: HTTPWireError.malformed) {
            try frame("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        }
    }

    /// RFC 9112 §6.1: Transfer-Encoding overrides Content-Length, and the connection closes after the response.
    @Test func contentLengthBesideTransferEncodingIsIgnoredAndTheConnectionCloses() throws {
        let requests = try frame(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(requests.count == 2)
        #expect(String(buffer: requests[0].bytes).hasSuffix("content-length: 3\r\nx-forwarded-for: 10.1.2.3\r\n\r\nabc"))
        #expect(!requests[0].keepAlive)
    }

    private func head<Head>(_ text: String, _ parse: (UnsafeRawBufferPointer, Int) throws -> Head) throws -> Head {
        try Array(text.utf8).withUnsafeBytes { p in try parse(p, try #require(HTTPWire.findHeadEnd(p, from: 0))) }
    }

    private func response(_ headers: String, version: String = "1.1") throws -> HTTPWire.ResponseHead {
        try head("HTTP/\(version) 200 OK\r\n\(headers)\r\n\r\n", HTTPWire.parseResponseHead)
    }

    private func request(_ headers: String, version: String = "1.1") throws -> HTTPWire.RequestHead {
        try head("POST / HTTP/\(version)\r\nHost: h\r\n\(headers)\r\n\r\n", HTTPWire.parseRequestHead)
    }

    /// Requests and responses are framed by one accumulator (RFC 9112 §6.3): chunked as the final
    /// coding, over every Transfer-Encoding line, delimits the body, and Content-Length then counts for nothing.
    @Test func requestsAndResponsesReadTransferEncodingTheSameWay() throws {
        let chunked = "Transfer-Encoding: chunked"
        #expect(try response(chunked).framing(requestWasHEAD: false) == .chunked)
        #expect(try request(chunked).chunked)
        #expect(try response("transfer-encoding: gzip, chunked").framing(requestWasHEAD: false) == .chunked)

        let sizedAndChunked = "Content-Length: 10\r\nTransfer-Encoding: chunked"
        let sizedResponse = try response(sizedAndChunked)
        let sizedRequest = try request(sizedAndChunked)
        #expect(sizedResponse.framing(requestWasHEAD: false) == .chunked && sizedResponse.contentLength == nil && !sizedResponse.keepAlive)
        #expect(sizedRequest.chunked && sizedRequest.contentLength == nil && !sizedRequest.keepAlive)
        let old = try response(chunked, version: "1.0")
        #expect(old.framing(requestWasHEAD: false) == .chunked && !old.keepAlive, "a coding in HTTP/1.0 is faulty framing: close after")

        // Chunked on one line, another coding on the next: chunked is not final, so only the close ends
        // the response (the response side once looked at each line's last coding and read chunks here).
        #expect(try response("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip").framing(requestWasHEAD: false) == .untilClose)
        #expect(try response("Transfer-Encoding: chunked, gzip").framing(requestWasHEAD: false) == .untilClose)
        #expect(try response("Transfer-Encoding: gzip\r\nContent-Length: 4").framing(requestWasHEAD: false) == .untilClose)

        // Chunked twice is refused on both sides.
        let twice = "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
        #expect(throws: HTTPWireError.malformed) { try response(twice) }
        #expect(throws: HTTPWireError.malformed) { try request(twice) }
        #expect(throws: HTTPWireError.malformed) { try response("Transfer-Encoding: chunked, chunked") }
    }

    /// A request body the router holds is re-framed with a length, so it takes no coding it cannot decode.
    @Test func aRequestCodedOtherThanChunkedIs501WhereAResponseIsRelayed() throws {
        #expect(throws: HTTPWireError.unsupportedTransferCoding) { try request("Transfer-Encoding: gzip, chunked") }
        #expect(throws: HTTPWireError.unsupportedTransferCoding) { try request("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip") }
        #expect(try response("Transfer-Encoding: gzip, chunked").chunked)
    }

    @Test func aHeadOverTheLimitIsRefusedHoweverItArrives() throws {
        let big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: \(String(repeating: "a", count: HTTPWire.maxHeadSize))\r\n\r\n"
        #expect(throws: HTTPWireError.headTooLarge) { try frame(big) }
    }

    @Test func longBodiesStreamAsTheyComeShortOnesAreHeldWhole() throws {
        let body = String(repeating: "x", count: 1500)
        let streamed = try parts("PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: 1500\r\n\r\n\(body)")
        #expect(
            describe(streamed) == [
                "head:PUT /big HTTP/1.1\r\nHost: h\r\ncontent-length: 1500\r\nx-forwarded-for: 10.1.2.3\r\n\r\n",
                "body:\(body)", "end",
            ])
        guard case .head(let request) = streamed[0] else { return }
        #expect(request.streamsBody && !request.isIdempotent, "a streamed body can't be resent")

        // Chunks: held while they fit; past the limit the head goes and the chunks follow as they come.
        let chunks = try parts("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5dc\r\n\(body)\r\n", "2\r\nyz\r\n0\r\n\r\n")
        #expect(
            describe(chunks) == [
                "head:POST /c HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\nx-forwarded-for: 10.1.2.3\r\n\r\n",
                "body:5dc\r\n\(body)\r\n", "body:2\r\nyz\r\n", "body:0\r\n\r\n", "end",
            ])
        let held = try parts("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", "0\r\n\r\n")
        #expect(describe(held) == ["head:POST /c HTTP/1.1\r\nHost: h\r\ncontent-length: 2\r\nx-forwarded-for: 10.1.2.3\r\n\r\nab"])
    }
}

/// Records what an upstream connection reports.
final class RecordingReceiver: UpstreamResponseReceiver {
    var events: [String] = []
    var dechunk = false
    func upstreamResponseHead(_ head: HTTPWire.ResponseHead, bytes: UnsafeRawBufferPointer, framing: HTTPWire.BodyFraming) -> Bool {
        events.append("head \(head.status)")
        return dechunk
    }
    func upstreamResponseBody(_ body: ByteBuffer) { events.append("body \(String(buffer: body))") }
    func upstreamResponseEnd(reusable: Bool, at end: NIODeadline) { events.append("end reusable=\(reusable)") }
    func upstreamReadComplete() {}
    func upstreamWritabilityChanged(isWritable: Bool) { events.append("writable=\(isWritable)") }
    func upstreamFailed() { events.append("failed") }
    func upstreamTimedOut() { events.append("timeout") }
}

@Suite(.tags(.unit)) struct EmbeddedHandlerTests {
    private func readOutbound(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }

    private func upstreamChannel(responseTimeout: TimeAmount = .seconds(30)) throws -> (EmbeddedChannel, UpstreamConnectionHandler) {
        let channel = EmbeddedChannel()
        let handler = UpstreamConnectionHandler(responseTimeout: responseTimeout, idleTimeout: .seconds(60))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, handler)
    }

    @Test func upstreamHandlerWritesRequestAndRelaysResponse() throws {
        let (channel, handler) = try upstreamChannel()
        let receiver = RecordingReceiver()
        handler.send(ByteBuffer(string: "GET /hello HTTP/1.1\r\nhost: x\r\n\r\n"), isHEAD: false, to: receiver, at: .now())
        #expect(try readOutbound(channel) == "GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        // The head arrives in two reads, the body in a third.
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-len"))
        try channel.writeInbound(ByteBuffer(string: "gth: 5\r\n\r\nhe"))
        try channel.writeInbound(ByteBuffer(string: "llo"))
        #expect(receiver.events == ["head 200", "body he", "body llo", "end reusable=true"])
        #expect(handler.receiver == nil)

        // A chunked response passes through as it is, ending at the last chunk.
        receiver.events = []
        handler.send(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHEAD: false, to: receiver, at: .now())
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"))
        #expect(receiver.events == ["head 200", "body 2\r\nhi\r\n0\r\n\r\n", "end reusable=true"])

        // HEAD: no body whatever the length says; Connection: close makes it not reusable.
        receiver.events = []
        handler.send(ByteBuffer(string: "HEAD / HTTP/1.1\r\n\r\n"), isHEAD: true, to: receiver, at: .now())
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 99\r\nconnection: close\r\n\r\n"))
        #expect(receiver.events == ["head 200", "end reusable=false"])

        // An exchange that dies before any response byte is reported as a failure.
        receiver.events = []
        handler.send(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHEAD: false, to: receiver, at: .now())
        try channel.close().wait()
        #expect(receiver.events == ["failed"])
    }

    @Test func upstreamHandlerDechunksForOldClientsAndEndsCloseDelimitedBodiesAtEOF() throws {
        let (channel, handler) = try upstreamChannel()
        let receiver = RecordingReceiver()
        receiver.dechunk = true
        handler.send(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHEAD: false, to: receiver, at: .now())
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
        #expect(receiver.events == ["head 200", "body abc", "end reusable=true"])
        receiver.events = []
        receiver.dechunk = false
        handler.send(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHEAD: false, to: receiver, at: .now())
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.0 200 OK\r\n\r\nall of it"))
        try channel.close().wait()
        #expect(receiver.events == ["head 200", "body all of it", "end reusable=false"])
    }

    @Test func upstreamHandlerReportsSilenceAsTimeout() throws {
        let (channel, handler) = try upstreamChannel(responseTimeout: .milliseconds(100))
        let receiver = RecordingReceiver()
        handler.send(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), isHEAD: false, to: receiver, at: .now())
        // The handler measures silence with NIODeadline.now(); the embedded loop's clock is moved past it.
        channel.embeddedEventLoop.advanceTime(to: .now() + .milliseconds(50))
        #expect(receiver.events.isEmpty)
        let start = NIODeadline.now()
        while NIODeadline.now() < start + .milliseconds(120) {}
        channel.embeddedEventLoop.advanceTime(to: .now() + .milliseconds(10))
        #expect(receiver.events == ["timeout"])
        #expect(!channel.isActive)
    }

    @Test func clientHandlerAnswers503WithoutBackendsInOrderAndKeepsTheConnection() throws {
        let channel = EmbeddedChannel()
        let state = ServiceLoopState(eventLoop: channel.eventLoop, configuration: RouterConfiguration())
        try ClientConnectionHandler.configure(channel.pipeline.syncOperations, service: state, isPreviewDoor: false)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // Two pipelined requests in one read: two answers, in order.
        try channel.writeInbound(ByteBuffer(string: "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n"))
        let response = try readOutbound(channel)
        let expected = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n\r\n"
        #expect(response == expected + "no backend available\n" + expected)
        #expect(channel.isActive)
        // HTTP/1.0 without keep-alive: answered, then closed.
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.0\r\n\r\n"))
        let second = try readOutbound(channel)
        #expect(second.hasPrefix("HTTP/1.1 503"))
        #expect(second.contains("connection: close"))
        #expect(!channel.isActive)
    }

    @Test func clientHandlerAnswersMalformedRequestsWith400AndCloses() throws {
        let channel = EmbeddedChannel()
        let state = ServiceLoopState(eventLoop: channel.eventLoop, configuration: RouterConfiguration())
        try ClientConnectionHandler.configure(channel.pipeline.syncOperations, service: state, isPreviewDoor: false)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        _ = try? channel.writeInbound(ByteBuffer(string: "NOT HTTP\r\n\r\n"))
        #expect(try readOutbound(channel).hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(!channel.isActive)
    }

    /// A service's state on `eventLoop` with one backend, stable, version 1.0.0.
    private func serviceWithOneBackend(on eventLoop: any EventLoop) -> ServiceLoopState {
        let state = ServiceLoopState(eventLoop: eventLoop, configuration: RouterConfiguration())
        state.install(
            RoutingTable(
                generation: 1,
                backends: [
                    RoutedBackend(
                        address: HostPort(host: "127.0.0.1", port: 1), socketAddress: nil, version: Versions.stable,
                        role: .stable, weight: 100, metricsSlot: 0, versionHeader: "1.0.0")
                ]))
        return state
    }

    @Test func previewDoorWithOnlyStableBackendsAnswers503() throws {
        let channel = EmbeddedChannel()
        let state = serviceWithOneBackend(on: channel.eventLoop)
        try ClientConnectionHandler.configure(channel.pipeline.syncOperations, service: state, isPreviewDoor: true)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try readOutbound(channel).hasPrefix("HTTP/1.1 503"))
    }

    /// A client connection whose service has one backend, reached through a pooled upstream connection
    /// on an embedded channel of its own.
    private func proxiedExchange() throws -> (client: EmbeddedChannel, upstream: EmbeddedChannel) {
        let client = EmbeddedChannel()
        let state = serviceWithOneBackend(on: client.eventLoop)
        let (upstream, connection) = try upstreamChannel()
        let pool = state.pools[0]
        _ = pool.state.lease()
        pool.state.connectSucceeded()
        connection.pool = pool
        pool.release(connection, reusable: true)
        try ClientConnectionHandler.configure(client.pipeline.syncOperations, service: state, isPreviewDoor: false)
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (client, upstream)
    }

    private func outboundWrites(_ channel: EmbeddedChannel) throws -> [String] {
        var writes: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
        return writes
    }

    @Test func aSmallBodyGoesOutInItsHeadsWriteAndALargeOneAfterIt() throws {
        let (client, upstream) = try proxiedExchange()
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
        try client.writeInbound(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try outboundWrites(upstream).first?.hasPrefix("GET /a HTTP/1.1\r\n") == true)
        try upstream.writeInbound(ByteBuffer(string: head + "ok"))
        let small = try outboundWrites(client)
        #expect(small.count == 1, "\(small)")
        #expect(small.first?.hasSuffix("x-ripcord-version: 1.0.0\r\n\r\nok") == true, "\(small)")

        // Over the limit, the body is not copied: the head, then the body's own buffer.
        let large = String(repeating: "b", count: 5000)
        try client.writeInbound(ByteBuffer(string: "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
        _ = try outboundWrites(upstream)
        try upstream.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + large))
        let written = try outboundWrites(client)
        #expect(written.count == 2 && written.last == large, "\(written.map(\.count))")
        #expect(client.isActive)
    }

    @Test func routingStatePinsAndSplits() {
        let loop = EmbeddedEventLoop()
        let state = ServiceLoopState(eventLoop: loop, configuration: RouterConfiguration())
        func backend(_ port: Int, _ role: InstanceRole, _ weight: Int) -> RoutedBackend {
            RoutedBackend(
                address: HostPort(host: "127.0.0.1", port: port), socketAddress: nil, version: Versions.stable,
                role: role, weight: weight, metricsSlot: 0, versionHeader: "")
        }
        state.install(RoutingTable(generation: 1, backends: [backend(1, .stable, 100), backend(2, .candidate, 0)]))
        #expect((0..<20).allSatisfy { _ in state.pick(.weighted, strict: false, excluding: 0) == 0 })
        #expect((0..<20).allSatisfy { _ in state.pick(.candidate, strict: false, excluding: 0) == 1 })
        #expect((0..<20).allSatisfy { _ in state.pick(.stable, strict: false, excluding: 0) == 0 })
        // A stale table (older generation) is ignored.
        state.install(RoutingTable(generation: 1, backends: []))
        #expect(state.table.backends.count == 2)
        // A backend that leaves keeps no pool; one that stays keeps its pool.
        let keptPool = state.pools[0]
        state.install(RoutingTable(generation: 2, backends: [backend(1, .stable, 1)]))
        #expect(state.pools.count == 1 && state.pools[0] === keptPool)
        #expect(state.pick(.candidate, strict: true, excluding: 0) == nil)
    }
}
