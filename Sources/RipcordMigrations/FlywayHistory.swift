import Foundation

/// Moving from Flyway: its `flyway_schema_history` read into Ripcord's history, each applied script
/// checked against the folder with Flyway's own checksum, so an edited file is caught as Flyway would.
extension Migrator {
    /// Records what Flyway applied (in the order it did, minus undone and failed runs) as applied,
    /// with the folder's undo scripts stored. Versions the folder lacks are kept as rows without
    /// undo; repeatable scripts whose Flyway checksum differs from the file are re-applied by `up`.
    public func importFlywayHistory(table: String = "flyway_schema_history") async throws -> [String] {
        guard !table.isEmpty, table.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") }) else {
            throw MigrationError.badOption("--table is a table name (letters, digits, _ and .), not '\(table)'")
        }
        return try await withHistory(validating: false) { session, folder, history in
            guard history.isEmpty else {
                throw MigrationError.badOption("import is for a database without Ripcord history; \(HistoryTable.name) has \(history.count) row(s)")
            }
            let rows = try await session.query(
                """
                SELECT version, description, type, script, checksum, installed_by, success, CAST(installed_on AS TEXT)
                FROM \(table) ORDER BY installed_rank
                """, []
            ).map(FlywayRow.init)
            var versions: [MigrationVersion: FlywayRow] = [:]
            var repeatables: [String: FlywayRow] = [:]
            // Flyway skips the migrations at or below its baseline; so does the imported history.
            var baseline: MigrationVersion?
            var notes: [String] = []
            for row in rows {
                guard row.success else {
                    notes.append("skipped the failed Flyway run of \(row.script)")
                    continue
                }
                switch (row.type, row.version) {
                case ("SCHEMA", _): continue
                case ("UNDO_SQL", let version?), ("UNDO_JDBC", let version?), ("DELETE", let version?): versions[version] = nil
                case (let type, let version?) where type.hasSuffix("BASELINE"):
                    versions[version] = row
                    baseline = max(baseline ?? version, version)
                case (_, let version?): versions[version] = row
                case (_, nil): repeatables[row.fileName] = row
                }
            }
            var imported: [AppliedMigration] = []
            var changed: [String] = []
            for migration in folder.migrations where baseline.map({ migration.version < $0 }) == true && versions[migration.version] == nil {
                imported.append(baselineRow(migration: migration))
                notes.append("recorded \(migration.apply.fileName) as applied: it is below Flyway's baseline")
            }
            for (version, row) in versions.sorted(by: { $0.key < $1.key }) {
                guard let migration = folder.migrations.first(where: { $0.version == version }) else {
                    imported.append(
                        baselineMarker(
                            version: version, script: row.script, description: row.description,
                            appliedBy: row.installedBy, appliedAt: row.installedOn))
                    notes.append("recorded \(row.script) (not in the folder, so it cannot be undone)")
                    continue
                }
                if let checksum = row.checksum, checksum != Self.flywayChecksum(migration.apply.sql) {
                    changed.append(migration.apply.fileName)
                    continue
                }
                imported.append(baselineRow(migration: migration, appliedBy: row.installedBy, appliedAt: row.installedOn))
                notes.append("recorded \(migration.apply.fileName) as applied by \(row.installedBy)")
            }
            guard changed.isEmpty else {
                throw MigrationError.badOption(
                    "these files differ from what Flyway applied (its checksum): \(changed.joined(separator: ", ")); "
                        + "restore them, or run `flyway repair` first. Nothing was imported")
            }
            for (name, row) in repeatables.sorted(by: { $0.key < $1.key }) {
                guard let script = folder.repeatables.first(where: { $0.fileName == name }) else { continue }
                let current = row.checksum == Self.flywayChecksum(script.sql)
                // A differing checksum is recorded as Flyway's, so `up` sees the script outdated and re-applies it.
                imported.append(
                    AppliedMigration(
                        script: name, kind: .repeatable, version: nil, description: script.description,
                        checksum: current ? script.checksum : "flyway:\(row.checksum.map(String.init) ?? "none")", undoScript: nil,
                        undoSQL: RepeatableObjects.dropSQL(script.sql, dialect: database.dialect), undoChecksum: nil,
                        appliedBy: row.installedBy, appliedAt: row.installedOn, duration: .zero, success: true, release: nil))
                notes.append(current ? "recorded \(name) as applied" : "recorded \(name) as outdated: `up` re-applies it")
            }
            for row in imported { try await HistoryTable.insert(session, row) }
            return notes
        }
    }

    /// Flyway's checksum: CRC-32 over the script's lines without their line endings (and without a
    /// leading byte-order mark), as a signed 32-bit number.
    static func flywayChecksum(_ sql: String) -> Int64 {
        var text = Substring(sql)
        if text.hasPrefix("\u{FEFF}") { text = text.dropFirst() }
        var crc: UInt32 = 0
        for line in text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false) {
            crc = crc32(crc, line.utf8)
        }
        return Int64(Int32(bitPattern: crc))
    }

    /// zlib's CRC-32 (which `java.util.zip.CRC32` is), continued from `crc`.
    private static func crc32(_ crc: UInt32, _ bytes: some Sequence<UInt8>) -> UInt32 {
        var value = ~crc
        for byte in bytes {
            value ^= UInt32(byte)
            for _ in 0..<8 { value = (value >> 1) ^ (0xEDB8_8320 & (0 &- (value & 1))) }
        }
        return ~value
    }
}

/// One row of Flyway's history table.
private struct FlywayRow {
    let version: MigrationVersion?
    let description: String
    let type: String
    let script: String
    let checksum: Int64?
    let installedBy: String
    let success: Bool
    let installedOn: Date

    /// Flyway may record a script with its location's sub-folder; the folder knows the file name.
    var fileName: String { script.split(separator: "/").last.map(String.init) ?? script }

    init(_ row: [SQLValue]) throws {
        guard row.count == 8, let type = row[2].text, let script = row[3].text else {
            throw MigrationError.database("flyway_schema_history has a row Ripcord cannot read: \(row)")
        }
        version = row[0].text.flatMap(MigrationVersion.init)
        description = row[1].text ?? ""
        self.type = type
        self.script = script
        checksum = row[4].integer ?? row[4].text.flatMap { Int64($0) }
        installedBy = row[5].text ?? "flyway"
        success = row[6].integer.map { $0 != 0 } ?? (row[6].text.map { ["t", "true", "1"].contains($0.lowercased()) } ?? false)
        installedOn = row[7].text.flatMap(Self.date) ?? Date()
    }

    /// `2024-05-01 10:00:00.123` as PostgreSQL and Flyway's SQLite store it (UTC assumed).
    private static func date(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.date(from: String(text.prefix(19)))
    }
}
