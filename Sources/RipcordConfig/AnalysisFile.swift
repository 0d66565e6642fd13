import Foundation
import RipcordCore

extension ConfigLoader {
    /// An analysis on its own (a guarded flag rollout's `--metric-file`): the keys of a service's
    /// `analysis:` block at the top level, with errors naming file, line and key.
    public static func loadAnalysis(file path: String) throws -> AnalysisSpec {
        try parseAnalysis(try read(file: path), file: path)
    }

    public static func parseAnalysis(_ text: String, file: String) throws -> AnalysisSpec {
        try analysisSpec(try document(text, file: file))
    }
}
