import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Sends commands to HAProxy's runtime API over its admin unix socket, one connection per batch
/// (HAProxy answers a line of `;`-separated commands, then closes). The blocking socket calls run
/// on a queue of their own, never on the caller's task.
struct HAProxyRuntimeClient: Sendable {
    let socketPath: String
    private static let queue = DispatchQueue(label: "ripcord.haproxy-runtime")

    /// Runs `commands` in one batch and returns each command's answer, in order.
    func run(_ commands: [String]) async throws -> [String] {
        HAProxyRuntimeOutput.answers(try await send(commands.joined(separator: "; ")))
    }

    /// One command whose answer is a table (`show stat`, `show servers state`).
    func query(_ command: String) async throws -> String { try await send(command) }

    private func send(_ line: String) async throws -> String {
        let path = socketPath
        return try await withCheckedThrowingContinuation { continuation in
            Self.queue.async { continuation.resume(with: Result { try Self.exchange(line + "\n", path: path) }) }
        }
    }

    private static func exchange(_ request: String, path: String) throws -> String {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw failure("cannot open a socket", path: path) }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw failure("the socket path is too long", path: path) }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
            buffer[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw failure("cannot connect", path: path) }
        var bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + sent, $0.count - sent) }
            guard written > 0 else { throw failure("cannot send the command", path: path) }
            sent += written
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count == 0 { break }
            guard count > 0 else { throw failure("no complete answer", path: path) }
            answer += buffer[0..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    private static func failure(_ what: String, path: String) -> TrafficManagerError {
        TrafficManagerError("HAProxy admin socket \(path): \(what) (\(String(cString: strerror(errno))))")
    }
}
