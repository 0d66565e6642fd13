/// Splits a text/event-stream into events (the WHATWG rules the routes stream needs: `event:` and
/// `data:` fields, comment lines, an empty line ends an event). Bytes come in arbitrary pieces.
struct ServerSentEventParser {
    struct Event: Equatable {
        var name: String
        var data: String
    }

    struct LineTooLong: Error, CustomStringConvertible {
        var description: String { "an event-stream line is longer than \(ServerSentEventParser.maxLineBytes) bytes" }
    }

    /// A routing table for thousands of services fits well inside; more is not a controller talking.
    static let maxLineBytes = 32 * 1024 * 1024

    private var line: [UInt8] = []
    private var name = ""
    private var data: [String] = []

    mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws -> [Event] {
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
            }
            return data.isEmpty ? nil : Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"))
        }
        guard line.first != UInt8(ascii: ":") else { return nil }
        let text = String(decoding: line, as: UTF8.self)
        let field = text.prefix { $0 != ":" }
        var value = text.dropFirst(field.count).dropFirst()
        if value.first == " " { value = value.dropFirst() }
        switch field {
        case "event": name = String(value)
        case "data": data.append(String(value))
        default: break
        }
        return nil
    }
}
