import CRipcordSpawn
import Foundation
import Logging
import RipcordCore
#if canImport(Glibc)
    import Glibc
#endif

public struct DriverError: Error, CustomStringConvertible {
    public let message: String
    /// What the controller records with the failure (a start script's output, say).
    public let evidence: [String: String]
    public init(_ message: String, evidence: [String: String] = [:]) {
        self.message = message
        self.evidence = evidence
    }
    public var description: String { message }
}

/// Runs instances as local child processes. Each child gets its own session (so a Ctrl-C or a
/// `kill -9` of the controller does not take it down) and its output goes to a log file, so a
/// restarted controller can adopt instances that are still running.
public final class ProcessDriver: InstanceDriver {
    private let logDirectory: String
    private let logger: Logger
    /// Exit statuses of children we reaped, by pid.
    private let exits = ExitRegistry()

    public init(logDirectory: String, logger: Logger = Logger(label: "ripcord.driver")) {
        self.logDirectory = logDirectory
        self.logger = logger
    }

    public func start(_ planned: InstanceRecord, service: ServiceSpec) async throws -> InstanceRecord {
        let version = planned.version, port = planned.port
        let arguments = service.run.arguments(version: version, port: port)
        guard let program = arguments.first else { throw DriverError("the run command of \(service.name) is empty") }
        guard let executable = ExecutableSearch.resolve(program) else {
            throw DriverError("cannot find the program '\(program)' of \(service.name)'s run command in PATH")
        }
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let logPath = "\(logDirectory)/\(service.name)-\(version)-\(port).log"
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in service.run.environment { environment[key] = value }
        environment["RIPCORD_SERVICE"] = service.name
        environment["RIPCORD_VERSION"] = version.description
        environment["RIPCORD_PORT"] = String(port)
        environment[Self.instanceVariable] = planned.id
        let pid = try Self.spawn(
            executable: executable, arguments: arguments, environment: environment,
            workingDirectory: service.run.workingDirectory, logPath: logPath)
        logger.info("started instance", metadata: ["instance": "\(planned.id)", "port": "\(port)", "pid": "\(pid)"])
        var started = planned
        (started.host, started.pid, started.driver, started.starting) = ("127.0.0.1", pid, .process, false)
        return started
    }

    public func stop(_ instance: InstanceRecord, grace: TimeSpan) async {
        guard instance.pid > 0 else {
            // Started, perhaps, by a controller that died before saving the pid: the child carries its id.
            for pid in Self.processes(withEnvironment: "\(Self.instanceVariable)=\(instance.id)") {
                var found = instance
                (found.pid, found.starting) = (pid, false)
                await stop(found, grace: grace)
            }
            return
        }
        guard isRunning(instance) else { return }
        // The child leads its own process group: signal the group so a wrapper script's children go too.
        kill(-instance.pid, SIGTERM)
        kill(instance.pid, SIGTERM)
        let deadline = ContinuousClock.now + grace.duration
        while isRunning(instance), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if isRunning(instance) {
            kill(-instance.pid, SIGKILL)
            kill(instance.pid, SIGKILL)
        }
        logger.info("stopped instance", metadata: ["instance": "\(instance.id)"])
    }

    /// A record without a pid is never running: signal 0 to pid 0 would ask about our own process group.
    public func isRunning(_ instance: InstanceRecord) -> Bool {
        instance.pid > 0 && exitStatus(of: instance) == nil && kill(instance.pid, 0) == 0
    }

    /// Asked one after the other: each answer is a system call, not worth a task.
    public func running(_ instances: [InstanceRecord]) async -> [InstanceRecord] {
        instances.filter(isRunning)
    }

    /// The exit status if the instance was our child and has exited (reaps it).
    public func exitStatus(of instance: InstanceRecord) -> String? {
        guard instance.pid > 0 else { return nil }
        if let status = exits.status(of: instance.pid) { return status }
        var status: Int32 = 0
        let result = waitpid(instance.pid, &status, WNOHANG)
        guard result == instance.pid else { return nil }
        let description: String
        if status & 0x7f == 0 {
            description = "exited with status \((status >> 8) & 0xff)"
        } else {
            description = "killed by signal \(status & 0x7f)"
        }
        exits.record(pid: instance.pid, status: description)
        return description
    }

    /// The variable naming the instance in its environment (and its children's).
    static let instanceVariable = "RIPCORD_INSTANCE"

    /// Processes whose environment holds `entry` ("NAME=value"), from /proc; none where there is no /proc.
    public static func processes(withEnvironment entry: String) -> [pid_t] {
        let wanted = Array(entry.utf8)
        let own = getpid()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { pid_t($0) }.filter { pid in
            guard pid != own, let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return environment.split(separator: 0).contains { $0.elementsEqual(wanted) }
        }
    }

    private static func spawn(
        executable: String, arguments: [String], environment: [String: String],
        workingDirectory: String?, logPath: String
    ) throws -> pid_t {
        if let workingDirectory, !FileManager.default.fileExists(atPath: workingDirectory) {
            throw DriverError("working directory \(workingDirectory) does not exist")
        }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = ripcord_spawn(&pid, executable, workingDirectory, logPath, argv, envp)
        guard result == 0 else {
            throw DriverError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }
}

/// Finds a program the way a shell would: a path as given, a bare name in PATH.
public enum ExecutableSearch {
    public static func resolve(_ program: String, relativeTo directory: String? = nil) -> String? {
        if program.contains("/") {
            let path = if let directory, !program.hasPrefix("/") { "\(directory)/\(program)" } else { program }
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Exit statuses survive the reaping `waitpid` so every later caller sees them.
private final class ExitRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var statuses: [pid_t: String] = [:]

    func record(pid: pid_t, status: String) {
        lock.withLock { statuses[pid] = status }
    }

    func status(of pid: pid_t) -> String? {
        lock.withLock { statuses[pid] }
    }
}
