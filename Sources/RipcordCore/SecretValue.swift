/// A configuration value that may be a secret kept outside the configuration: written as it is,
/// as `${ENV_NAME}` (an environment variable of `ripcord serve`) or as `{ file: PATH }`. A
/// reference is stored as written — revisions, the API and logs never see what it points to — and
/// resolved each time the value is used.
public enum SecretValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case literal(String)
    case environment(String)
    case file(String)

    /// A whole `${NAME}` (letters, digits, `_`; not starting with a digit), or nil.
    public static func environmentReference(in text: String) -> String? {
        guard text.hasPrefix("${"), text.hasSuffix("}") else { return nil }
        let name = text.dropFirst(2).dropLast()
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter),
            name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) })
        else { return nil }
        return String(name)
    }

    /// How the configuration wrote it; a literal is not repeated (it may be a secret).
    public var description: String {
        switch self {
        case .literal: "(literal value)"
        case let .environment(name): "${\(name)}"
        case let .file(path): "{ file: \(path) }"
        }
    }

    private enum CodingKeys: String, CodingKey { case file }

    /// A literal or `${NAME}` as a string (what revisions stored before references existed), a file as `{"file": PATH}`.
    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self = Self.environmentReference(in: text).map(Self.environment) ?? .literal(text)
        } else {
            self = .file(try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .file))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case let .literal(text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case let .environment(name):
            var container = encoder.singleValueContainer()
            try container.encode("${\(name)}")
        case let .file(path):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(path, forKey: .file)
        }
    }
}

extension String {
    /// The text of a secret file: without the line break an editor or `echo` puts at its end.
    public var droppingFinalLineBreak: String {
        hasSuffix("\r\n") ? String(dropLast(2)) : hasSuffix("\n") ? String(dropLast()) : self
    }
}

/// How a PostgreSQL connection uses TLS, with libpq's names and meanings.
public enum PostgresSSLMode: String, Sendable, Codable, CaseIterable {
    /// Plaintext only.
    case disable
    /// TLS when the server offers it, else plaintext; the certificate is not checked (libpq's default).
    case prefer
    /// TLS or no connection; the certificate is checked against `sslrootcert` only when one is given.
    case require
    /// TLS with a certificate signed by a trusted CA (`sslrootcert`, else the system's), any host name.
    case verifyCA = "verify-ca"
    /// TLS with a trusted certificate issued for the host connected to.
    case verifyFull = "verify-full"
}
