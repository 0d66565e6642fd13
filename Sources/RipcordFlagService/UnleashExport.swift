import Foundation
import RipcordCore
import RipcordFlags

/// Unleash's admin export (`POST /api/admin/features-batch/export`): one environment's flags spread
/// over `features`, `featureStrategies`, `featureEnvironments`, `segments`, `featureTags`,
/// `dependencies`, …, put back together as Ripcord's state (the `/api/client/features` shape).
public enum UnleashExport {
    /// Whether a document is such an export rather than the `/api/client/features` shape.
    public static func isExport(_ json: Data) -> Bool {
        guard let document = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return false }
        return document["featureStrategies"] != nil || document["featureEnvironments"] != nil
    }

    struct Document: Decodable {
        var features: [FeatureDefinition]
        var featureStrategies: [FeatureStrategy]?
        var featureEnvironments: [FeatureEnvironment]?
        var segments: [ExportedSegment]?
        var featureTags: [FeatureTag]?
        var dependencies: [Dependencies]?
    }

    /// A strategy with the flag it belongs to (and, in hand-made exports, its environment).
    struct FeatureStrategy: Decodable {
        var strategy: StrategyDefinition
        var featureName: String
        var environment: String?
        enum CodingKeys: String, CodingKey { case featureName, environment }
        init(from decoder: any Decoder) throws {
            strategy = try StrategyDefinition(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            featureName = try c.decode(String.self, forKey: .featureName)
            environment = try c.decodeIfPresent(String.self, forKey: .environment)
        }
    }

    struct FeatureEnvironment: Decodable {
        var featureName: String
        var environment: String?
        var enabled: Bool
        var variants: [VariantDefinition]?
    }

    /// Unleash exports a segment's id and name only; its constraints when the export was completed by hand.
    struct ExportedSegment: Decodable {
        var id: Int
        var name: String?
        var constraints: [Constraint]?
    }

    struct FeatureTag: Decodable {
        var featureName: String
        var tagType: String
        var tagValue: String
    }

    struct Dependencies: Decodable {
        var feature: String
        var dependencies: [FeatureDependency]
    }

    /// The state an export describes for `environment` (the export's own environment when it holds
    /// one; else the entries named `environment`), and the problems that keep it from being imported:
    /// a segment whose constraints are neither in the export nor stored would match everyone.
    public static func state(from json: Data, environment: String, storedSegments: [Segment]) throws -> (ClientFeatures, [FlagProblem]) {
        let document = try JSONDecoder().decode(Document.self, from: json)
        func inEnvironment(_ name: String?, among names: Set<String?>) -> Bool {
            names.count <= 1 || name == nil || name == environment
        }
        let strategyEnvironments = Set((document.featureStrategies ?? []).map(\.environment))
        let strategies = Dictionary(
            grouping: (document.featureStrategies ?? []).filter { inEnvironment($0.environment, among: strategyEnvironments) },
            by: \.featureName)
        let settingEnvironments = Set((document.featureEnvironments ?? []).map(\.environment))
        let settings = Dictionary(
            (document.featureEnvironments ?? []).filter { inEnvironment($0.environment, among: settingEnvironments) }
                .map { ($0.featureName, $0) }, uniquingKeysWith: { first, _ in first })
        let tags = Dictionary(grouping: document.featureTags ?? [], by: \.featureName)
        let dependencies = Dictionary((document.dependencies ?? []).map { ($0.feature, $0.dependencies) }, uniquingKeysWith: { first, _ in first })

        let features = document.features.map { exported -> FeatureDefinition in
            var feature = exported
            let setting = settings[feature.name]
            feature.enabled = setting?.enabled ?? false
            if let variants = setting?.variants, !variants.isEmpty { feature.variants = variants }
            // Unleash evaluates strategies in sortOrder; the export lists them in any order.
            feature.strategies = (strategies[feature.name] ?? []).enumerated()
                .sorted { ($0.element.strategy.sortOrder ?? Int.max, $0.offset) < ($1.element.strategy.sortOrder ?? Int.max, $1.offset) }
                .map(\.element.strategy)
            if let flagTags = tags[feature.name] { feature.tags = flagTags.map { FlagTag(type: $0.tagType, value: $0.tagValue) } }
            if let parents = dependencies[feature.name] { feature.dependencies = parents }
            return feature
        }
        let stored = Dictionary(storedSegments.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var problems: [FlagProblem] = []
        var segments: [Segment] = []
        for (index, exported) in (document.segments ?? []).enumerated() {
            if let constraints = exported.constraints {
                segments.append(Segment(id: exported.id, name: exported.name, constraints: constraints))
            } else if stored[exported.id] == nil {
                problems.append(
                    FlagProblem(
                        segment: exported.id, field: "segments[\(index)].constraints",
                        message:
                            "Unleash exports a segment's name only; create segment \(exported.id) (\(exported.name ?? "unnamed")) with its constraints first, or add them to the export"
                    ))
            }
        }
        return (ClientFeatures(version: 2, features: features, segments: segments), problems)
    }
}
