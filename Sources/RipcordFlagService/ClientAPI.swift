import Foundation
import RipcordFlags

/// A query string as form pairs: `+` is a space and both names and values are percent-decoded
/// (browsers' `URLSearchParams` writes `properties[plan]` as `properties%5Bplan%5D`).
public enum QueryString {
    public static func pairs(_ query: String?) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }
}

/// Which flags an Unleash client asks for: `project` (repeatable) and `namePrefix`, as Unleash's
/// `/api/client/features` and `/api/client/delta` take them. No filter: every flag.
public struct ClientFeatureFilter: Sendable, Equatable {
    public var projects: Set<String>
    public var namePrefix: String

    public init(projects: Set<String> = [], namePrefix: String = "") {
        self.projects = projects
        self.namePrefix = namePrefix
    }

    public init(query: String?) {
        let pairs = QueryString.pairs(query)
        // `project=a,b` is read like `project=a&project=b`; `*` is every project, as in Unleash.
        let projects = pairs.filter { $0.name == "project" || $0.name == "project[]" }
            .flatMap { $0.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        self.init(
            projects: projects.contains("*") ? [] : Set(projects),
            namePrefix: pairs.last { $0.name == "namePrefix" }?.value ?? "")
    }

    public var selectsEverything: Bool { projects.isEmpty && namePrefix.isEmpty }

    public func includes(name: String, project: String) -> Bool {
        name.hasPrefix(namePrefix) && (projects.isEmpty || projects.contains(project))
    }

    public func includes(_ feature: FeatureDefinition) -> Bool { includes(name: feature.name, project: feature.projectName) }

    /// The delta events this filter lets through (segment events always pass: they are few, and
    /// a filtered flag may reference any segment).
    public func includes(_ event: DeltaEvent) -> Bool {
        switch event {
        case .featureUpdated(_, let feature): includes(feature)
        case .featureRemoved(_, let name, let project): includes(name: name, project: project)
        case .hydration, .segmentUpdated, .segmentRemoved: true
        }
    }
}

/// The Unleash frontend API (`/api/frontend`, alias `/api/proxy`): the flags that are on for one
/// context, evaluated here, in the shape Unleash's browser and mobile SDKs (proxy clients) read.
public enum FrontendAPI {
    struct Toggle: Encodable {
        var name: String
        var enabled: Bool
        var variant: VariantResult
        var impressionData: Bool
    }

    struct Toggles: Encodable { var toggles: [Toggle] }

    /// The context of a query string: `userId`, `sessionId`, `remoteAddress`, `appName`,
    /// `environment`, `currentTime` as such, `properties[NAME]` and every other parameter as properties.
    /// An unreadable `currentTime` fails the date rules only.
    public static func context(fromQuery query: String?) -> FlagContext {
        var context = FlagContext()
        for (name, value) in QueryString.pairs(query) {
            switch name {
            case "userId": context.userId = value
            case "sessionId": context.sessionId = value
            case "remoteAddress": context.remoteAddress = value
            case "appName": context.appName = value
            case "environment": context.environment = value
            case "currentTime":
                // Unreadable, it fails the date rules only, as in Unleash's engine.
                if let seconds = ISO8601Timestamp.parseContextTime(value) {
                    context.currentTime = Date(timeIntervalSince1970: seconds)
                } else {
                    context.properties["currentTime"] = value
                }
            default:
                if name.hasPrefix("properties["), name.hasSuffix("]") {
                    context.properties[String(name.dropFirst("properties[".count).dropLast())] = value
                } else {
                    context.properties[name] = value
                }
            }
        }
        return context
    }

    /// `{"toggles": [...]}`: the flags on for the context, each with its variant and impression setting.
    public static func toggles(_ snapshot: FlagSnapshot, context: FlagContext) throws -> Data {
        let toggles = snapshot.evaluator.evaluateAll(context: context).filter(\.enabled).map {
            Toggle(name: $0.flag, enabled: true, variant: $0.variant, impressionData: $0.impressionData)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(Toggles(toggles: toggles))
    }
}
