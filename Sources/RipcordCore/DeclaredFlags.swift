/// A feature flag a service's release introduces: rolling the release back turns it off.
public struct DeclaredFlag: Sendable, Equatable, Hashable, Codable {
    public static let defaultEnvironment = "default"

    public var name: String
    public var environment: String

    public init(name: String, environment: String = DeclaredFlag.defaultEnvironment) {
        self.name = name
        self.environment = environment
    }
}
