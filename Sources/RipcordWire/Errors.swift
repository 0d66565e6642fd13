import RipcordCore

/// Every API failure's body: `{"error": {"code", "message", "field"?, "problems"?}}` with a 4xx/5xx status.
public struct ErrorEnvelope: Codable, Equatable, Sendable {
    public var error: ErrorBody

    public init(error: ErrorBody) { self.error = error }
}

public struct ErrorBody: Codable, Equatable, Sendable {
    /// Stable and machine-readable (`unknown_service`, `invalid_request` …); the message is for people.
    public var code: String
    public var message: String
    /// For a refused flag document: every problem, by flag and field.
    public var problems: [FlagProblem]?
    /// The request field at fault, for input errors: a body path (`manifest.services[0].version`),
    /// a path parameter or a query parameter.
    public var field: String?

    public init(code: String, message: String, problems: [FlagProblem]? = nil, field: String? = nil) {
        self.code = code
        self.message = message
        self.problems = problems
        self.field = field
    }
}
