import Foundation

/// A script the migrator would run (`plan`) or ran.
public struct PlannedScript: Sendable, Equatable {
    public enum Direction: String, Sendable { case apply, undo, repeatable }

    /// The file whose SQL runs (for an undo, the undo script stored at apply time).
    public let script: String
    public let version: MigrationVersion?
    public let direction: Direction
    public let sql: String
    public let isTransactional: Bool
    /// The history row it adds or removes: the apply script's name.
    let recordedAs: String
}

/// One script that ran, for the rollout's events.
public struct ScriptRun: Sendable, Equatable, CustomStringConvertible {
    public let script: String
    public let version: MigrationVersion?
    public let direction: PlannedScript.Direction
    public let duration: Duration

    public var description: String { "\(direction.rawValue) \(script) (\(duration.formattedSeconds))" }
}

/// Where one migration of the folder or the history stands.
public struct MigrationStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case applied, pending
        /// A non-transactional script started and did not finish; the next run retries it.
        case failed
        /// Applied, and its file (or its undo's) has been edited since.
        case changed
        /// Applied by a newer release whose files this folder does not have; its undo is stored.
        case appliedNotInFolder = "applied (not in folder)"
        /// A repeatable script edited since it last ran: the next run re-applies it.
        case outdated
    }

    public let script: String
    public let version: MigrationVersion?
    public let state: State
    public let hasUndo: Bool
    public let applied: AppliedMigration?
}

/// Before a rollout: what its pending migrations would do to a rollback.
public struct RollbackSafety: Sendable, Equatable {
    public let pending: [PlannedScript]
    /// Pending migrations without an undo script: an automatic rollback could restore the code only.
    public let withoutUndo: [String]
    /// Backward-compatibility findings not allowed by the migrations' headers.
    public let findings: [LintFinding]

    /// Why the deploy must be refused, or nil when it may go ahead.
    public func refusal(acceptingAppOnlyRollback: Bool) -> String? {
        var reasons: [String] = []
        if !withoutUndo.isEmpty, !acceptingAppOnlyRollback {
            reasons.append(
                "no undo script for \(withoutUndo.joined(separator: ", ")): a rollback could not restore the schema "
                    + "(add U files, or accept an app-only rollback explicitly)")
        }
        if !findings.isEmpty {
            reasons.append("\(findings.count) backward-compatibility finding(s):\n" + findings.map { "  \($0)" }.joined(separator: "\n"))
        }
        return reasons.isEmpty ? nil : reasons.joined(separator: "\n")
    }
}

/// Runs a folder of migrations against one database: the engine behind `ripcord migrate` and a
/// rollout's expand (migrate) and rollback (undo) steps.
public struct Migrator: Sendable {
    public let database: any MigrationDatabase
    public let folderPath: String
    public let lockTimeout: Duration
    /// A folder given whole (nil: read from `folderPath` at each call, so edits are seen).
    private let given: MigrationFolder?

    public init(database: any MigrationDatabase, folder: String, lockTimeout: Duration = .seconds(30)) {
        self.database = database
        folderPath = folder
        self.lockTimeout = lockTimeout
        given = nil
    }

    /// Migrates with scripts held in memory (Ripcord's own state schema).
    public init(database: any MigrationDatabase, folder: MigrationFolder, lockTimeout: Duration = .seconds(30)) {
        self.database = database
        folderPath = folder.path
        self.lockTimeout = lockTimeout
        given = folder
    }

    private func loadFolder() throws -> MigrationFolder { try given ?? MigrationFolder(path: folderPath) }

    /// Reads without the migrator lock and without creating the history table, so it works while a
    /// migration runs and with a role that may only read.
    public func status() async throws -> [MigrationStatus] {
        let (folder, history) = try await readHistory(validating: false)
        return Self.status(folder: folder, history: history)
    }

    /// The scripts `migrate(to:)` would run, in order, without running them (read like `status`).
    public func planMigrate(to target: MigrationVersion? = nil) async throws -> [PlannedScript] {
        let (folder, history) = try await readHistory(validating: true)
        return try Self.migratePlan(folder: folder, history: history, to: target)
    }

    /// The scripts `undo(to:)` would run, in order, without running them (read like `status`).
    public func planUndo(to target: MigrationVersion) async throws -> [PlannedScript] {
        let (folder, history) = try await readHistory(validating: true)
        return try Self.undoPlan(folder: folder, history: history, to: target, dialect: database.dialect)
    }

    /// Applies pending migrations up to `target` (all without one), then changed repeatable scripts,
    /// recording them against `release`. Each runs in its own transaction; on a failure the
    /// database stays at the last one that succeeded and the error lists those that ran.
    public func migrate(to target: MigrationVersion? = nil, release: MigrationRelease? = nil) async throws -> [ScriptRun] {
        try await withHistory(validating: true) { session, folder, history in
            let plan = try Self.migratePlan(folder: folder, history: history, to: target)
            return try await run(plan, phase: .migrate, session: session, folder: folder, history: history, release: release)
        }
    }

    /// Runs the stored undo scripts of migrations newer than `target`, newest first. Uses the text
    /// stored at apply time, so it works from a folder that never had those files. Repeatable
    /// scripts' objects are dropped first (a view may use a column an undo drops) and the folder's
    /// repeatable scripts re-applied afterwards, unless nothing versioned is left.
    public func undo(to target: MigrationVersion) async throws -> [ScriptRun] {
        try await withHistory(validating: true) { session, folder, history in
            let plan = try Self.undoPlan(folder: folder, history: history, to: target, dialect: database.dialect)
            let runs = try await run(plan, phase: .undo, session: session, folder: folder, history: history, release: nil)
            try await verifyRemaining(after: plan, folder: folder, history: history, session: session, completed: runs)
            return runs
        }
    }

    /// After an undo, the verify script of the newest migration left (from the folder, which in a
    /// rollback is the older release's) checks the schema is what that version needs. It runs in
    /// a transaction rolled back afterwards: verifying changes nothing.
    private func verifyRemaining(
        after plan: [PlannedScript], folder: MigrationFolder, history: [AppliedMigration],
        session: any MigrationSession, completed: [ScriptRun]
    ) async throws {
        let undone = Set(plan.filter { $0.direction == .undo }.compactMap(\.version))
        guard !undone.isEmpty else { return }
        let remaining = history.filter { $0.kind == .apply && $0.success }.compactMap(\.version).filter { !undone.contains($0) }.max()
        guard let remaining, let verify = folder.migrations.first(where: { $0.version == remaining })?.verify else { return }
        try await session.execute(database.dialect.beginTransaction)
        do {
            try await runStatements(of: [verify], session: session, completed: completed)
            try await session.execute("ROLLBACK")
        } catch let MigrationError.scriptFailed(file, line, message, _) {
            try? await session.execute("ROLLBACK")
            throw MigrationError.verifyFailedAfterUndo(file: file, line: line, message: message, version: remaining, completed: completed)
        }
    }

    /// Records the folder's migrations up to `version` as applied without running them, for a
    /// database whose schema was made before Ripcord (Flyway's `baseline`). Their undo scripts are
    /// stored, so `down` works as for migrations Ripcord ran. Without a migration of that exact
    /// version in the folder, a `<< baseline N >>` row marks it, which cannot be undone.
    public func baseline(version: MigrationVersion) async throws -> [String] {
        try await withHistory(validating: false) { session, folder, history in
            guard history.isEmpty else {
                throw MigrationError.badOption("baseline is for a database without migration history; \(HistoryTable.name) has \(history.count) row(s)")
            }
            var recorded: [String] = []
            try await runAuxiliary(folder.callbacks[.beforeBaseline] ?? [], session: session, completed: [])
            for migration in folder.migrations where migration.version <= version {
                try await HistoryTable.insert(session, baselineRow(migration: migration))
                recorded.append("recorded \(migration.apply.fileName) as applied (not run)")
            }
            if !folder.migrations.contains(where: { $0.version == version }) {
                try await HistoryTable.insert(session, baselineMarker(version: version, script: "<< baseline \(version) >>", description: "baseline"))
                recorded.append("recorded the baseline \(version)")
            }
            try await runAuxiliary(folder.callbacks[.afterBaseline] ?? [], session: session, completed: [])
            return recorded
        }
    }

    /// The row of a folder migration that ran before Ripcord kept its history.
    func baselineRow(migration: Migration, appliedBy: String? = nil, appliedAt: Date = Date()) -> AppliedMigration {
        AppliedMigration(
            script: migration.apply.fileName, kind: .apply, version: migration.version, description: migration.apply.description,
            checksum: migration.apply.checksum, undoScript: migration.undo?.fileName, undoSQL: migration.undo?.sql,
            undoChecksum: migration.undo?.checksum, appliedBy: appliedBy ?? database.user, appliedAt: appliedAt,
            duration: .zero, success: true, release: nil)
    }

    /// A version the database is at without a script in the folder: no undo, so `down` stops there.
    func baselineMarker(
        version: MigrationVersion, script: String, description: String, appliedBy: String? = nil,
        appliedAt: Date = Date()
    ) -> AppliedMigration {
        AppliedMigration(
            script: script, kind: .apply, version: version, description: description, checksum: "", undoScript: nil,
            undoSQL: nil, undoChecksum: nil, appliedBy: appliedBy ?? database.user, appliedAt: appliedAt,
            duration: .zero, success: true, release: nil)
    }

    /// Throws when an applied script was edited since, or the folder is inconsistent with the history.
    public func validate() async throws {
        let (folder, history) = try await readHistory(validating: true)
        _ = try Self.migratePlan(folder: folder, history: history, to: nil)
    }

    /// Accepts edited scripts (their current text becomes the record, undo text included) and
    /// forgets unfinished non-transactional attempts. Returns what it changed.
    public func repair() async throws -> [String] {
        try await withHistory(validating: false) { session, folder, history in
            try await runAuxiliary(folder.callbacks[.beforeRepair] ?? [], session: session, completed: [])
            var changes: [String] = []
            for row in history where !row.success {
                try await HistoryTable.delete(session, script: row.script)
                changes.append("forgot the unfinished run of \(row.script)")
            }
            for (migration, row) in Self.changed(folder: folder, history: history) {
                try await HistoryTable.acceptScripts(session, script: row.script, checksum: migration.apply.checksum, undo: migration.undo)
                changes.append("accepted the current text of \(migration.apply.fileName)\(migration.undo.map { " and \($0.fileName)" } ?? "")")
            }
            try await runAuxiliary(folder.callbacks[.afterRepair] ?? [], session: session, completed: [])
            return changes
        }
    }

    /// Backward-compatibility findings for every migration in the folder.
    public func lint() throws -> [LintFinding] {
        MigrationLint.findings(in: try loadFolder(), dialect: database.dialect)
    }

    /// The pre-deploy check: which pending migrations (up to `target`) have no undo, and which
    /// have lint findings.
    public func rollbackSafety(to target: MigrationVersion? = nil) async throws -> RollbackSafety {
        let (folder, history) = try await readHistory(validating: true)
        let plan = try Self.migratePlan(folder: folder, history: history, to: target)
        let pendingVersions = Set(plan.compactMap(\.version))
        let migrations = folder.migrations.filter { pendingVersions.contains($0.version) }
        let repeatables = folder.repeatables.filter { script in plan.contains { $0.script == script.fileName } }
        return RollbackSafety(
            pending: plan,
            withoutUndo: migrations.filter { $0.undo == nil }.map(\.apply.fileName),
            findings: migrations.flatMap { MigrationLint.findings(for: $0, dialect: database.dialect) }
                + repeatables.flatMap { MigrationLint.findings(for: $0, dialect: database.dialect) })
    }

    // MARK: Running

    /// Runs `body` holding the migrator lock, with the history table created if need be.
    func withHistory<Result: Sendable>(
        validating: Bool, _ body: (any MigrationSession, MigrationFolder, [AppliedMigration]) async throws -> Result
    ) async throws -> Result {
        let folder = try loadFolder()
        return try await database.withMigratorLock(timeout: lockTimeout) { session in
            try await HistoryTable.create(session)
            let history = try await HistoryTable.all(session)
            if validating { try Self.requireUnchanged(folder: folder, history: history) }
            return try await body(session, folder, history)
        }
    }

    /// The folder and the history as committed now, read without the lock: no history table reads as none.
    private func readHistory(validating: Bool) async throws -> (MigrationFolder, [AppliedMigration]) {
        let folder = try loadFolder()
        let dialect = database.dialect
        let history = try await database.withConnection { session in
            try await HistoryTable.exists(session, dialect: dialect) ? try await HistoryTable.all(session) : []
        }
        if validating { try Self.requireUnchanged(folder: folder, history: history) }
        return (folder, history)
    }

    private static func requireUnchanged(folder: MigrationFolder, history: [AppliedMigration]) throws {
        let changed = Self.changed(folder: folder, history: history)
        guard changed.isEmpty else {
            throw MigrationError.checksumMismatch(
                changed.flatMap { migration, row in
                    var files: [String] = []
                    if migration.apply.checksum != row.checksum { files.append(migration.apply.fileName) }
                    if let undo = migration.undo, undo.checksum != row.undoChecksum { files.append(undo.fileName) }
                    return files
                })
        }
    }

    /// Runs a plan with the phase's callbacks around it and around each script; an apply script's
    /// verify script runs right after it, in its transaction.
    private func run(
        _ plan: [PlannedScript], phase: CallbackPhase, session: any MigrationSession, folder: MigrationFolder,
        history: [AppliedMigration], release: MigrationRelease?
    ) async throws -> [ScriptRun] {
        func callbacks(_ event: CallbackEvent?) -> [AuxiliaryScript] { event.flatMap { folder.callbacks[$0] } ?? [] }
        var completed: [ScriptRun] = []
        do {
            try await runAuxiliary(callbacks(phase.before), session: session, completed: completed)
            for script in plan {
                let row = script.direction == .undo ? nil : historyRow(of: script, folder: folder, release: release)
                let verify = script.direction == .apply ? folder.migrations.first { $0.version == script.version }?.verify : nil
                do {
                    let duration = try await execute(
                        script, historyRow: row, before: callbacks(phase.beforeEach),
                        after: [verify].compactMap { $0 } + callbacks(phase.afterEach),
                        session: session, completed: completed)
                    completed.append(ScriptRun(script: script.script, version: script.version, direction: script.direction, duration: duration))
                } catch {
                    try? await runAuxiliary(callbacks(phase.afterEachError), session: session, completed: completed)
                    throw error
                }
            }
            if !completed.isEmpty { try await runAuxiliary(callbacks(phase.afterApplied), session: session, completed: completed) }
            try await runAuxiliary(callbacks(phase.after), session: session, completed: completed)
        } catch {
            try? await runAuxiliary(callbacks(phase.afterError), session: session, completed: completed)
            throw error
        }
        return completed
    }

    /// Flyway's callback events of one command.
    struct CallbackPhase {
        var before: CallbackEvent?
        var beforeEach: CallbackEvent?
        var afterEach: CallbackEvent?
        var afterEachError: CallbackEvent?
        var afterApplied: CallbackEvent?
        var after: CallbackEvent?
        var afterError: CallbackEvent?

        static let migrate = Self(
            before: .beforeMigrate, beforeEach: .beforeEachMigrate, afterEach: .afterEachMigrate,
            afterEachError: .afterEachMigrateError, afterApplied: .afterMigrateApplied, after: .afterMigrate,
            afterError: .afterMigrateError)
        static let undo = Self(
            before: .beforeUndo, beforeEach: .beforeEachUndo, afterEach: .afterEachUndo,
            afterEachError: .afterEachUndoError, after: .afterUndo, afterError: .afterUndoError)
    }

    /// Callbacks (or a verify script) on their own: each in a transaction.
    func runAuxiliary(_ scripts: [AuxiliaryScript], session: any MigrationSession, completed: [ScriptRun]) async throws {
        for script in scripts {
            try await session.execute(database.dialect.beginTransaction)
            do {
                try await runStatements(of: [script], session: session, completed: completed)
                try await session.execute("COMMIT")
            } catch {
                try? await session.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// The history row an apply or repeatable script leaves, stamped with its duration once it ran.
    private func historyRow(of script: PlannedScript, folder: MigrationFolder, release: MigrationRelease?) -> (Duration, Bool) -> AppliedMigration {
        let undo = folder.migrations.first { $0.version == script.version && script.direction == .apply }?.undo
        let repeatable = folder.repeatables.first { $0.fileName == script.script }
        // A repeatable script's undo is the drop of what it creates, kept for `down` like an undo script.
        let undoSQL = undo?.sql ?? repeatable.map { RepeatableObjects.dropSQL($0.sql, dialect: database.dialect) }
        let user = database.user
        return { duration, success in
            AppliedMigration(
                script: script.script, kind: script.direction == .apply ? .apply : .repeatable, version: script.version,
                description: folder.migrations.first { $0.version == script.version }?.apply.description ?? repeatable?.description ?? "",
                checksum: MigrationScript.checksum(of: script.sql), undoScript: undo?.fileName, undoSQL: undoSQL,
                undoChecksum: undo?.checksum, appliedBy: user, appliedAt: Date(), duration: duration, success: success, release: release)
        }
    }

    /// Runs one script and its bookkeeping: together in one transaction, or, for a non-transactional
    /// script, with an unfinished row written first so a failure shows exactly where it stopped.
    private func execute(
        _ script: PlannedScript, historyRow: ((Duration, Bool) -> AppliedMigration)?, before: [AuxiliaryScript],
        after: [AuxiliaryScript], session: any MigrationSession, completed: [ScriptRun]
    ) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        let statements = SQLText.statements(script.sql)
        if script.isTransactional {
            try await session.execute(database.dialect.beginTransaction)
            do {
                try await runStatements(of: before, session: session, completed: completed)
                try await runStatements(statements, file: script.script, session: session, completed: completed)
                try await runStatements(of: after, session: session, completed: completed)
                let duration = clock.now - start
                try await HistoryTable.delete(session, script: script.recordedAs)
                if let historyRow { try await HistoryTable.insert(session, historyRow(duration, true)) }
                try await session.execute("COMMIT")
                return duration
            } catch {
                try? await session.execute("ROLLBACK")
                throw error
            }
        }
        try await runAuxiliary(before, session: session, completed: completed)
        if let historyRow {
            try await HistoryTable.delete(session, script: script.recordedAs)
            try await HistoryTable.insert(session, historyRow(.zero, false))
        }
        let invalidBefore = try await invalidIndexes(session)
        do {
            try await runStatements(statements, file: script.script, session: session, completed: completed)
            // The statement is committed: a failing verify leaves its row unfinished.
            try await runAuxiliary(after, session: session, completed: completed)
        } catch let MigrationError.scriptFailed(file, line, message, completed) {
            let left = try? await invalidIndexes(session).subtracting(invalidBefore).sorted()
            throw MigrationError.nonTransactionalScriptFailed(
                file: file, line: line, message: message,
                invalidIndexes: left ?? [], completed: completed)
        }
        let duration = clock.now - start
        if historyRow != nil {
            try await HistoryTable.markSucceeded(session, script: script.recordedAs, duration: duration)
        } else {
            try await HistoryTable.delete(session, script: script.recordedAs)
        }
        return duration
    }

    /// PostgreSQL's INVALID indexes: what a failed `CREATE INDEX CONCURRENTLY` (or `REINDEX CONCURRENTLY`) leaves.
    private func invalidIndexes(_ session: any MigrationSession) async throws -> Set<String> {
        guard database.dialect == .postgres else { return [] }
        return Set(try await session.query("SELECT indexrelid::regclass::text FROM pg_catalog.pg_index WHERE NOT indisvalid", []).compactMap { $0.first?.text })
    }

    private func runStatements(
        _ statements: [SQLStatement], file: String, session: any MigrationSession,
        completed: [ScriptRun]
    ) async throws {
        for statement in statements {
            do {
                try await session.execute(statement.text)
            } catch {
                let message = (error as? MigrationError)?.description ?? "\(error)"
                throw MigrationError.scriptFailed(file: file, line: statement.line, message: message, completed: completed)
            }
        }
    }

    private func runStatements(of scripts: [AuxiliaryScript], session: any MigrationSession, completed: [ScriptRun]) async throws {
        for script in scripts {
            try await runStatements(SQLText.statements(script.sql), file: script.fileName, session: session, completed: completed)
        }
    }

    // MARK: Planning (pure)

    static func migratePlan(folder: MigrationFolder, history: [AppliedMigration], to target: MigrationVersion?) throws -> [PlannedScript] {
        let applied = Set(history.filter { $0.kind == .apply && $0.success }.compactMap(\.version))
        let latest = applied.max()
        var plan: [PlannedScript] = []
        for migration in folder.migrations where !applied.contains(migration.version) {
            if let latest, migration.version < latest {
                throw MigrationError.outOfOrder(file: migration.apply.fileName, latestApplied: latest)
            }
            if let target, migration.version > target { continue }
            plan.append(
                PlannedScript(
                    script: migration.apply.fileName, version: migration.version, direction: .apply,
                    sql: migration.apply.sql, isTransactional: migration.apply.isTransactional,
                    recordedAs: migration.apply.fileName))
        }
        let repeatableChecksums = Dictionary(
            history.filter { $0.kind == .repeatable && $0.success }.map { ($0.script, $0.checksum) },
            uniquingKeysWith: { first, _ in first })
        for script in folder.repeatables where repeatableChecksums[script.fileName] != script.checksum {
            plan.append(
                PlannedScript(
                    script: script.fileName, version: nil, direction: .repeatable, sql: script.sql,
                    isTransactional: script.isTransactional, recordedAs: script.fileName))
        }
        return plan
    }

    static func undoPlan(
        folder: MigrationFolder, history: [AppliedMigration], to target: MigrationVersion,
        dialect: SQLDialect
    ) throws -> [PlannedScript] {
        let toUndo = history.filter { $0.kind == .apply && $0.success && $0.version.map { $0 > target } == true }.reversed()
        guard !toUndo.isEmpty else { return [] }
        let missing = toUndo.filter { $0.undoSQL == nil }.map(\.script)
        guard missing.isEmpty else { throw MigrationError.noUndo(missing) }
        let undos = try toUndo.map { row in
            let undo = try MigrationFolder.script(fileName: row.undoScript ?? "", sql: row.undoSQL ?? "")
            return PlannedScript(
                script: undo.fileName, version: row.version, direction: .undo, sql: undo.sql,
                isTransactional: undo.isTransactional, recordedAs: row.script)
        }
        // Views and functions may depend on what the undo scripts drop: drop them all first (newest
        // name first), with the drop recorded when they ran (or derived from the folder's file for
        // histories older than that), and forget them, so `up` creates them again.
        let drops = history.filter { $0.kind == .repeatable }.reversed().map { row in
            let sql = row.undoSQL ?? folder.repeatables.first { $0.fileName == row.script }.map { RepeatableObjects.dropSQL($0.sql, dialect: dialect) }
            return PlannedScript(script: row.script, version: nil, direction: .undo, sql: sql ?? "", isTransactional: true, recordedAs: row.script)
        }
        // The version that remains gets the folder's repeatable scripts back: in a rollback, the folder is the older release's.
        let remains = history.contains { $0.kind == .apply && $0.success && $0.version.map { $0 <= target } == true }
        let reapplied =
            !remains
            ? []
            : folder.repeatables.map { script in
                PlannedScript(
                    script: script.fileName, version: nil, direction: .repeatable, sql: script.sql,
                    isTransactional: script.isTransactional, recordedAs: script.fileName)
            }
        return drops + undos + reapplied
    }

    /// Applied migrations whose apply or undo file on disk differs from what was recorded.
    static func changed(folder: MigrationFolder, history: [AppliedMigration]) -> [(Migration, AppliedMigration)] {
        let rows = Dictionary(
            history.filter { $0.kind == .apply && $0.success }.compactMap { row in row.version.map { ($0, row) } },
            uniquingKeysWith: { first, _ in first })
        return folder.migrations.compactMap { migration in
            guard let row = rows[migration.version] else { return nil }
            let undoChanged = migration.undo.map { $0.checksum != row.undoChecksum } ?? false
            return migration.apply.checksum != row.checksum || undoChanged ? (migration, row) : nil
        }
    }

    static func status(folder: MigrationFolder, history: [AppliedMigration]) -> [MigrationStatus] {
        let changed = Set(Self.changed(folder: folder, history: history).map(\.0.version))
        let rows = Dictionary(history.map { ($0.script, $0) }, uniquingKeysWith: { first, _ in first })
        let rowsByVersion = Dictionary(
            history.filter { $0.kind == .apply }.compactMap { row in row.version.map { ($0, row) } },
            uniquingKeysWith: { first, _ in first })
        var statuses = folder.migrations.map { migration -> MigrationStatus in
            let row = rowsByVersion[migration.version]
            let state: MigrationStatus.State =
                switch row?.success {
                case nil: .pending
                case false?: .failed
                case true?: changed.contains(migration.version) ? .changed : .applied
                }
            return MigrationStatus(
                script: migration.apply.fileName, version: migration.version, state: state,
                hasUndo: row?.undoSQL != nil || migration.undo != nil, applied: row)
        }
        let inFolder = Set(folder.migrations.map(\.version))
        for row in history where row.kind == .apply && !(row.version.map(inFolder.contains) ?? false) {
            statuses.append(
                MigrationStatus(
                    script: row.script, version: row.version, state: row.success ? .appliedNotInFolder : .failed,
                    hasUndo: row.undoSQL != nil, applied: row))
        }
        statuses.sort { ($0.version ?? .repeatableOrder) < ($1.version ?? .repeatableOrder) }
        for script in folder.repeatables {
            let row = rows[script.fileName]
            let state: MigrationStatus.State = row == nil ? .pending : row?.checksum == script.checksum ? .applied : .outdated
            statuses.append(MigrationStatus(script: script.fileName, version: nil, state: state, hasUndo: false, applied: row))
        }
        return statuses
    }
}

extension MigrationLint {
    /// Findings for every migration and repeatable script in a folder.
    public static func findings(in folder: MigrationFolder, dialect: SQLDialect) -> [LintFinding] {
        folder.migrations.flatMap { findings(for: $0, dialect: dialect) } + folder.repeatables.flatMap { findings(for: $0, dialect: dialect) }
    }
}
