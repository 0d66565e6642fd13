import Foundation
import RipcordCore

/// Why a secret reference could not be resolved; names the reference, never a value.
public struct SecretResolutionError: Error, CustomStringConvertible {
    public var description: String
}

extension SecretValue {
    /// The value now: the literal, the environment variable, or the file's text without its final
    /// line break. Read at each use, so a rotated secret takes effect without a restart.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        switch self {
        case let .literal(text):
            return text
        case let .environment(name):
            guard let value = environment[name] else { throw SecretResolutionError(description: "${\(name)} is not set in ripcord's environment") }
            return value
        case let .file(path):
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw SecretResolutionError(description: "cannot read the secret file \(path)")
            }
            return text.droppingFinalLineBreak
        }
    }
}

extension Dictionary where Value == SecretValue {
    /// Every value resolved; the first failure names its key.
    public func resolvedHeaders(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [Key: String] {
        try reduce(into: [:]) { resolved, entry in
            do { resolved[entry.key] = try entry.value.resolve(environment: environment) } catch let error as SecretResolutionError {
                throw SecretResolutionError(description: "header \(entry.key): \(error)")
            }
        }
    }
}
