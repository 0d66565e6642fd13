import Foundation
import RipcordCore
import Yams

extension ConfigLoader {
    /// An analysis on its own (a guarded flag rollout's `--metric-file`): the keys of a service's
    /// `analysis:` block at the top level, with errors naming file, line and key.
    public static func loadAnalysis(file path: String) throws -> AnalysisSpec {
        try parseAnalysis(try read(path), file: path)
    }

    public static func parseAnalysis(_ text: String, file: String) throws -> AnalysisSpec {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, line: 1, column: 1, key: "", message: "the file is empty")
            }
            return try analysisSpec(Located(node: node, path: "", file: file))
        } catch let error as YamlError {
            throw syntaxError(error, file: file)
        }
    }
}
