import RipcordCore
import Yams

/// A YAML node with the path that led to it, for error messages.
struct Located {
    let node: Node
    let path: String
    let file: String

    var line: Int { node.mark?.line ?? 1 }
    var column: Int { node.mark?.column ?? 1 }

    func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, column: column, key: path, message: message)
    }

    func child(_ node: Node, key: String) -> Located {
        Located(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    func element(_ node: Node, index: Int) -> Located {
        Located(node: node, path: "\(path)[\(index)]", file: file)
    }

    func string() throws -> String {
        guard case let .scalar(scalar) = node else { throw error("expected a text value") }
        return scalar.string
    }

    func int(in range: ClosedRange<Int>) throws -> Int {
        guard case let .scalar(scalar) = node, let value = Int(scalar.string) else { throw error("expected a whole number") }
        guard range.contains(value) else { throw error("\(value) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return value
    }

    func httpURL() throws -> String {
        let url = try string()
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw error("the url must start with http:// or https://") }
        return url
    }

    func bool() throws -> Bool {
        switch try string() {
        case "true": return true
        case "false": return false
        case let other: throw error("'\(other)' is not true or false")
        }
    }

    func timeSpan() throws -> TimeSpan {
        do { return try TimeSpan(parsing: try string()) } catch let parseError as TimeSpan.ParseError {
            throw error(parseError.description)
        }
    }

    func byteSize() throws -> Int {
        do { return try ByteSize.parse(try string()) } catch let parseError as ByteSize.ParseError {
            throw error(parseError.description)
        }
    }

    func hostPort() throws -> HostPort {
        do { return try HostPort(parsing: try string()) } catch let parseError as HostPort.ParseError {
            throw error(parseError.description)
        }
    }

    /// A ratio written as 0.05 or "5%".
    func ratio() throws -> Double {
        let text = try string()
        let value = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
        guard let value, (0...1).contains(value) else { throw error("'\(text)' is not a ratio between 0 and 1 (or a percentage like 5%)") }
        return value
    }

    func mapping() throws -> MappingReader { try MappingReader(self) }

    /// A mapping of names to text values (environment variables, headers).
    func stringMap() throws -> [String: String] {
        try Dictionary(uniqueKeysWithValues: mapping().namedEntries().map { ($0.name, try $0.value.string()) })
    }

    func sequence() throws -> [Located] {
        guard case let .sequence(sequence) = node else { throw error("expected a list") }
        return sequence.enumerated().map { element($0.element, index: $0.offset) }
    }
}

/// Reads a YAML mapping key by key and rejects keys nobody asked for.
final class MappingReader {
    let location: Located
    private var entries: [(key: String, keyNode: Node, value: Node)] = []
    private var consumed: Set<String> = []

    init(_ location: Located) throws {
        self.location = location
        if case let .scalar(scalar) = location.node, scalar.string.isEmpty || scalar.tag.description.hasSuffix("null") {
            return  // `key:` with nothing after it: an empty mapping
        }
        guard case let .mapping(mapping) = location.node else { throw location.error("expected a mapping of keys to values") }
        for (keyNode, value) in mapping {
            guard case let .scalar(scalar) = keyNode else {
                throw location.error("keys must be plain text")
            }
            if entries.contains(where: { $0.key == scalar.string }) {
                throw location.child(keyNode, key: scalar.string).error("duplicate key")
            }
            entries.append((scalar.string, keyNode, value))
        }
    }

    var keys: [String] { entries.map(\.key) }

    func value(_ key: String) -> Located? {
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        consumed.insert(key)
        return location.child(entry.value, key: key)
    }

    func optional<T>(_ key: String, _ read: (Located) throws -> T) throws -> T? {
        guard let located = value(key) else { return nil }
        return try read(located)
    }

    func required<T>(_ key: String, _ read: (Located) throws -> T) throws -> T {
        guard let located = value(key) else {
            throw location.error("missing required key '\(key)'")
        }
        return try read(located)
    }

    /// Every key must have been read; an unknown one is an error, never silently ignored.
    func finish(allowed: [String]) throws {
        for entry in entries where !consumed.contains(entry.key) {
            throw location.child(entry.keyNode, key: entry.key)
                .error("unknown key '\(entry.key)' (expected one of: \(allowed.joined(separator: ", ")))")
        }
    }

    /// Reads the mapping's entries in order, each as a named child.
    func namedEntries() -> [(name: String, value: Located)] {
        entries.map { entry in
            consumed.insert(entry.key)
            return (entry.key, location.child(entry.value, key: entry.key))
        }
    }
}
