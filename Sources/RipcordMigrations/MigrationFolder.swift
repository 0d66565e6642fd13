import Crypto
import Foundation

/// A migration script read from the folder, with what its name and header say about it.
public struct MigrationScript: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case apply = "V", undo = "U", repeatable = "R"
    }

    public let fileName: String
    public let kind: Kind
    /// `nil` for a repeatable script.
    public let version: MigrationVersion?
    public let description: String
    public let sql: String
    public let checksum: String
    /// Declared with `-- ripcord:nontransactional`: runs outside a transaction, one statement only.
    public let isTransactional: Bool
    /// Lint rules this script's header (`-- ripcord:allow RULE …`) accepts for its migration.
    public let allowedRules: Set<LintRule>

    /// SHA-256 of the script's text: what the history table remembers to detect later edits.
    public static func checksum(of sql: String) -> String {
        SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// A script that is not a migration of its own: a verify script or a callback, run as it is.
public struct AuxiliaryScript: Sendable, Equatable {
    public let fileName: String
    public let sql: String
}

/// Flyway's SQL callbacks that Ripcord runs, named `<event>.sql` or `<event>__<description>.sql`.
/// The `…Each…` ones run inside each script's transaction (beside it, for a non-transactional one).
public enum CallbackEvent: String, CaseIterable, Sendable {
    case beforeMigrate, beforeEachMigrate, afterEachMigrate, afterEachMigrateError, afterMigrate, afterMigrateApplied, afterMigrateError
    case beforeUndo, beforeEachUndo, afterEachUndo, afterEachUndoError, afterUndo, afterUndoError
    case beforeBaseline, afterBaseline, beforeRepair, afterRepair
}

/// One versioned migration: its apply script and, if the folder has them, its undo and verify scripts.
public struct Migration: Sendable, Equatable {
    public let apply: MigrationScript
    public let undo: MigrationScript?
    /// `V<version>__<description>.verify.sql`: checks the migration worked, in its transaction (a failure undoes it).
    public var verify: AuxiliaryScript?

    public var version: MigrationVersion { apply.version! }
    /// Rules either script's header accepts: the override is per migration.
    public var allowedRules: Set<LintRule> { apply.allowedRules.union(undo?.allowedRules ?? []) }
}

/// The migration folder: `V<version>__<description>.sql` (apply), `U<version>__<description>.sql`
/// (undo), `R__<description>.sql` (repeatable), as Flyway names them, `V…__….verify.sql` (verify,
/// as sqitch has them) and Flyway's callbacks (`beforeMigrate.sql`, …). Other files are ignored,
/// except `.sql` files whose name fits none of these, which are errors.
public struct MigrationFolder: Sendable {
    public let path: String
    /// Sorted by version.
    public let migrations: [Migration]
    /// Sorted by file name.
    public let repeatables: [MigrationScript]
    /// Each event's callbacks, sorted by file name.
    public let callbacks: [CallbackEvent: [AuxiliaryScript]]

    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MigrationError.badFile(file: path, line: nil, message: "the migration folder does not exist")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".sql") }.sorted()
        var files: [(name: String, sql: String)] = []
        for name in names {
            let url = URL(fileURLWithPath: path).appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw MigrationError.badFile(file: name, line: nil, message: "cannot be read as UTF-8 text")
            }
            // A CRLF checkout is the same script: its checksum, run and stored text are those of the LF file.
            files.append((name, text.replacingOccurrences(of: "\r\n", with: "\n")))
        }
        try self.init(path: path, files: files)
    }

    /// A folder whose files are given rather than read (Ripcord's own state schema, compiled in);
    /// `path` names it in messages. Files are named as in a folder on disk.
    public init(path: String, files: [(name: String, sql: String)]) throws {
        self.path = path
        let texts = Dictionary(files.map { ($0.name, $0.sql) }, uniquingKeysWith: { first, _ in first })
        let names = texts.keys.filter { $0.hasSuffix(".sql") }.sorted()
        func read(_ name: String) throws -> String { texts[name]! }
        var callbacks: [CallbackEvent: [AuxiliaryScript]] = [:]
        var verifies: [String: AuxiliaryScript] = [:]
        var scripts: [MigrationScript] = []
        for name in names {
            if let event = try Self.callbackEvent(fileName: name) {
                callbacks[event, default: []].append(AuxiliaryScript(fileName: name, sql: try read(name)))
            } else if name.hasSuffix(".verify.sql") {
                verifies[String(name.dropLast(".verify.sql".count)) + ".sql"] = AuxiliaryScript(fileName: name, sql: try read(name))
            } else {
                scripts.append(try Self.script(fileName: name, sql: try read(name)))
            }
        }
        for (applyName, verify) in verifies where !scripts.contains(where: { $0.fileName == applyName && $0.kind == .apply }) {
            throw MigrationError.badFile(file: verify.fileName, line: nil, message: "verifies \(applyName), which is not in the folder")
        }
        self.callbacks = callbacks
        var applies: [MigrationVersion: MigrationScript] = [:]
        var undos: [MigrationVersion: MigrationScript] = [:]
        for script in scripts {
            guard let version = script.version else { continue }
            let existing = script.kind == .apply ? applies[version] : undos[version]
            if let existing {
                throw MigrationError.badFile(
                    file: script.fileName, line: nil,
                    message: "version \(version) is also used by \(existing.fileName)")
            }
            if script.kind == .apply { applies[version] = script } else { undos[version] = script }
        }
        for (version, undo) in undos where applies[version] == nil {
            throw MigrationError.badFile(file: undo.fileName, line: nil, message: "undoes version \(version), but there is no V\(version)__….sql")
        }
        migrations = applies.keys.sorted().map { Migration(apply: applies[$0]!, undo: undos[$0], verify: verifies[applies[$0]!.fileName]) }
        repeatables = scripts.filter { $0.kind == .repeatable }
    }

    /// The callback event a file name gives (`beforeMigrate.sql`, `afterMigrate__vacuum.sql`), nil
    /// for other files, and an error for a Flyway callback Ripcord does not run.
    private static func callbackEvent(fileName: String) throws -> CallbackEvent? {
        let stem = fileName.dropLast(".sql".count)
        let event = stem.range(of: "__").map { String(stem[..<$0.lowerBound]) } ?? String(stem)
        if let known = CallbackEvent(rawValue: event) { return known }
        guard ["before", "after", "createSchema"].contains(where: event.hasPrefix), event.first?.isLowercase == true else { return nil }
        throw MigrationError.badFile(
            file: fileName, line: nil,
            message: "Ripcord runs no `\(event)` callback; it runs "
                + CallbackEvent.allCases.map(\.rawValue).joined(separator: ", "))
    }

    /// Parses one file: its name (kind, version, description) and its `-- ripcord:` header.
    static func script(fileName: String, sql: String) throws -> MigrationScript {
        let stem = fileName.dropLast(".sql".count)
        guard let separator = stem.range(of: "__"), let first = stem.first, let kind = MigrationScript.Kind(rawValue: String(first)) else {
            throw MigrationError.badFile(
                file: fileName, line: nil,
                message: "not a migration name: expected V<version>__<description>.sql, U<version>__<description>.sql or R__<description>.sql")
        }
        let versionText = String(stem[stem.index(after: stem.startIndex)..<separator.lowerBound])
        let description = stem[separator.upperBound...].replacingOccurrences(of: "_", with: " ")
        guard !description.isEmpty else {
            throw MigrationError.badFile(file: fileName, line: nil, message: "the description after `__` is empty")
        }
        let version: MigrationVersion?
        switch kind {
        case .repeatable:
            guard versionText.isEmpty else {
                throw MigrationError.badFile(file: fileName, line: nil, message: "a repeatable migration has no version: name it R__<description>.sql")
            }
            version = nil
        case .apply, .undo:
            guard let parsed = MigrationVersion(versionText) else {
                throw MigrationError.badFile(
                    file: fileName, line: nil,
                    message: "`\(versionText)` is not a version: use numbers separated by dots or underscores, e.g. V1.2__add_email.sql")
            }
            version = parsed
        }
        let header = try Header(fileName: fileName, sql: sql)
        if !header.isTransactional {
            let statements = SQLText.statements(sql)
            guard statements.count == 1 else {
                throw MigrationError.badFile(
                    file: fileName, line: statements.dropFirst().first?.line,
                    message: "a non-transactional migration must hold exactly one statement; it holds \(statements.count)")
            }
        }
        return MigrationScript(
            fileName: fileName, kind: kind, version: version, description: description, sql: sql,
            checksum: MigrationScript.checksum(of: sql), isTransactional: header.isTransactional,
            allowedRules: header.allowedRules)
    }

    /// The `-- ripcord:…` directives among the comment lines before the first statement.
    private struct Header {
        var isTransactional = true
        var allowedRules: Set<LintRule> = []

        init(fileName: String, sql: String) throws {
            for (index, rawLine) in sql.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = rawLine.trimmingCharacters(in: .whitespaces)
                if line.isEmpty { continue }
                guard line.hasPrefix("--") else { return }
                let comment = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
                guard comment.hasPrefix("ripcord:") else { continue }
                let words = comment.dropFirst("ripcord:".count).split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(String.init)
                switch words.first {
                case "nontransactional":
                    isTransactional = false
                case "allow":
                    guard words.count > 1 else {
                        throw MigrationError.badFile(file: fileName, line: index + 1, message: "`ripcord:allow` needs the rules it allows")
                    }
                    for word in words.dropFirst() {
                        guard let rule = LintRule(rawValue: word) else {
                            throw MigrationError.badFile(
                                file: fileName, line: index + 1,
                                message: "unknown lint rule `\(word)`; known rules: \(LintRule.allCases.map(\.rawValue).joined(separator: ", "))")
                        }
                        allowedRules.insert(rule)
                    }
                default:
                    throw MigrationError.badFile(
                        file: fileName, line: index + 1,
                        message: "unknown directive `ripcord:\(words.first ?? "")`; known: ripcord:nontransactional, ripcord:allow RULE")
                }
            }
        }
    }
}
