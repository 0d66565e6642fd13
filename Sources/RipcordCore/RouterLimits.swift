import Foundation

/// How long the router waits for clients and how much it takes from each front door: what keeps a
/// slow, idle or flooding client from holding the process (ripcord.yaml's `router:`).
public struct RouterLimits: Sendable, Equatable, Codable {
    /// Time to receive a whole request head, from its first byte: slowloris connections are closed (408).
    public var headerTimeout: TimeSpan = .seconds(60)
    /// Time a keep-alive connection may wait for its next request.
    public var idleTimeout: TimeSpan = .seconds(75)
    /// Longest silence between two reads of a request body (408, or the exchange is cut).
    public var bodyTimeout: TimeSpan = .seconds(60)
    /// Client connections one front door holds at once; beyond it a new one gets 503 and is closed.
    public var maxConnections = 10_000
    /// Largest request body (413 beyond). Bodies are streamed to the backend, not held whole.
    public var maxBodyBytes = 64 * 1024 * 1024

    public init() {}

    public init(headerTimeout: TimeSpan, idleTimeout: TimeSpan, bodyTimeout: TimeSpan, maxConnections: Int, maxBodyBytes: Int) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = maxConnections
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Who serves the front doors (ripcord.yaml's `router.mode`).
public enum RouterMode: String, Sendable, Equatable, Codable, CaseIterable {
    /// `ripcord serve` binds them itself: one process, the default.
    case embedded
    /// Standalone `ripcord router` processes follow the controller's routing tables and report their
    /// measurements to it; `serve` binds no front door.
    case external
}

/// A size in bytes as written in configuration: `1048576`, `512KiB`, `64MiB`, `1GiB` (or kB, MB, GB).
public enum ByteSize {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let text: String
        public var description: String { "'\(text)' is not a size (use e.g. 65536, 512KiB, 64MiB, 1GiB)" }
    }

    public static func parse(_ text: String) throws -> Int {
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("kB", 1000), ("KB", 1000),
            ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        ]
        let (digits, multiplier) = units.first { text.hasSuffix($0.0) }.map { (text.dropLast($0.0.count), $0.1) } ?? (Substring(text), 1)
        guard let value = Int(digits.trimmingCharacters(in: .whitespaces)), value >= 0,
            case let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier), !overflow
        else { throw ParseError(text: text) }
        return bytes
    }
}
