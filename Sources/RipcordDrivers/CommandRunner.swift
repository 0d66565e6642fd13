import CRipcordSpawn
import RipcordCore
#if canImport(Glibc)
    import Glibc
#endif

/// Runs a short-lived command — a metric, a lifecycle hook — split like a shell would (not through a
/// shell), in its own session with its output read through a pipe, and kills its whole process group
/// when it outlives its timeout or the calling task is cancelled.
public enum CommandRunner {
    public struct Outcome: Sendable, Equatable {
        public enum Ending: Sendable, Equatable {
            case exited(Int32)
            case signalled(Int32)
            case timedOut
            /// It ended, but its status was taken by another `waitpid` (a pid reused by the command).
            case statusLost
        }

        public var ending: Ending
        /// Standard output and error together, at most the last 16 KiB.
        public var output: String
        public var duration: TimeSpan

        public var succeeded: Bool { ending == .exited(0) }

        /// "exited with status 3", "killed by signal 9", "did not finish within 5s".
        public func describe(timeout: TimeSpan) -> String {
            switch ending {
            case let .exited(code): "exited with status \(code)"
            case let .signalled(signal): "was killed by signal \(signal)"
            case .timedOut: "did not finish within \(timeout)"
            case .statusLost: "ended, but its exit status was lost"
            }
        }
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A command as words; a relative program path resolves against `workingDirectory`, where it runs.
    public struct Command: Sendable {
        public var arguments: [String]
        public var environment: [String: String]
        public var workingDirectory: String?
        public var timeout: TimeSpan

        public init(arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil, timeout: TimeSpan) {
            (self.arguments, self.environment, self.workingDirectory, self.timeout) = (arguments, environment, workingDirectory, timeout)
        }
    }

    public static func run(_ command: String, environment: [String: String] = [:], timeout: TimeSpan) async throws -> Outcome {
        try await run(arguments: RunSpec.splitWords(command), environment: environment, timeout: timeout)
    }

    public static func run(
        arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
        timeout: TimeSpan
    ) async throws -> Outcome {
        try await run([Command(arguments: arguments, environment: environment, workingDirectory: workingDirectory, timeout: timeout)])[0].get()
    }

    /// Runs the commands at once and answers when the last has ended, in their order: a batch of
    /// checks costs its caller one wake, not one per command.
    public static func run(_ commands: [Command]) async -> [Result<Outcome, LaunchError>] {
        do { return await run(commands, on: try CommandWatcher.shared()) } catch {
            return commands.map { .failure(LaunchError(description: "cannot run '\($0.arguments.joined(separator: " "))': \(error)")) }
        }
    }

    static func run(_ commands: [Command], on watcher: CommandWatcher) async -> [Result<Outcome, LaunchError>] {
        var results: [Result<Outcome, LaunchError>?] = Array(repeating: nil, count: commands.count)
        var started: [(index: Int, at: ContinuousClock.Instant, command: CommandWatcher.Started)] = []
        // A batch's commands are mostly one script in one directory: it is looked up once.
        var executables: [ExecutableKey: String] = [:]
        for (index, command) in commands.enumerated() {
            let at = ContinuousClock.now
            do { started.append((index, at, try spawn(command, at: at, executables: &executables))) } catch { results[index] = .failure(error) }
        }
        let endings = await watcher.endings(of: started.map(\.command))
        for (spawned, end) in zip(started, endings) {
            results[spawned.index] = .success(Outcome(ending: ending(of: end), output: end.output, duration: TimeSpan(end.endedAt - spawned.at)))
        }
        return results.map { $0! }
    }

    private struct ExecutableKey: Hashable {
        var program: String
        var workingDirectory: String?
    }

    private static func spawn(_ command: Command, at started: ContinuousClock.Instant, executables: inout [ExecutableKey: String]) throws(LaunchError) -> CommandWatcher.Started {
        let line = command.arguments.joined(separator: " ")
        guard let program = command.arguments.first else { throw LaunchError(description: "cannot run an empty command") }
        let key = ExecutableKey(program: program, workingDirectory: command.workingDirectory)
        guard let executable = executables[key] ?? ExecutableSearch.resolve(program, relativeTo: command.workingDirectory) else {
            throw LaunchError(description: "cannot find the program of '\(line)'")
        }
        executables[key] = executable
        var pipe: [Int32] = [0, 0]
        guard ripcord_output_pipe(&pipe) == 0 else { throw LaunchError(description: "cannot run '\(line)': \(String(cString: strerror(errno)))") }
        let argv = command.arguments.map { strdup($0) } + [nil]
        let given = command.environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            argv.forEach { free($0) }
            given.forEach { free($0) }
        }
        let envp = inheritedEnvironment(except: command.environment.keys) + given + [nil]
        var pid: pid_t = 0
        let spawned = ripcord_spawn_writing_to(&pid, executable, command.workingDirectory, pipe[1], argv, envp)
        close(pipe[1])
        guard spawned == 0 else {
            close(pipe[0])
            throw LaunchError(description: "cannot run '\(line)': \(String(cString: strerror(spawned)))")
        }
        return CommandWatcher.Started(pid: pid, output: pipe[0], deadline: started + command.timeout.duration)
    }

    private static func ending(of end: CommandWatcher.Ending) -> Outcome.Ending {
        if end.killed { return .timedOut }
        guard let status = end.status else { return .statusLost }
        return status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }

    /// The controller's own environment as it is now, without the variables `overridden` (the C strings
    /// are `environ`'s own, valid while nothing changes it during the spawn; compared as bytes, since
    /// a check script of each of a thousand instances every few seconds makes this a hot path).
    private static func inheritedEnvironment(except overridden: Dictionary<String, String>.Keys) -> [UnsafeMutablePointer<CChar>?] {
        let prefixes = overridden.map { Array("\($0)=".utf8CString.dropLast()) }
        var inherited: [UnsafeMutablePointer<CChar>?] = []
        var entry = environ
        while let variable = entry.pointee {
            entry += 1
            if !prefixes.contains(where: { strncmp(variable, $0, $0.count) == 0 }) { inherited.append(variable) }
        }
        return inherited
    }
}
