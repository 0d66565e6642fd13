import Foundation

/// JSON with sorted keys, so stored documents are stable and diffable. Shared by the state stores
/// (SQLite, PostgreSQL), so a document reads back the same from either.
public enum JSONCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
