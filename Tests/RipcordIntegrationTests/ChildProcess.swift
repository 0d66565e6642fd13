import CRipcordSpawn
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with posix_spawn (in a session of its own) and reaped with waitpid by the
/// test itself, with its output appended to a file.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let outputPath: String
    private var status: Int32?

    /// - Parameter environment: added to (or replacing in) the test process's environment.
    init(_ executable: String, _ arguments: [String], outputPath: String, environment: [String: String] = [:]) throws {
        self.outputPath = outputPath
        // The project's spawn: no descriptor of the test process leaks into the child (a script
        // another test is writing, held open by a long-lived child, would fail to exec with ETXTBSY),
        // default signal dispositions and mask (the test's threads block some signals).
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = ripcord_spawn(&pid, executable, nil, outputPath, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the child to exit (deadline in seconds) and returns its exit status (128+n for signal n).
    @discardableResult
    func wait(within seconds: Double = 30) async throws -> Int32 {
        if let status { return status }
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let status = exitStatusIfExited() { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        throw CancellationError()
    }

    /// The exit status once the child has exited, nil while it runs (never blocks).
    func exitStatusIfExited() -> Int32? {
        if let status { return status }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        return status
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Runs `ripcord ARGUMENTS` to completion and returns its exit status and output.
    static func runRipcord(_ arguments: [String]) async throws -> (Int32, String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ripcord-cli-\(UUID().uuidString).log").path
        let child = try ChildProcess(ripcordBinary, arguments, outputPath: log)
        let status = try await child.wait(within: 60)
        defer { try? FileManager.default.removeItem(atPath: log) }
        return (status, child.output)
    }
}
