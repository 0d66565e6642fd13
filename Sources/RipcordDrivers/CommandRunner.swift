import CRipcordSpawn
import Foundation
import RipcordCore
#if canImport(Glibc)
    import Glibc
#endif

/// Runs a short-lived command — a metric, a lifecycle hook — split like a shell would (not through a
/// shell), in its own session with its output in a temporary file, and kills its whole process group
/// when it outlives its timeout or the calling task is cancelled.
public enum CommandRunner {
    public struct Outcome: Sendable, Equatable {
        public enum Ending: Sendable, Equatable {
            case exited(Int32)
            case signalled(Int32)
            case timedOut
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
        let outputPath = NSTemporaryDirectory() + "ripcord-command-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let variables = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let started = ContinuousClock.now
        var pid: pid_t = 0
        let spawned = ripcord_spawn(&pid, executable, workingDirectory, outputPath, argv, envp)
        guard spawned == 0 else { throw LaunchError(description: "cannot run '\(command)': \(String(cString: strerror(spawned)))") }
        let deadline = started + timeout.duration
        var status: Int32 = 0
        var ending: Outcome.Ending?
        while waitpid(pid, &status, WNOHANG) != pid {
            guard ContinuousClock.now < deadline, !Task.isCancelled else {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                ending = .timedOut
                break
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let duration = TimeSpan(ContinuousClock.now - started)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Outcome(
            ending: ending ?? (status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)),
            output: String(text.suffix(16_384)), duration: duration)
    }
}
