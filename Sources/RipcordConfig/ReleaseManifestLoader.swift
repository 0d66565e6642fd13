import RipcordCore

/// Loads a release manifest (`ripcord release apply release.yaml`):
///
/// ```yaml
/// name: checkout-v2
/// flags: [new-checkout-flow]      # introduced by the release: a rollback turns them off
/// services:
///   checkout:
///     version: 2.0.0
///     requires: { payments: ">=2.1.0 <3.0.0" }
///     strategy: { canary: { steps: [ { setWeight: 10 }, { pause: 30s }, { setWeight: 50 } ] } }
///   payments:
///     version: 2.1.0
/// ```
public enum ReleaseManifestLoader {
    public static func load(file path: String) throws -> ReleaseManifest {
        try parse(try ConfigLoader.read(file: path), file: path)
    }

    public static func parse(_ text: String, file: String) throws -> ReleaseManifest {
        let top = try ConfigLoader.document(text, file: file).mapping()
        let name = try top.optional("name") { try $0.string() }
        let flags = try top.optional("flags", ConfigLoader.declaredFlags) ?? []
        let servicesNode = try top.required("services") { $0 }
        let targets = try servicesNode.mapping().namedEntries().map { service, node in try target(service, node) }
        try top.finish(allowed: ["name", "flags", "services"])
        guard !targets.isEmpty else { throw servicesNode.error("name at least one service and its version") }
        for target in targets {
            if let own = target.requires[target.service] {
                throw servicesNode.error("\(target.service) requires itself (\(own))")
            }
        }
        return ReleaseManifest(name: name, services: targets, flags: flags)
    }

    private static func target(_ service: String, _ node: Located) throws -> ReleaseTarget {
        let map = try node.mapping()
        let version = try map.required("version") { node in
            do { return try SemanticVersion(parsing: try node.string()) } catch let error as SemanticVersion.ParseError {
                throw node.error(error.description)
            }
        }
        let requires =
            try map.optional("requires") { node -> [String: VersionRange] in
                var ranges: [String: VersionRange] = [:]
                for (required, rangeNode) in try node.mapping().namedEntries() {
                    do { ranges[required] = try VersionRange(parsing: try rangeNode.string()) } catch let error as VersionRange.ParseError {
                        throw rangeNode.error(error.description)
                    }
                }
                return ranges
            } ?? [:]
        let strategy = try map.optional("strategy", ConfigLoader.strategy)
        try map.finish(allowed: ["version", "requires", "strategy"])
        return ReleaseTarget(service: service, version: version, strategy: strategy, requires: requires)
    }
}
