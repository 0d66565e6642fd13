/// A configuration problem, located precisely enough to fix at 3 a.m.:
/// `ripcord.yaml:14:7: services.checkout.healthCheck.intervl: unknown key …`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// Dotted path of the offending key, e.g. `services.checkout.strategy.canary.steps[2]`.
    public var key: String
    public var message: String

    public init(file: String, line: Int, column: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String {
        "\(file):\(line):\(column): \(key.isEmpty ? "" : key + ": ")\(message)"
    }
}
