/// A refused request, with a stable machine-readable code.
public struct ControllerError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notFound, conflict, invalid
    }

    public var kind: Kind
    public var code: String
    public var message: String

    public init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
