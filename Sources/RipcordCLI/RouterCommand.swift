import ArgumentParser
import Foundation
import Logging
import NIOCore
import RipcordRouterAgent
import RipcordWire
import UnixSignals

struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Run a standalone router (router.mode: external): serve the front doors of the controller's routing table.",
        discussion: """
            The router follows the controller's routes over one long-lived stream and reports what it measures. \
            While the controller is away it goes on serving the last table it applied (from --state-file when it \
            starts meanwhile) and reconnects with backoff. SIGTERM closes the doors once requests in flight finish.
            """)

    @Option(
        help:
            "The controller's API, e.g. http://10.0.0.5:7070; with controllers sharing a store, each of them, comma-separated (the router follows whichever leads)."
    )
    var controller: String
    @Option(help: "A file holding an API token (the controller's admin.token or one made with `ripcord tokens create`).")
    var tokenFile: String
    @Option(help: "Where to keep the last routing table applied, to serve it when started while the controller is away.")
    var stateFile: String?
    @Option(help: "This router's name in the controller's events and GET /api/v1/routers (default: the host name).")
    var name: String?
    @Option(help: "Serve every front door on this host address instead of the configured one (e.g. 0.0.0.0 on an edge host).")
    var address: String?
    @Option(help: "Event loop threads (default: one per core).") var threads: Int?
    @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel: String = "info"
    @Option(help: "text, or json (one ECS object per line, for log pipelines).") var logFormat: LogFormat = .text

    func run() async throws {
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            FileHandle.standardError.write(Data("ripcord: cannot read the token file \(tokenFile): \(error.localizedDescription)\n".utf8))
            throw ExitCode(2)
        }
        guard !token.isEmpty else {
            FileHandle.standardError.write(Data("ripcord: the token file \(tokenFile) is empty\n".utf8))
            throw ExitCode(2)
        }
        // The host name may hold characters a router name cannot (it goes into URLs and events).
        let name = self.name ?? String(ProcessInfo.processInfo.hostName.map { RouterName.isValid(String($0)) ? $0 : "-" }.prefix(64))
        guard RouterName.isValid(name) else {
            FileHandle.standardError.write(Data("ripcord: --name: a router name is \(RouterName.rule)\n".utf8))
            throw ExitCode(2)
        }
        logFormat.bootstrap()
        var logger = Logger(label: "ripcord-router")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let agent = RouterAgent(
            settings: RouterAgentSettings(
                controllers: controller.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }, token: token, name: name,
                stateFile: stateFile,
                address: address, threads: threads ?? System.coreCount),
            logger: logger)
        let serving = Task { await agent.run() }
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
        logger.notice("stopping: the doors close once requests in flight finish")
        serving.cancel()
        await serving.value
        await agent.shutdown()
    }
}
