import Foundation

/// What a start script reports about the instance it started: lines `address=HOST:PORT` (required),
/// `pid=N` and `handle=TEXT` among any other output; the last line of each key counts.
public struct StartReport: Sendable, Equatable {
    public var address: HostPort
    public var pid: Int32?
    public var handle: String?

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public init(address: HostPort, pid: Int32? = nil, handle: String? = nil) {
        self.address = address
        self.pid = pid
        self.handle = handle
    }

    public init(parsing output: String) throws {
        var values: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard let equals = text.firstIndex(of: "=") else { continue }
            let key = String(text[..<equals])
            if ["address", "pid", "handle"].contains(key) { values[key] = String(text[text.index(after: equals)...]) }
        }
        guard let addressText = values["address"] else {
            throw ParseError(description: "printed no line address=HOST:PORT")
        }
        guard let address = try? HostPort(parsing: addressText) else {
            throw ParseError(description: "printed address=\(addressText), which is not HOST:PORT")
        }
        var pid: Int32?
        if let pidText = values["pid"] {
            guard let number = Int32(pidText), number > 0 else { throw ParseError(description: "printed pid=\(pidText), which is not a process id") }
            pid = number
        }
        let handle = values["handle"].flatMap { $0.isEmpty ? nil : $0 }
        self.init(address: address, pid: pid, handle: handle)
    }
}

/// Script output kept as evidence must not carry secrets the script could see: the values of
/// environment variables whose names say they are secret are blanked out.
public enum SecretRedaction {
    static let secretNameParts = ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE"]

    public static func isSecret(name: String) -> Bool {
        let upper = name.uppercased()
        return upper.hasSuffix("KEY") || secretNameParts.contains { upper.contains($0) }
    }

    public static func redact(_ text: String, environment: [String: String]) -> String {
        // Longest first, so a secret containing another is blanked whole; very short values would blank ordinary words.
        let secrets = environment.filter { isSecret(name: $0.key) && $0.value.count >= 4 }.map(\.value).sorted { $0.count > $1.count }
        return secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "[redacted]") }
    }
}
