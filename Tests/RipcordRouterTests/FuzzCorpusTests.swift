import Foundation
import NIOCore
import NIOEmbedded
import RipcordTestSupport
import Testing
@testable import RipcordRouter

/// Replays the fuzzing corpus (fuzz/corpus, grown by fuzz/run.sh) through the wire parsers: no input
/// crashes them or breaks what they promise about the bytes, and the hand-picked seeds parse as the
/// RFCs say.
@Suite(.tags(.unit)) struct FuzzCorpusTests {
    static func corpus(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let folder = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../fuzz/corpus/\(target)").standardized
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map { name in
            (name, Array(try Data(contentsOf: folder.appending(path: name))))
        }
    }

    static func outcomes(_ target: String, _ probe: (UnsafeRawBufferPointer) -> HTTPWireProbe.Outcome) throws -> [String: HTTPWireProbe.Outcome] {
        var outcomes: [String: HTTPWireProbe.Outcome] = [:]
        for input in try corpus(target) {
            let outcome = input.bytes.withUnsafeBytes(probe)
            #expect(outcome.violations.isEmpty, "fuzz/corpus/\(target)/\(input.name): \(outcome.violations)")
            outcomes[input.name] = outcome
        }
        return outcomes
    }

    /// Calls `body` with each input of the corpus and four rounds of its mutations that holds a whole head
    /// (the input's name, its bytes, the head's end).
    static func forEachWholeHead(
        _ target: String, seed: UInt64, _ body: (String, UnsafeRawBufferPointer, Int) -> Void
    ) throws {
        var random = Mutations.SeededGenerator(state: seed)
        for input in try corpus(target) {
            for bytes in Mutations.variants(of: input.bytes, rounds: 4, &random) {
                bytes.withUnsafeBytes { p in
                    if let headEnd = HTTPWire.findHeadEnd(p, from: 0) { body(input.name, p, headEnd) }
                }
            }
        }
    }

    @Test func everyRequestInTheCorpusParsesOrIsRefusedWithoutBreakingAnInvariant() throws {
        let outcomes = try Self.outcomes("http-request", HTTPWireProbe.request)
        #expect(outcomes.count >= 9)
        #expect(outcomes["get-keepalive"]?.error == nil && outcomes["get-keepalive"]?.headEnd != nil)
        #expect(outcomes["post-chunked"]?.error == nil && outcomes["post-chunked"]?.bodyBytes == 5)
        #expect(outcomes["cl-and-te"]?.error == nil)
        #expect(outcomes["header-injection-lf"]?.error == .malformed)
        #expect(outcomes["obs-fold"]?.error == .malformed)
        #expect(outcomes["gzip-coding"]?.error == .unsupportedTransferCoding)
        #expect(outcomes["http2-version"]?.error == .unsupportedVersion)
    }

    /// What the client gets is valid HTTP/1.1 with the backend's status and the body framed as the
    /// backend framed it (or, dechunked for an HTTP/1.0 client, until close): else the client reads a
    /// different body than the router sends, and the next response on the connection is desynchronised.
    @Test func everyResponseInTheCorpusAndItsMutationsIsRewrittenForTheClientWithItsFramingKept() throws {
        var rewritten = 0
        try Self.forEachWholeHead("http-response", seed: 7) { name, p, headEnd in
            guard let head = try? HTTPWire.parseResponseHead(p, headEnd: headEnd) else { return }
            let framing = head.framing(requestWasHEAD: false)
            for (keepAlive, clientVersionMinor, dechunk) in [(true, 1, false), (false, 1, false), (true, 0, true)] {
                func clientHead(_ head: HTTPWire.ResponseHead) -> ByteBuffer {
                    var out = ByteBuffer()
                    HTTPWire.writeClientResponseHead(
                        p, head, keepAlive: keepAlive, clientVersionMinor: clientVersionMinor, dechunk: dechunk,
                        versionHeader: "1.2.0", into: &out)
                    return out
                }
                let out = clientHead(head)
                let bytes = Array(out.readableBytesView)
                let text = String(decoding: bytes, as: UTF8.self).debugDescription
                var scanned = head
                scanned.namedLines = .unrecorded
                #expect(clientHead(scanned) == out, "\(name): the named lines and a scan keep different lines: \(text)")
                bytes.withUnsafeBytes { q in
                    guard let end = HTTPWire.findHeadEnd(q, from: 0), end == q.count else {
                        Issue.record("\(name): the client head is not one whole head: \(text)")
                        return
                    }
                    do {
                        let client = try HTTPWire.parseResponseHead(q, headEnd: end)
                        let expected = dechunk && framing == .chunked ? .untilClose : framing
                        #expect(client.status == head.status && client.framing(requestWasHEAD: false) == expected, "\(name): \(text)")
                        #expect(client.keepAlive == keepAlive || clientVersionMinor == 0, "\(name): \(text)")
                        rewritten += 1
                    } catch {
                        Issue.record("\(name): the client head does not parse (\(error)): \(text)")
                    }
                }
            }
        }
        #expect(rewritten > 100)
        // Found by this test: a length beside a coding other than chunked went to the client, while the body ran to the close.
        #expect(try Self.corpus("http-response").contains { $0.name == "gzip-with-length" })
    }

    /// A rewrite copies the runs between the lines its parse named, or scans the head line by line when
    /// it has no such record (too many named lines, a head not from the parser): both keep the same lines.
    @Test func everyRequestInTheCorpusAndItsMutationsIsRewrittenTheSameByItsNamedLinesAsByAScan() throws {
        var rewritten = 0
        try Self.forEachWholeHead("http-request", seed: 11) { name, p, headEnd in
            guard let head = try? HTTPWire.parseRequestHead(p, headEnd: headEnd) else { return }
            var scanned = head
            scanned.namedLines = .unrecorded
            var byNamedLines = ByteBuffer()
            var byScanning = ByteBuffer()
            HTTPWire.writeUpstreamRequestHead(p, head, into: &byNamedLines)
            HTTPWire.writeUpstreamRequestHead(p, scanned, into: &byScanning)
            #expect(byNamedLines == byScanning, "\(name): \(String(buffer: byNamedLines).debugDescription)")
            rewritten += 1
        }
        #expect(rewritten > 30)
    }

    @Test func headsWithMoreNamedLinesThanTheParseRecordsAreRewrittenByAScan() throws {
        /// The head `text` as `rewrite` writes it, and whether its parse recorded every named line.
        func rewritten(_ text: String, _ rewrite: (UnsafeRawBufferPointer, inout ByteBuffer) throws -> Bool) throws -> (complete: Bool, head: String) {
            var out = ByteBuffer()
            let complete = try Array(text.utf8).withUnsafeBytes { try rewrite($0, &out) }
            return (complete, String(buffer: out))
        }
        let request = try rewritten(
            "GET / HTTP/1.1\r\nhost: a\r\nte: trailers\r\nx-ripcord-route: stable\r\nupgrade: h2c\r\nkeep-alive: 5\r\n"
                + "trailer: x\r\nx-forwarded-for: 10.0.0.1\r\nx-kept: 1\r\n\r\n"
        ) { p, out in
            let head = try HTTPWire.parseRequestHead(p, headEnd: p.count)
            HTTPWire.writeUpstreamRequestHead(p, head, into: &out)
            return head.namedLines.complete
        }
        #expect(!request.complete)
        #expect(request.head == "GET / HTTP/1.1\r\nhost: a\r\nx-ripcord-route: stable\r\nx-kept: 1\r\n")
        let response = try rewritten(
            "HTTP/1.1 200 OK\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\nte: x\r\ntrailer: y\r\nupgrade: z\r\n"
                + "proxy-connection: close\r\ncontent-length: 2\r\nx-kept: 1\r\n\r\n"
        ) { p, out in
            let head = try HTTPWire.parseResponseHead(p, headEnd: p.count)
            HTTPWire.writeClientResponseHead(p, head, keepAlive: true, clientVersionMinor: 1, dechunk: false, versionHeader: "2.0.0", into: &out)
            return head.namedLines.complete
        }
        #expect(!response.complete)
        #expect(response.head == "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-kept: 1\r\nx-ripcord-version: 2.0.0\r\n\r\n")
    }

    @Test func everyResponseInTheCorpusParsesOrIsRefusedWithoutBreakingAnInvariant() throws {
        let outcomes = try Self.outcomes("http-response", HTTPWireProbe.response)
        #expect(outcomes.count >= 7)
        #expect(outcomes["ok-sized"]?.error == nil && outcomes["ok-chunked"]?.bodyBytes == 3)
        #expect(outcomes["bad-status"]?.error == .malformed)
    }
}

/// Seeded random mutations of corpus inputs, the same on every run so a failure reproduces.
enum Mutations {
    /// SplitMix64.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ bytes: [UInt8], _ random: inout SeededGenerator) -> [UInt8] {
        var bytes = bytes
        let interesting: [UInt8] = [0, 9, 10, 13, 32, 44, 58, 59, 48, 57, 0x7f, 0xff]
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0 where !bytes.isEmpty: bytes[position] = interesting.randomElement(using: &random)!
            case 1 where !bytes.isEmpty: bytes.remove(at: position)
            case 2: bytes.insert(interesting.randomElement(using: &random)!, at: position)
            default: bytes.insert(contentsOf: bytes[position...].prefix(16), at: position)
            }
        }
        return bytes
    }

    /// The input itself, then `rounds - 1` mutations of it.
    static func variants(of bytes: [UInt8], rounds: Int, _ random: inout SeededGenerator) -> [[UInt8]] {
        [bytes] + (1..<rounds).map { _ in mutate(bytes, &random) }
    }
}

/// The request framer (NIO, so not a libFuzzer target) over the request corpus and seeded random
/// mutations of it, each cut into reads at random places: it refuses with an `HTTPWireError` or emits
/// requests whose head, as rewritten for the backend, is valid HTTP/1.1 framing exactly the body sent.
@Suite(.tags(.unit)) struct RequestFramerFuzzTests {
    /// Frames `bytes` cut into reads at `cuts`: the requests emitted, and the error that stopped it.
    static func frame(_ bytes: [UInt8], cuts: [Int]) -> (requests: [ProxyRequest], refusal: HTTPWireError?) {
        var reads: [ByteBuffer] = []
        var start = 0
        for end in cuts.sorted() + [bytes.count] where end >= start {
            reads.append(ByteBuffer(bytes: bytes[start..<end]))
            start = end
        }
        let (collected, refusal) = CollectedRequestParts.framing(reads)
        let requests = collected.parts.compactMap { part -> ProxyRequest? in if case .head(let request) = part { request } else { nil } }
        return (requests, refusal)
    }

    /// What goes to the backend parses, and frames the body it carries (or announces a streamed one).
    static func checkUpstream(_ request: ProxyRequest, input: String) {
        let bytes = Array(request.bytes.readableBytesView)
        bytes.withUnsafeBytes { p in
            guard let headEnd = HTTPWire.findHeadEnd(p, from: 0) else {
                Issue.record("no complete head sent upstream for \(input)")
                return
            }
            do {
                let head = try HTTPWire.parseRequestHead(p, headEnd: headEnd)
                if request.streamsBody {
                    #expect(head.chunked || (head.contentLength ?? 0) > p.count - headEnd, "\(input)")
                } else {
                    #expect(!head.chunked && (head.contentLength ?? 0) == p.count - headEnd, "\(input)")
                }
            } catch {
                Issue.record("the head sent upstream does not parse (\(error)): \(String(decoding: bytes.prefix(headEnd), as: UTF8.self).debugDescription) for \(input)")
            }
        }
    }

    @Test func everyRequestAndItsMutationsAreRefusedOrForwardedAsValidHTTP() throws {
        var random = Mutations.SeededGenerator(state: 11)
        var forwarded = 0, refused = 0
        for input in try FuzzCorpusTests.corpus("http-request") {
            for (round, bytes) in Mutations.variants(of: input.bytes, rounds: 8, &random).enumerated() {
                let cuts = (0..<Int.random(in: 0...3, using: &random)).map { _ in Int.random(in: 0...bytes.count, using: &random) }
                let (requests, refusal) = Self.frame(bytes, cuts: cuts)
                for request in requests { Self.checkUpstream(request, input: "\(input.name) round \(round)") }
                forwarded += requests.count
                if refusal != nil { refused += 1 }
            }
        }
        #expect(forwarded > 100 && refused > 100)
    }
}
