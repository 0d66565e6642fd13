import CRipcordSpawn
import Foundation
import RipcordCore
#if canImport(Glibc)
    import Glibc
#endif

/// haproxy or nginx running in a scratch directory on configuration Ripcord rendered, as any user
/// can run it (pid file, logs and temporary files inside the directory): for the tests, the
/// benchmarks and trying a traffic manager out. `traffic` is the matching `traffic:` setting.
public final class LocalLoadBalancer: Sendable {
    public let kind: TrafficManagers.Kind
    public let directory: String
    public let traffic: TrafficSpec
    private let pid: pid_t
    private let probe: @Sendable () async -> Bool

    public static let searchPath = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]

    /// Where the load balancer's program is, or nil when it is not installed.
    public static func executable(_ kind: TrafficManagers.Kind) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + searchPath
        return path.map { "\($0)/\(kind.rawValue)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Renders the configuration for `services` into `directory`, starts the load balancer and waits until it serves.
    public init(_ kind: TrafficManagers.Kind, services: [TrafficService], directory: String) async throws {
        guard let executable = Self.executable(kind) else { throw TrafficManagerError("\(kind.rawValue) is not installed") }
        self.kind = kind
        self.directory = directory
        let arguments: [String]
        switch kind {
        case .haproxy:
            let spec = HAProxySpec(socket: "\(directory)/admin.sock")
            try HAProxyConfigRenderer.render(services: services, spec: spec).write(toFile: "\(directory)/haproxy.cfg", atomically: true, encoding: .utf8)
            arguments = ["-db", "-f", "\(directory)/haproxy.cfg"]
            traffic = .haproxy(spec)
            let client = HAProxyRuntimeClient(socketPath: spec.socket)
            probe = { (try? await client.query("show info")) != nil }
        case .nginx:
            let common = ["-p", "\(directory)/", "-c", "\(directory)/nginx.conf", "-e", "\(directory)/error.log"]
            let spec = NginxSpec(
                configFile: "\(directory)/ripcord-upstreams.conf",
                reload: ([executable] + common + ["-s", "reload"]).joined(separator: " "), accessLog: "\(directory)/access.log")
            try FileManager.default.createDirectory(atPath: "\(directory)/temp", withIntermediateDirectories: true)
            try Self.nginxMainConfiguration(directory: directory, include: spec.configFile)
                .write(toFile: "\(directory)/nginx.conf", atomically: true, encoding: .utf8)
            try NginxConfigRenderer.render(services: services, accessLog: spec.accessLog)
                .write(toFile: spec.configFile, atomically: true, encoding: .utf8)
            arguments = common
            traffic = .nginx(spec)
            let door = services.first?.listen
            probe = {
                guard let door else { return true }
                return (try? await NginxTrafficManager.servedGeneration(door: door)) != nil
            }
        }
        pid = try Self.spawn(executable, arguments, log: "\(directory)/\(kind.rawValue).out")
        // Generous: on a machine busy with other tests a first start can take seconds.
        let deadline = ContinuousClock.now + .seconds(30)
        while await !probe() {
            let exited = hasExited
            guard ContinuousClock.now < deadline, kill(pid, 0) == 0, !exited else {
                let why = exited ? "it exited" : ContinuousClock.now >= deadline ? "no answer within 30 s" : "it is gone"
                await stop()
                throw TrafficManagerError("\(kind.rawValue) did not start (\(why)): \(output.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// What the load balancer printed (and, for nginx, its error log).
    public var output: String {
        ["\(kind.rawValue).out", "error.log"].compactMap { try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }.joined(separator: "\n")
    }

    private var hasExited: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid
    }

    /// Stops the load balancer (its workers with it) and waits for it to exit.
    public func stop() async {
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if ContinuousClock.now > deadline { kill(-pid, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// nginx as any user: its own pid, error log and temporary paths; worker processes run as the
    /// user that starts it (as root, nginx would otherwise switch them to an unprivileged user).
    static func nginxMainConfiguration(directory: String, include: String) -> String {
        let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "root"
        let temp = "\(directory)/temp"
        return """
            daemon off;
            worker_processes 2;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log notice;
            \(geteuid() == 0 ? "user \(user);" : "")
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(temp)/client_body;
                proxy_temp_path \(temp)/proxy;
                fastcgi_temp_path \(temp)/fastcgi;
                uwsgi_temp_path \(temp)/uwsgi;
                scgi_temp_path \(temp)/scgi;
                include \(include);
            }
            """
    }

    private static func spawn(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = ripcord_spawn(&pid, executable, nil, log, argv, envp)
        guard result == 0 else { throw TrafficManagerError("cannot start \(executable): \(String(cString: strerror(result)))") }
        return pid
    }
}
