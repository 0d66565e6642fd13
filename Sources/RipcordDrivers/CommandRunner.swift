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

    public static func run(_ command: String, environment: [String: String] = [:], timeout: TimeSpan) async throws -> Outcome {
        try await run(arguments: RunSpec.splitWords(command), environment: environment, timeout: timeout)
    }

    /// Runs a command given as words; a relative program path resolves against `workingDirectory`, where it runs.
    public static func run(
        arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
        timeout: TimeSpan
    ) async throws -> Outcome {
        let command = arguments.joined(separator: " ")
        guard let program = arguments.first, let executable = ExecutableSearch.resolve(program, relativeTo: workingDirectory) else {
            throw LaunchError(description: "cannot find the program of '\(command)'")
        }
        let watcher: CommandWatcher
        do { watcher = try CommandWatcher.shared() } catch { throw LaunchError(description: "cannot run '\(command)': \(error)") }
        var pipe: [Int32] = [0, 0]
        guard ripcord_output_pipe(&pipe) == 0 else { throw LaunchError(description: "cannot run '\(command)': \(String(cString: strerror(errno)))") }
        let argv = arguments.map { strdup($0) } + [nil]
        let given = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            argv.forEach { free($0) }
            given.forEach { free($0) }
        }
        let envp = inheritedEnvironment(except: environment.keys) + given + [nil]
        let started = ContinuousClock.now
        var pid: pid_t = 0
        let spawned = ripcord_spawn_writing_to(&pid, executable, workingDirectory, pipe[1], argv, envp)
        close(pipe[1])
        guard spawned == 0 else {
            close(pipe[0])
            throw LaunchError(description: "cannot run '\(command)': \(String(cString: strerror(spawned)))")
        }
        let end = await watcher.ending(of: pid, output: pipe[0], deadline: started + timeout.duration)
        return Outcome(ending: ending(of: end), output: end.output, duration: TimeSpan(ContinuousClock.now - started))
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
