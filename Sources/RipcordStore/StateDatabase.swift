import Foundation
import GRDB

/// Why `ripcord serve` will not start on its state database, and the way back. Starting on an empty
/// database instead would forget every rollout and revision and replace the admin token.
public struct DamagedStateError: Error, CustomStringConvertible {
    public var path: String
    public var problem: String

    public var description: String {
        """
        the state database \(path) \(problem). Ripcord does not start on it: an empty database would forget every \
        release and replace the admin token. To recover (docs/operations.md, "Recovering the state database"), \
        either restore \(path) from a backup (with its -wal file if the backup has one), or, to start afresh, \
        move the state directory's ripcord.sqlite* files and admin.token aside and start again: a new admin token \
        is written and instances still running are not adopted.
        """
    }
}

extension SQLiteStore {
    public static let fileName = "ripcord.sqlite"

    /// The state database of `directory`, both created on first start readable by the owner only
    /// (0700, 0600; SQLite gives its -wal and -shm files the database's mode). Refuses a database
    /// that is missing while `tokenFile` exists (an earlier start made both), empty with no WAL to
    /// replay, or not intact by `PRAGMA quick_check`.
    public static func openState(directory: String, tokenFile: String) throws -> SQLiteStore {
        let files = FileManager.default
        if !files.fileExists(atPath: directory) {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let path = "\(directory)/\(fileName)"
        if !files.fileExists(atPath: path) {
            if files.fileExists(atPath: tokenFile) {
                throw DamagedStateError(path: path, problem: "is missing, but \(tokenFile) from an earlier start exists")
            }
            guard files.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw DamagedStateError(path: path, problem: "cannot be created")
            }
        } else if try size(of: path) == 0, (try? size(of: path + "-wal")) ?? 0 == 0, files.fileExists(atPath: tokenFile) {
            // Zero bytes is how SQLite leaves a new database whose first writes are still in the WAL,
            // and how a first start killed before writing anything leaves it: only after a token was
            // handed out does it mean lost contents.
            throw DamagedStateError(path: path, problem: "is empty (zero bytes, no WAL)")
        }
        return try SQLiteStore(path: path, checkingIntegrity: true)
    }

    private static func size(of path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// Throws `DamagedStateError` unless SQLite reads the database and `PRAGMA quick_check` says ok.
    static func checkIntegrity(of pool: DatabasePool, path: String) throws {
        let findings: [String]
        do {
            findings = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        } catch {
            throw DamagedStateError(path: path, problem: "fails PRAGMA quick_check: \(error)")
        }
        guard findings == ["ok"] else {
            throw DamagedStateError(path: path, problem: "fails PRAGMA quick_check: \(findings.prefix(3).joined(separator: "; "))")
        }
    }
}
