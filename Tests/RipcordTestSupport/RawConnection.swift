import Foundation
import RipcordCore
#if canImport(Glibc)
    import Glibc
#endif

// MARK: Raw sockets: bytes exactly as written, for what a proper client would never send.

/// A blocking TCP connection on loopback that sends bytes as given and reads what comes back.
public final class RawConnection: @unchecked Sendable {
    private let descriptor: Int32

    public init(_ address: HostPort) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var peer = sockaddr_in()
        peer.sin_family = sa_family_t(AF_INET)
        peer.sin_port = in_port_t(UInt16(address.port).bigEndian)
        peer.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    deinit { close(descriptor) }

    public func send(_ text: String) { send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Everything that arrives until the peer closes or `seconds` pass; `closed` says which.
    public func receive(within seconds: Double) async -> (text: String, closed: Bool) {
        let descriptor = self.descriptor
        return await Task.detached {
            var received: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while Date() < deadline {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) > 0 else { continue }
                let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return (String(decoding: received, as: UTF8.self), true) }
                received += buffer[0..<n]
            }
            return (String(decoding: received, as: UTF8.self), false)
        }.value
    }

    /// Sends on a thread of its own (a blocking send must not hold one of Swift's few cooperative threads).
    public func sendInBackground(_ bytes: [UInt8]) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                self.send(bytes)
                done.resume()
            }
        }
    }
}
