import Foundation
import RipcordTestSupport
import Testing
@testable import RipcordFlagService

/// Replays the OFREP context fuzzing corpus (fuzz/corpus/ofrep-context, grown by fuzz/run.sh): the
/// hand-written reader never crashes and accepts nothing a standard JSON parser refuses.
@Suite(.tags(.unit)) struct ContextCorpusTests {
    @Test func everyBodyInTheCorpusIsReadOrRefusedLikeAStandardParserWould() throws {
        let folder = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../fuzz/corpus/ofrep-context").standardized
        var accepted: [String: Bool] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let outcome = ContextJSONProbe.probe(Array(try Data(contentsOf: folder.appending(path: name))))
            #expect(outcome.violations.isEmpty, "fuzz/corpus/ofrep-context/\(name): \(outcome.violations)")
            accepted[name] = outcome.accepted
        }
        #expect(accepted.count >= 9)
        for valid in ["full-context", "empty-object", "null-context"] { #expect(accepted[valid] == true, "\(valid)") }
        for invalid in ["array-root", "trailing-garbage", "trailing-comma", "lone-surrogate", "deep-nesting", "leading-zero"] {
            #expect(accepted[invalid] == false, "\(invalid)")
        }
    }
}
