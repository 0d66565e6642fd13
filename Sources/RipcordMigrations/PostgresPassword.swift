import Foundation
import PostgresNIO
import RipcordCore

/// Where a PostgreSQL password and TLS settings come from, the way libpq (psql, pg_dump) finds them,
/// so one setup serves both. Passwords are never passed on a command line or written anywhere.
enum PostgresPassword {
    /// A `passwordFile:`: its text without the final line break.
    static func read(passwordFile path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw MigrationError.badOption("cannot read the password file \(path)")
        }
        return text.droppingFinalLineBreak
    }

    /// The first matching line of `PGPASSFILE` (else `~/.pgpass`), or nil when there is no such file
    /// or no line matches. Like libpq, a file others may read is not used; unlike libpq, that is an
    /// error rather than a warning, so a connection does not fail later for a reason nobody sees.
    static func fromPassFile(environment: [String: String], host: String, port: Int, database: String, user: String) throws -> String? {
        let path = environment["PGPASSFILE"] ?? "\(environment["HOME"] ?? NSHomeDirectory())/.pgpass"
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        guard status.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            throw MigrationError.badOption("the password file \(path) has group or world access; it must be u=rw (0600) or less: chmod 0600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw MigrationError.badOption("cannot read the password file \(path)") }
        return passFileMatch(String(decoding: data, as: UTF8.self), host: host, port: port, database: database, user: user)
    }

    /// The password of the first `hostname:port:database:username:password` line that matches
    /// (`*` matches anything; `\:` and `\\` escape; `#` starts a comment line).
    static func passFileMatch(_ text: String, host: String, port: Int, database: String, user: String) -> String? {
        let wanted = [host, String(port), database, user]
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let fields = passFileFields(line.hasSuffix("\r") ? line.dropLast() : line)
            guard fields.count == 5 else { continue }
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A line split at unescaped colons into at most five fields, escapes removed.
    private static func passFileFields(_ line: Substring) -> [String] {
        var fields: [String] = []
        var field = ""
        var escaped = false
        for character in line {
            if escaped {
                field.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append(field)
                field = ""
            } else {
                field.append(character)
            }
        }
        fields.append(field)
        return fields
    }

    /// postgres-nio's TLS for one connection: `require` and stronger never fall back to plaintext.
    static func tls(_ mode: PostgresSSLMode, rootCertificate: String?) throws -> PostgresConnection.Configuration.TLS {
        guard let settings = try tlsSettings(mode, rootCertificate: rootCertificate) else { return .disable }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: settings) } catch {
            throw MigrationError.badOption("cannot use the TLS settings (sslrootcert \(rootCertificate ?? "none")): \(error)")
        }
        return mode == .prefer ? .prefer(context) : .require(context)
    }

    /// The same for postgres-nio's pool (`PostgresClient`), which makes its connections' contexts from the settings.
    static func clientTLS(_ mode: PostgresSSLMode, rootCertificate: String?) throws -> PostgresClient.Configuration.TLS {
        guard let settings = try tlsSettings(mode, rootCertificate: rootCertificate) else { return .disable }
        return mode == .prefer ? .prefer(settings) : .require(settings)
    }

    /// The TLS settings of an sslmode as libpq reads it (nil: plaintext).
    private static func tlsSettings(_ mode: PostgresSSLMode, rootCertificate: String?) throws -> TLSConfiguration? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable: return nil
        // As libpq: with a CA file, `require` checks the certificate too (but not the host name).
        case .prefer, .require: tls.certificateVerification = rootCertificate == nil ? .none : .noHostnameVerification
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let rootCertificate {
            guard FileManager.default.isReadableFile(atPath: rootCertificate) else {
                throw MigrationError.badOption("cannot read the sslrootcert file \(rootCertificate)")
            }
            tls.trustRoots = .file(rootCertificate)
        }
        return tls
    }
}
