extension SingleValueDecodingContainer {
    /// Decodes a string and parses it. A parse failure becomes a `DecodingError` at this value's
    /// coding path, so an API answers 400 naming the field instead of an internal error.
    public func decodeParsed<T>(_ parse: (String) throws -> T) throws -> T {
        let text = try decode(String.self)
        do { return try parse(text) } catch { throw DecodingError.dataCorruptedError(in: self, debugDescription: "\(error)") }
    }
}
