import ArgumentParser
import Foundation
import Hummingbird
import Logging
import RipcordConfig
import RipcordCore
import RipcordDrivers
import RipcordServer
import RipcordStore
import RipcordWire
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the controller: API, built-in router, reconcilers.",
        discussion: """
            With store.postgres, several serve processes share one database: each stands by until it wins the \
            leader's lease, then acts as a restarted controller would. A leader that loses its lease (it could \
            not renew it in time, or another holds it) stops acting before the lease can pass on and exits with \
            status 75: run serve under a supervisor that starts it again (it comes back standing by).
            """)

    @Option(help: "The configuration file.") var config: String = "ripcord.yaml"
    @Flag(
        help:
            "Leave instances running on shutdown, for a restart to adopt; the front doors then keep serving until the restarted serve takes them over (--handover). Always so with router.mode: external."
    )
    var keepInstances = false
    @Option(help: "With --keep-instances: the most seconds the front doors wait, after SIGTERM, for a restarted serve to take them over.")
    var handover: Int = 10
    @Option(help: "How many seconds to wait for a serve that is stopping to let go of the state directory.")
    var lockWait: Int = 15
    @Option(help: "Event loop threads for the front doors and the API (default: one per core).") var threads: Int?
    @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel: String = "info"
    @Option(help: "text, or json (one ECS object per line, for log pipelines).") var logFormat: LogFormat = .text

    func run() async throws {
        let loaded: RipcordConfiguration
        do { loaded = try ConfigLoader.load(file: config) } catch let error as ConfigError {
            FileHandle.standardError.write(Data("ripcord: \(error)\n".utf8))
            throw ExitCode(2)
        }
        logFormat.bootstrap()
        var logger = Logger(label: "ripcord")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let server: RipcordServer
        do {
            server = try await RipcordServer(
                config: loaded, lockWait: .seconds(max(0, lockWait)), configFile: config, threads: threads, logger: logger)
        } catch let error as DamagedStateError {
            FileHandle.standardError.write(Data("ripcord: \(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as ControllerLock.Busy {
            FileHandle.standardError.write(Data("ripcord: \(error)\n".utf8))
            throw ExitCode(1)
        }
        try await server.start()
        logger.info(
            "ripcord serving",
            metadata: [
                "api": "\(loaded.api)", "state": "\(loaded.stateDirectory)", "services": "\(loaded.services.map(\.name).joined(separator: ","))",
                "tokenFile": "\(server.tokenFile)",
            ])
        // SIGHUP: re-read the configuration, as `ripcord reload` does.
        let reloads = Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    let summary = try await server.reload(actor: "SIGHUP")
                    logger.notice(
                        "configuration reloaded",
                        metadata: [
                            "added": "\(summary.added)", "removed": "\(summary.removed)", "changed": "\(summary.changed)",
                            "needsRestart": "\(summary.needsRestart)",
                        ])
                } catch {
                    logger.error("configuration reload refused: \(error)")
                }
            }
        }
        do {
            try await server.application().runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            logger.error("API server stopped: \(error)")
        }
        reloads.cancel()
        // Standalone routers go on sending to the instances while the controller is away: they stay.
        let keep = keepInstances || loaded.routerMode == .external
        await server.shutdown(keepInstances: keep, handOver: .seconds(max(0, handover)))
    }
}

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check a configuration file without running anything.")

    @Argument(help: "The configuration file.") var file: String = "ripcord.yaml"
    @Flag(
        help:
            "For each service with analysis: what its judge needs to catch a bad candidate and to affirm a good one, how long that takes at its traffic, and warnings where a false rollback or a miss is likelier than 5 %."
    )
    var explain = false
    @Option(help: "With --explain: the services' requests per second (instead of each analysis' expectedRequestsPerSecond).")
    var rps: Double?

    func run() async throws {
        do {
            let config = try ConfigLoader.load(file: file)
            if let rps, !(rps > 0) { throw ValidationError("--rps must be above 0") }
            // What `serve` would only find out at the first deploy: a run command whose program is not there.
            let missing = config.services.filter { $0.driver == .process }.compactMap { service -> String? in
                guard let program = service.run.arguments(version: SemanticVersion(major: 0, minor: 0, patch: 0), port: 1).first else {
                    return "\(file): services.\(service.name).run.command: the command is empty"
                }
                return ExecutableSearch.resolve(program) == nil
                    ? "\(file): services.\(service.name).run.command: cannot find the program '\(program)' (not a path to an executable file, nor in PATH)" : nil
            }
            guard missing.isEmpty else {
                FileHandle.standardError.write(Data((missing.joined(separator: "\n") + "\n").utf8))
                throw ExitCode(2)
            }
            print("\(file): valid — \(config.services.count) service(s): \(config.services.map(\.name).joined(separator: ", "))")
            guard explain else { return }
            var warnings: [String] = []
            for service in config.services {
                let explanation = AnalysisExplanation(service: service, requestsPerSecond: rps)
                print("\n\(service.name):")
                for line in explanation.lines { print("  \(line)") }
                warnings += explanation.warnings
            }
            if !warnings.isEmpty {
                print("")
                for warning in warnings { print("warning: \(warning)") }
            }
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
