import ArgumentParser
import Foundation
import RipcordConfig
import RipcordCore
import RipcordWire

/// How a CLI command finds the API and its token: flags, then environment, then the config file.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (used to find the API address and the token; default: ripcord.yaml when it exists).")
    var config: String?

    @Option(name: .long, help: "The API base URL, e.g. http://127.0.0.1:7070 (default: from the config; env RIPCORD_SERVER).")
    var server: String?

    @Option(name: .long, help: "A file holding the API token (default: <stateDirectory>/admin.token; env RIPCORD_TOKEN holds the token itself).")
    var tokenFile: String?

    func client() throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let loaded: RipcordConfiguration?
        if let config {
            // Named on the command line: a missing file is a mistake, not a reason to guess the address.
            guard FileManager.default.fileExists(atPath: config) else {
                throw ValidationError("--config \(config): no such file")
            }
            loaded = try ConfigLoader.load(file: config)
        } else {
            loaded = FileManager.default.fileExists(atPath: "ripcord.yaml") ? try ConfigLoader.load(file: "ripcord.yaml") : nil
        }
        let base = server ?? environment["RIPCORD_SERVER"] ?? loaded.map { "http://\($0.api)" } ?? "http://\(RipcordConfiguration.defaultAPI)"
        var token = environment["RIPCORD_TOKEN"]
        if let path = tokenFile ?? loaded.map({ "\($0.stateDirectory)/admin.token" }), token == nil {
            token = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return APIClient(baseURL: base.hasSuffix("/") ? String(base.dropLast()) : base, token: token)
    }
}

/// Runs a command body, printing API failures readably and exiting non-zero.
public func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as APIClient.Failure {
        FileHandle.standardError.write(Data("ripcord: \(failure)\n".utf8))
        throw ExitCode(failure.status == 0 ? 3 : 1)
    } catch let error as ConfigError {
        FileHandle.standardError.write(Data("ripcord: \(error)\n".utf8))
        throw ExitCode(2)
    }
}
