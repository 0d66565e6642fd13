import Foundation
import RipcordCore
import RipcordFlags

/// Flag documents are checked whole before anything is stored, so a rule that could never match
/// (or a misspelt key that would be dropped) is refused with every problem named, instead of being
/// stored and silently evaluating to false.
extension FlagValidation {
    public enum DocumentShape: Sendable {
        /// One flag: Unleash's feature shape (create, replace).
        case flag
        /// Unleash's `/api/client/features` body (import, apply).
        case state
    }

    static let flagKeys: Set<String> = [
        "name", "description", "type", "project", "enabled", "stale", "impressionData", "strategies", "variants", "dependencies", "tags",
    ]
    /// `query` and `meta` are part of Unleash's answer (so of its exports); they are ignored.
    static let stateKeys: Set<String> = ["version", "features", "segments", "query", "meta"]

    /// Keys Ripcord does not know at the document's top level and, in a state, at each flag's: most
    /// likely misspellings, which decoding alone would drop without a word.
    public static func unknownKeys(in json: Data, shape: DocumentShape) -> [FlagProblem] {
        guard let document = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return [] }
        func unknown(in flag: [String: Any], at prefix: String) -> [FlagProblem] {
            flag.keys.filter { !flagKeys.contains($0) }.sorted().map { key in
                FlagProblem(flag: flag["name"] as? String ?? prefix, field: key, message: "unknown key")
            }
        }
        switch shape {
        case .flag:
            return unknown(in: document, at: "(unnamed)")
        case .state:
            let topLevel = document.keys.filter { !stateKeys.contains($0) }.sorted().map { FlagProblem(field: $0, message: "unknown key") }
            let flags = (document["features"] as? [Any] ?? []).enumerated().flatMap { index, flag in
                (flag as? [String: Any]).map { unknown(in: $0, at: "features[\(index)]") } ?? []
            }
            return topLevel + flags
        }
    }

    /// What makes flags unfit to store: operators the evaluator does not know, operands their
    /// operator cannot use (invalid regexes, numbers, dates, versions), segments that exist neither
    /// in the document nor among the stored ones, rollout percentages outside 0–100.
    public static func problems(features: [FeatureDefinition], segments: [Segment] = [], storedSegmentIDs: Set<Int>) -> [FlagProblem] {
        var problems: [FlagProblem] = []
        for segment in segments {
            for (index, constraint) in segment.constraints.enumerated() {
                if let (field, message) = constraint.problem {
                    problems.append(FlagProblem(segment: segment.id, field: "constraints[\(index)].\(field)", message: message))
                }
            }
        }
        let segmentIDs = storedSegmentIDs.union(segments.map(\.id))
        for feature in features {
            for (index, strategy) in feature.strategies.enumerated() {
                let at = "strategies[\(index)]"
                for key in ["rollout", "percentage"] {
                    guard let text = strategy.parameters[key] else { continue }
                    let value = Double(text.trimmingCharacters(in: .whitespaces))
                    if !(value.map { (0...100).contains($0) } ?? false) {
                        problems.append(
                            FlagProblem(
                                flag: feature.name, field: "\(at).parameters.\(key)",
                                message: "a percentage is a number from 0 to 100 (got '\(text)')"))
                    }
                }
                for (position, constraint) in strategy.constraints.enumerated() {
                    if let (field, message) = constraint.problem {
                        problems.append(FlagProblem(flag: feature.name, field: "\(at).constraints[\(position)].\(field)", message: message))
                    }
                }
                for (position, id) in strategy.segments.enumerated() where !segmentIDs.contains(id) {
                    problems.append(
                        FlagProblem(
                            flag: feature.name, field: "\(at).segments[\(position)]",
                            message: "no segment \(id), neither in this document nor stored"))
                }
            }
        }
        return problems
    }

    /// Refuses a document with problems: one error that names every one of them.
    public static func refuse(_ problems: [FlagProblem]) throws {
        guard !problems.isEmpty else { return }
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        throw Refusal(
            .invalid, "invalid_flag", "\(count) in the flag document: " + problems.map(\.description).joined(separator: "; "),
            problems: problems)
    }
}
