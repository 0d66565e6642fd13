import Foundation
import Testing
@testable import RipcordRouter

/// Replays the fuzzing corpus (fuzz/corpus, grown by fuzz/run.sh) through the wire parsers: no input
/// crashes them or breaks what they promise about the bytes, and the hand-picked seeds parse as the
/// RFCs say.
@Suite struct FuzzCorpusTests {
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

    @Test func everyResponseInTheCorpusParsesOrIsRefusedWithoutBreakingAnInvariant() throws {
        let outcomes = try Self.outcomes("http-response", HTTPWireProbe.response)
        #expect(outcomes.count >= 7)
        #expect(outcomes["ok-sized"]?.error == nil && outcomes["ok-chunked"]?.bodyBytes == 3)
        #expect(outcomes["bad-status"]?.error == .malformed)
    }
}
