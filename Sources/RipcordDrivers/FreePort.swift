#if canImport(Glibc)
    import Glibc
#endif
import RipcordCore

/// Picks a free TCP port for an instance or a test server to listen on.
public enum FreePort {
    /// Ports handed out, below Linux's default ephemeral range (32768–60999): a port picked by binding
    /// port 0 comes from that range, and an outgoing connection may take it before the instance binds it.
    static let range = 20_000..<32_768

    public static func allocate(host: String = "127.0.0.1") throws -> Int {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: range, using: &generator)
            if (try? bind(host: host, port: port)) != nil { return port }
        }
        return try bind(host: host, port: 0)
    }

    /// Binds `port` (0: any) and returns the bound port, releasing it again.
    private static func bind(host: String, port: Int) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DriverError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw DriverError("cannot bind port \(port) to find a free port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension InstanceDriver {
    /// Local processes listen on a port the kernel says is free now.
    public func freePort() throws -> Int { try FreePort.allocate() }
}
