import Foundation
import RipcordController
import RipcordCore
import RipcordServer
import RipcordTestSupport
import RipcordWire
import Testing

/// Schema migrations tied to rollouts, on a real SQLite database the sample service would use:
/// applied before the candidate starts, undone inside a rollback and on `undo`, refused before a
/// deploy when they could not be rolled back.
@Suite(.serialized, .tags(.integration)) struct MigrationRolloutTests {
    static let createOrders = "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER);\n"
    static let dropOrders = "-- ripcord:allow drop-table undo-drops-created\nDROP TABLE orders;\n"
    static let addNote = "ALTER TABLE orders ADD COLUMN note TEXT;\n"
    static let dropNote = "-- ripcord:allow drop-column undo-drops-created\nALTER TABLE orders DROP COLUMN note;\n"

    /// Each version's folder, as it would ship with that version.
    static func writeReleases(_ directory: String) throws {
        let files: [String: [String: String]] = [
            "1.0.0": ["V1__create_orders.sql": createOrders, "U1__create_orders.sql": dropOrders],
            "2.0.0": [
                "V1__create_orders.sql": createOrders, "U1__create_orders.sql": dropOrders,
                "V2__add_note.sql": addNote, "U2__add_note.sql": dropNote,
            ],
            "3.0.0": [
                "V1__create_orders.sql": createOrders, "U1__create_orders.sql": dropOrders,
                "V2__add_note.sql": addNote, "U2__add_note.sql": dropNote,
                "V3__index_totals.sql": "CREATE INDEX orders_total ON orders(total);\n",
            ],
            // Its verify script looks for a column the migration does not add.
            "4.0.0": [
                "V1__create_orders.sql": createOrders, "U1__create_orders.sql": dropOrders,
                "V2__add_note.sql": addNote, "U2__add_note.sql": dropNote,
                "V3__index_totals.sql": "CREATE INDEX orders_total ON orders(total);\n",
                "V4__coupon.sql": "ALTER TABLE orders ADD COLUMN coupon TEXT;\n", "U4__coupon.sql": "ALTER TABLE orders DROP COLUMN coupon;\n",
                "V4__coupon.verify.sql": "SELECT coupon_code FROM orders WHERE 1 = 0;\n",
            ],
        ]
        for version in ["1.0.0", "2.0.0", "2.1.0", "3.0.0", "4.0.0"] {
            let folder = "\(directory)/releases/\(version)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (name, sql) in files[version == "2.1.0" ? "2.0.0" : version]! {
                try sql.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8)
            }
        }
    }

    static func columns(_ database: String) throws -> [String] {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import sqlite3, sys; print(','.join(r[1] for r in sqlite3.connect(sys.argv[1]).execute('pragma table_info(orders)')))", database]
        let output = Pipe()
        python.standardOutput = output
        try python.run()
        python.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map(String.init)
    }

    @Test func schemaFollowsTheReleaseForwardAndBack() async throws {
        let directory = try temporaryDirectory("schema")
        try Self.writeReleases(directory)
        let database = "\(directory)/app.db"
        let migrations = "migrations:\n      folder: \(directory)/releases/{version}\n      sqlite: \(database)"
        try await withHarness(
            "schema", strategy: "canary:\n  steps:\n    - setWeight: 50\n    - analysis: { passes: 2 }",
            faults: "2.0.0=errorRate:1", instances: 1, serviceExtra: migrations
        ) { harness in
            let first = try await harness.finish(try await harness.deploy("1.0.0"))
            #expect(first.phase == .promoted && first.schemaBefore == "0" && first.schemaTarget == "1")
            #expect(try Self.columns(database) == ["id", "total"])

            // A faulty release: its migration runs before its instances start, and the rollback undoes it.
            var faulty: Rollout?
            _ = try await underLoad(harness) { faulty = try await harness.finish(try await harness.deploy("2.0.0")) }
            let rolledBack = try #require(faulty)
            #expect(rolledBack.phase == .rolledBack && rolledBack.schemaBefore == "1" && rolledBack.schemaTarget == "2")
            // The rollback is recorded first; its effects (traffic, schema, instances) follow.
            try await eventually("the schema undone") { try await harness.events(rolledBack).contains { $0.kind == "migration.undone" } }
            let events = try await harness.events(rolledBack)
            let applied = try #require(events.firstIndex { $0.kind == "migration.applied" && $0.evidence["script"] == "V2__add_note.sql" })
            let started = try #require(events.firstIndex { $0.kind == "instance.started" })
            #expect(applied < started, "expand before the new instances start")
            let undone = try #require(events.first { $0.kind == "migration.undone" })
            #expect(undone.evidence["script"] == "U2__add_note.sql" && undone.evidence["duration"]?.hasSuffix("s") == true)
            #expect(try Self.columns(database) == ["id", "total"], "the stable version's schema is back")

            // A healthy release keeps its schema; undo restores the older one from the stored undo script,
            // although the older version's folder never had it.
            var promoted: Rollout?
            _ = try await underLoad(harness) { promoted = try await harness.finish(try await harness.deploy("2.1.0")) }
            let healthy = try #require(promoted)
            let columns = try Self.columns(database)
            #expect(healthy.phase == .promoted && columns == ["id", "total", "note"])
            // The undo goes through the strategy's analysis like any rollout: it needs traffic.
            var undoFinished: Rollout?
            _ = try await underLoad(harness) {
                undoFinished = try await harness.finish(try await harness.server.controller.undo(service: "checkout", toRevision: nil))
            }
            let undo = try #require(undoFinished)
            #expect(undo.phase == .promoted)
            #expect(try Self.columns(database) == ["id", "total"])
            #expect(try await harness.events(undo).contains { $0.kind == "migration.undone" && $0.evidence["script"] == "U2__add_note.sql" })

            // No undo script: refused before anything is recorded, unless an app-only rollback is accepted.
            let revisions = try await harness.server.controller.history(service: "checkout").revisions.count
            await #expect(throws: ControllerError.self) { _ = try await harness.deploy("3.0.0") }
            do {
                _ = try await harness.deploy("3.0.0")
            } catch let error as ControllerError {
                #expect(error.code == "migrations_refused" && error.message.contains("V3__index_totals.sql"))
            }
            #expect(try await harness.server.controller.history(service: "checkout").revisions.count == revisions)
            let accepted = try await harness.server.controller.deploy(
                service: "checkout", version: try SemanticVersion(parsing: "3.0.0"),
                acceptAppOnlyRollback: true)
            var final: Rollout?
            _ = try await underLoad(harness) { final = try await harness.finish(accepted) }
            #expect(final?.phase == .promoted)

            // A failing verify script fails its migration, which rolls back with it, and the rollout rolls back.
            let unverified = try await harness.finish(try await harness.deploy("4.0.0"))
            #expect(unverified.phase == .rolledBack && unverified.trigger?.kind == .migrationFailed)
            #expect(
                try await harness.events(unverified).contains {
                    $0.kind == "migration.failed" && $0.evidence["error"]?.contains("V4__coupon.verify.sql:1") == true
                })
            #expect(try Self.columns(database) == ["id", "total", "note"], "the stable version's schema, without coupon")
        }
    }
}
