/// A success or failure condition over a measurement, in the vocabulary users know from Argo
/// Rollouts: `result < 0.05`, `result >= 0.95 && result <= 1`, `!(result > 10) || result == 0`.
/// Operands are `result` and numbers; operators `< <= > >= == !=`, `&&`, `||`, `!`, parentheses.
public struct Condition: Sendable, Equatable, Codable, CustomStringConvertible {
    public let source: String
    private let expression: Expression

    indirect enum Expression: Sendable, Equatable {
        case comparison(Operand, String, Operand)
        case and(Expression, Expression)
        case or(Expression, Expression)
        case not(Expression)
    }

    enum Operand: Sendable, Equatable {
        case result
        case number(Double)
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public init(parsing source: String) throws {
        var parser = Parser(tokens: try Self.tokenize(source))
        let expression = try parser.parseOr()
        guard parser.atEnd else { throw ParseError(message: "unexpected '\(parser.peek ?? "")' in condition '\(source)'") }
        self.source = source
        self.expression = expression
    }

    public var description: String { source }

    public init(from decoder: any Decoder) throws {
        self = try decoder.singleValueContainer().decodeParsed(Self.init(parsing:))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(source)
    }

    public func evaluate(result: Double) -> Bool { Self.evaluate(expression, result) }

    private static func evaluate(_ expression: Expression, _ result: Double) -> Bool {
        switch expression {
        case let .comparison(left, op, right):
            let l = value(left, result), r = value(right, result)
            switch op {
            case "<": return l < r
            case "<=": return l <= r
            case ">": return l > r
            case ">=": return l >= r
            case "==": return l == r
            default: return l != r
            }
        case let .and(a, b): return evaluate(a, result) && evaluate(b, result)
        case let .or(a, b): return evaluate(a, result) || evaluate(b, result)
        case let .not(a): return !evaluate(a, result)
        }
    }

    private static func value(_ operand: Operand, _ result: Double) -> Double {
        switch operand {
        case .result: return result
        case let .number(number): return number
        }
    }

    static func tokenize(_ source: String) throws -> [String] {
        var tokens: [String] = []
        var index = source.startIndex
        while index < source.endIndex {
            let c = source[index]
            if c.isWhitespace {
                index = source.index(after: index)
            } else if "()".contains(c) {
                tokens.append(String(c))
                index = source.index(after: index)
            } else if "<>=!&|".contains(c) {
                let next = source.index(after: index)
                let pair = next < source.endIndex ? String(source[index...next]) : String(c)
                if ["<=", ">=", "==", "!=", "&&", "||"].contains(pair) {
                    tokens.append(pair)
                    index = source.index(after: next)
                } else if "<>!".contains(c) {
                    tokens.append(String(c))
                    index = next
                } else {
                    throw ParseError(message: "'\(c)' alone is not an operator in condition '\(source)' (use ==, &&, ||)")
                }
            } else if c.isNumber || c == "." || c == "-" {
                var end = source.index(after: index)
                while end < source.endIndex, source[end].isNumber || source[end] == "." || source[end] == "e" { end = source.index(after: end) }
                tokens.append(String(source[index..<end]))
                index = end
            } else if c.isLetter {
                var end = index
                while end < source.endIndex, source[end].isLetter { end = source.index(after: end) }
                tokens.append(String(source[index..<end]))
                index = end
            } else {
                throw ParseError(message: "unexpected '\(c)' in condition '\(source)'")
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [String]
        var position = 0
        var atEnd: Bool { position >= tokens.count }
        var peek: String? { atEnd ? nil : tokens[position] }

        mutating func take() -> String? {
            defer { position += 1 }
            return peek
        }

        mutating func parseOr() throws -> Expression {
            var left = try parseAnd()
            while peek == "||" {
                position += 1
                left = .or(left, try parseAnd())
            }
            return left
        }

        mutating func parseAnd() throws -> Expression {
            var left = try parseUnary()
            while peek == "&&" {
                position += 1
                left = .and(left, try parseUnary())
            }
            return left
        }

        mutating func parseUnary() throws -> Expression {
            if peek == "!" {
                position += 1
                return .not(try parseUnary())
            }
            if peek == "(" {
                position += 1
                let inner = try parseOr()
                guard take() == ")" else { throw ParseError(message: "missing ')'") }
                return inner
            }
            let left = try operand()
            guard let op = take(), ["<", "<=", ">", ">=", "==", "!="].contains(op) else {
                throw ParseError(message: "expected a comparison such as 'result < 0.05'")
            }
            return .comparison(left, op, try operand())
        }

        mutating func operand() throws -> Operand {
            guard let token = take() else { throw ParseError(message: "the condition ends too early") }
            if token == "result" { return .result }
            if let number = Double(token) { return .number(number) }
            throw ParseError(message: "'\(token)' is neither 'result' nor a number")
        }
    }
}
