/// A refused request: nothing was changed. The kind says which 4xx answers it, the code is stable
/// and machine-readable, the message is for people. Every module that refuses requests (the
/// controller, the flag service) throws this one type, so the API maps one type to its errors.
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case notFound, conflict, invalid }
    public var kind: Kind
    public var code: String
    public var message: String
    /// Every problem of a refused flag document (empty for other refusals).
    public var problems: [FlagProblem]
    /// The request field at fault, when one is (answered as `error.field`).
    public var field: String?

    public init(_ kind: Kind, _ code: String, _ message: String, problems: [FlagProblem] = [], field: String? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.problems = problems
        self.field = field
    }

    public var description: String { "\(code): \(message)" }
}

/// One thing wrong with a flag document, located well enough to fix it.
public struct FlagProblem: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The flag at fault (nil: a segment or the document itself).
    public var flag: String?
    /// The segment at fault, by id.
    public var segment: Int?
    /// The field inside the flag, segment or document, e.g. `strategies[0].constraints[1].value`.
    public var field: String
    public var message: String

    public init(flag: String? = nil, segment: Int? = nil, field: String, message: String) {
        self.flag = flag
        self.segment = segment
        self.field = field
        self.message = message
    }

    public var description: String {
        let owner = flag.map { "flag '\($0)'" } ?? segment.map { "segment \($0)" } ?? "document"
        return "\(owner): \(field): \(message)"
    }
}
