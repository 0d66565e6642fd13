import ArgumentParser
import RipcordClient
import RipcordConfig
import RipcordTrafficManagers

struct TrafficCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traffic", abstract: "Work with the load balancer that splits traffic (HAProxy, nginx).",
        subcommands: [TrafficRenderCommand.self])
}

extension TrafficManagers.Kind: ExpressibleByArgument {}

struct TrafficRenderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render", abstract: "Print the initial HAProxy or nginx configuration for the configured services, to install.")

    @Argument(help: "haproxy or nginx.") var kind: TrafficManagers.Kind
    @Option(help: "The configuration file.") var config: String = "ripcord.yaml"

    func run() async throws {
        try await reportingFailures {
            print(TrafficManagers.initialConfiguration(kind, config: try ConfigLoader.load(file: config)), terminator: "")
        }
    }
}
