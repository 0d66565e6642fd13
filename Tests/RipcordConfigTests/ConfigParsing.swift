import RipcordConfig
import RipcordCore
import Testing

/// Parsing a configuration as `/etc/ripcord/ripcord.yaml`, for the suites that test the loader.
protocol ConfigParsing {}

extension ConfigParsing {
    func parse(_ text: String) throws -> RipcordConfiguration {
        try ConfigLoader.parse(text, file: "ripcord.yaml", baseDirectory: "/etc/ripcord")
    }

    /// The error parsing `text` gives; nil when it parses (any error but a `ConfigError` is an issue).
    func error(_ text: String) -> ConfigError? {
        do {
            _ = try parse(text)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }
}
