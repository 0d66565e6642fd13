import Foundation
/// Why a migration run was refused or stopped. Every case names the file (and line) to look at;
/// a run refused before it starts has changed nothing in the database.
public enum MigrationError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A file in the migration folder is malformed: its name, a header, or its statements.
    case badFile(file: String, line: Int?, message: String)
    /// Scripts that were applied and have been edited since (run `repair` to accept the edits).
    case checksumMismatch([String])
    /// A script failed: the database stays at the last migration that succeeded, `completed` lists those that ran.
    case scriptFailed(file: String, line: Int, message: String, completed: [ScriptRun])
    /// A non-transactional script failed: nothing was rolled back, and `invalidIndexes` names the
    /// PostgreSQL indexes it left INVALID. Its history row stays unfinished (`failed`).
    case nonTransactionalScriptFailed(file: String, line: Int, message: String, invalidIndexes: [String], completed: [ScriptRun])
    /// The undo scripts ran, and the verify script of the version left fails on the schema they left.
    case verifyFailedAfterUndo(file: String, line: Int, message: String, version: MigrationVersion, completed: [ScriptRun])
    /// A migration to undo has no undo script stored with it.
    case noUndo([String])
    /// A pending migration is older than one already applied.
    case outOfOrder(file: String, latestApplied: MigrationVersion)
    /// Another migrator held the lock for longer than the timeout.
    case lockTimeout(database: String, waited: Duration)
    case database(String)
    case badOption(String)

    public var description: String {
        switch self {
        case let .badFile(file, line, message):
            return "\(file)\(line.map { ":\($0)" } ?? ""): \(message)"
        case let .checksumMismatch(files):
            return "applied migrations changed on disk since they were applied: \(files.joined(separator: ", ")) "
                + "(restore them, or run `ripcord migrate repair` to accept the edits)"
        case let .scriptFailed(file, line, message, completed):
            let done = completed.isEmpty ? "" : " (\(completed.count) script(s) ran before it and stay applied)"
            return "\(file):\(line): failed and was rolled back: \(message)\(done)"
        case let .nonTransactionalScriptFailed(file, line, message, invalidIndexes, completed):
            let done = completed.isEmpty ? "" : " (\(completed.count) script(s) ran before it and stay applied)"
            let left =
                invalidIndexes.isEmpty
                ? "whatever the statement changed before failing stays; check it, then run `up` again (it retries) or `repair` (forgets the attempt)"
                : "it left the INVALID index(es) \(invalidIndexes.joined(separator: ", ")): drop them with DROP INDEX CONCURRENTLY, then run `up` again"
            return "\(file):\(line): failed outside a transaction, so nothing was rolled back: \(message); \(left)\(done)"
        case let .verifyFailedAfterUndo(file, line, message, version, completed):
            return "\(file):\(line): fails after undoing to \(version): \(message) (the \(completed.count) script(s) of the undo ran and stay; "
                + "the schema is not what \(version) needs)"
        case let .noUndo(files):
            return "no undo script was stored when these were applied, so they cannot be undone: \(files.joined(separator: ", "))"
        case let .outOfOrder(file, latest):
            return "\(file) is pending but older than the latest applied migration \(latest); give it a newer version"
        case let .lockTimeout(database, waited):
            return "another migrator holds the migration lock on \(database); gave up after waiting \(waited.formattedSeconds)"
        case let .database(message):
            return message
        case let .badOption(message):
            return message
        }
    }
}

extension Duration {
    /// For people: `12.3 ms` or `2.50 s`.
    public var formattedSeconds: String {
        seconds < 1 ? String(format: "%.1f ms", seconds * 1000) : String(format: "%.2f s", seconds)
    }
}
