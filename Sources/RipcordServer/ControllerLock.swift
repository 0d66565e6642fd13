import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// One controller per state directory, and a seamless hand-over between two of them.
///
/// `serve` holds an exclusive `flock` on `serve.lock` while its controller runs. A restarted `serve`
/// waits for it (the old one lets go as soon as its controller has stopped, after SIGTERM), binds the
/// same front doors beside the old router (SO_REUSEPORT), publishes routes, and then writes
/// "PID serving" into the file; the old process, still serving its last routes, reads that and only
/// then closes its doors and drains. So a restart refuses no connection and fails no request.
public final class ControllerLock: Sendable {
    public struct Busy: Error, CustomStringConvertible {
        public let path: String
        public let holder: String
        public var description: String {
            "another ripcord serve (\(holder)) runs with this state directory (\(path) is locked); stop it first"
        }
    }

    public let path: String
    /// nil once released.
    private let descriptor: Mutex<Int32?>

    /// Takes the lock, waiting up to `wait` for a process that is stopping to let go.
    public static func acquire(stateDirectory: String, waitingUpTo wait: Duration) async throws -> ControllerLock {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = path(in: stateDirectory)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let deadline = ContinuousClock.now + wait
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard ContinuousClock.now < deadline else {
                let holder = Self.read(path) ?? "unknown process"
                close(descriptor)
                throw Busy(path: path, holder: holder)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let lock = ControllerLock(path: path, descriptor: descriptor)
        lock.write("\(getpid()) starting")
        return lock
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Tells a predecessor still serving its last routes that this process serves the doors now.
    public func markServing() {
        write("\(getpid()) serving")
    }

    /// Lets a successor start; the file keeps saying who wrote it last.
    public func release() {
        descriptor.withLock { held in
            guard let fd = held else { return }
            flock(fd, LOCK_UN)
            close(fd)
            held = nil
        }
    }

    /// Waits until another process has taken the lock and serves (or `limit` passes): whether it did.
    public static func waitForSuccessor(stateDirectory: String, upTo limit: Duration) async -> Bool {
        let path = path(in: stateDirectory)
        let deadline = ContinuousClock.now + limit
        let own = "\(getpid()) "
        while ContinuousClock.now < deadline {
            if let content = read(path), !content.hasPrefix(own), content.hasSuffix(" serving") { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    private func write(_ content: String) {
        descriptor.withLock { held in
            guard let fd = held else { return }
            _ = ftruncate(fd, 0)
            _ = content.withCString { pwrite(fd, $0, strlen($0), 0) }
        }
    }

    private static func path(in stateDirectory: String) -> String { "\(stateDirectory)/serve.lock" }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
