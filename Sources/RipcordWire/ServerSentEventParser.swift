/// Splits a text/event-stream into events (the WHATWG rules Ripcord's streams need: `event:`, `id:` and
/// `data:` fields, comment lines, an empty line ends an event). Bytes come in arbitrary pieces.
public struct ServerSentEventParser: Sendable {
    public struct Event: Equatable, Sendable {
        public var name: String
        public var data: String
        /// The event's `id:`, which a reconnecting client sends back as `Last-Event-ID`.
        public var id: String?

        public init(name: String, data: String, id: String? = nil) {
            self.name = name
            self.data = data
            self.id = id
        }
    }

    public struct LineTooLong: Error, CustomStringConvertible {
        public var description: String { "an event-stream line is longer than \(ServerSentEventParser.maxLineBytes) bytes" }
    }

    /// A routing table for thousands of services fits well inside; more is not a controller talking.
    public static let maxLineBytes = 32 * 1024 * 1024

    private var line: [UInt8] = []
    private var name = ""
    private var data: [String] = []
    private var id: String?

    public init() {}

    public mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws -> [Event] {
        var events: [Event] = []
        var rest = bytes[...]
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            line.append(contentsOf: rest[..<newline])
            rest = rest[rest.index(after: newline)...]
            guard line.count <= Self.maxLineBytes else { throw LineTooLong() }
            if let event = endLine() { events.append(event) }
        }
        line.append(contentsOf: rest)
        guard line.count <= Self.maxLineBytes else { throw LineTooLong() }
        return events
    }

    /// Handles the complete line in `line`; returns the event an empty line ends.
    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.isEmpty {
            defer {
                name = ""
                data = []
                id = nil
            }
            return data.isEmpty ? nil : Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"), id: id)
        }
        guard line.first != UInt8(ascii: ":") else { return nil }
        let text = String(decoding: line, as: UTF8.self)
        let field = text.prefix { $0 != ":" }
        var value = text.dropFirst(field.count).dropFirst()
        if value.first == " " { value = value.dropFirst() }
        switch field {
        case "event": name = String(value)
        case "data": data.append(String(value))
        case "id": id = String(value)
        default: break
        }
        return nil
    }
}
