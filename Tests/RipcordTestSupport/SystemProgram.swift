import Foundation

/// The programs tests run (PostgreSQL, sqlite3, openssl, Prometheus, chromium, ...), found on this
/// machine rather than at one distribution's paths; a missing one names the Debian package to install.
public enum SystemProgram {
    /// Folders with administrators' programs that a non-root user's `PATH` often lacks (runuser, nginx).
    static let systemFolders = ["/usr/local/sbin", "/usr/sbin", "/sbin"]

    /// The absolute path of `name`: the first executable in `PATH`, then in `folders`, then in the
    /// system folders; nil when there is none.
    public static func find(_ name: String, in folders: [String] = []) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let candidates = path.split(separator: ":").map(String.init) + folders + systemFolders
        return candidates.lazy.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The absolute path of `name`, or an error naming `package`, the Debian package that provides it.
    public static func require(_ name: String, package: String, in folders: [String] = []) throws -> String {
        guard let found = find(name, in: folders) else { throw Missing(program: name, package: package) }
        return found
    }

    /// A PostgreSQL server program (initdb, pg_ctl, postgres): from `PATH`, else from `pg_config --bindir`
    /// (Debian keeps them in a versioned folder outside `PATH`).
    public static func postgres(_ name: String) throws -> String {
        try require(name, package: "postgresql", in: postgresBinaries.map { [$0] } ?? [])
    }

    /// What `pg_config --bindir` prints, when pg_config is installed.
    static let postgresBinaries: String? = {
        guard let pgConfig = find("pg_config") else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: pgConfig)
        process.arguments = ["--bindir"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let folder = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !folder.isEmpty ? folder : nil
    }()

    /// A program the tests need is not installed.
    public struct Missing: Error, CustomStringConvertible {
        public let program: String
        public let package: String
        public var description: String {
            "\(program) not found in PATH: install the Debian package \(package) (scripts/test.sh does)"
        }
    }
}

/// A new folder of its own, named after `label`, in this test process's folder (`TestFolders`).
public func temporaryDirectory(_ label: String) throws -> String {
    let path = temporaryPath(label)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A path of its own, named after `label`, in this test process's folder; nothing is created there.
public func temporaryPath(_ label: String) -> String {
    "\(TestFolders.ofThisProcess)/\(label)-\(UUID().uuidString.prefix(8))"
}

/// Each test process keeps its files in one folder under the system's temporary folder, named after
/// its pid; the first use removes the folders of test processes that have ended. So runs do not pile
/// up (about 430 folders and 150 MB a run), and a failed run's files stay to read until the next.
enum TestFolders {
    private static let prefix = "ripcord-tests-"

    static let ofThisProcess: String = {
        let root = FileManager.default.temporaryDirectory.path
        let mine = "\(root)/\(prefix)\(getpid())"
        try? FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        // Before the first test's folder, once: a whole run's files go in about 0.3 s.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: "\(root)/\(name)")
        }
        return mine
    }()
}
