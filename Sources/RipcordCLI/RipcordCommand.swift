import ArgumentParser

@main
struct RipcordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ripcord",
        abstract: "Progressive delivery with automatic rollback for services that do not run on Kubernetes.",
        subcommands: [
            ServeCommand.self, DeployCommand.self, StatusCommand.self, PromoteCommand.self, AbortCommand.self,
            UndoCommand.self, HistoryCommand.self, ValidateCommand.self, DemoCommand.self, SampleServiceCommand.self,
            FlagsCommand.self, TokensCommand.self, ReleaseCommand.self,
            BenchRouterCommand.self, BenchFlagsCommand.self, BenchReleaseCommand.self, SimulateJudgesCommand.self, BenchTrafficSwitchCommand.self,
            MigrateCommand.self, TrafficCommand.self,
        ])
}
