import ArgumentParser
import CRipcordSpawn
import Foundation
import RipcordClient
import RipcordCore

@main
struct RipcordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ripcord",
        abstract: "Progressive delivery with automatic rollback for services that do not run on Kubernetes.",
        version: RipcordBuild.version,
        subcommands: [ServeCommand.self, RouterCommand.self] + ClientCommands.all + [
            ValidateCommand.self, DemoCommand.self, SampleServiceCommand.self, MigrateCommand.self, StoreCommand.self, TrafficCommand.self,
        ])

    static func main() async {
        // A pipeline's log (`deploy --wait | tee`) gets each line as it happens, not all of them at exit.
        ripcord_line_buffer_stdout()
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
