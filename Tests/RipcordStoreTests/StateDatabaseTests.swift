import Foundation
import GRDB
import RipcordCore
import RipcordStore
import RipcordTestSupport
import Testing

/// The state database as `ripcord serve` opens it: created owner-only, refused when damaged.
@Suite(.tags(.unit)) struct StateDatabaseTests {
    let directory = temporaryPath("state")
    var state: String { "\(directory)/state" }
    var tokenFile: String { "\(state)/admin.token" }

    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func aNewStateDirectoryAndDatabaseAreOwnerOnly() throws {
        _ = try SQLiteStore.openState(directory: state, tokenFile: tokenFile)
        #expect(try mode(state) == 0o700)
        #expect(try mode("\(state)/ripcord.sqlite") == 0o600)
    }

    @Test func aDatabaseFailingQuickCheckIsRefusedNamingTheFile() async throws {
        do {
            let store = try SQLiteStore.openState(directory: state, tokenFile: tokenFile)
            let drafts = (0..<300).map { EventDraft("test.event", String(repeating: "event \($0) ", count: 40)) }
            try await store.record(service: "checkout", rolloutID: nil, events: drafts, at: Moment(millisecondsSinceEpoch: 0))
        }  // closing the last connection folds the WAL into the file
        try "rpc_token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let path = "\(state)/ripcord.sqlite"
        let (rootPage, pageSize) = try await DatabaseQueue(path: path).read { db in
            (try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = 'event'")!, try Int.fetchOne(db, sql: "PRAGMA page_size")!)
        }
        // Garbage over the event table's root page: the schema and the migrations still read, the table does not.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64((rootPage - 1) * pageSize))
        try handle.write(contentsOf: Data(repeating: 0xA5, count: pageSize))
        try handle.close()

        #expect {
            _ = try SQLiteStore.openState(directory: state, tokenFile: tokenFile)
        } throws: { error in
            let damaged = error as? DamagedStateError
            return damaged?.path == path && damaged?.problem.hasPrefix("fails PRAGMA quick_check") == true
                && damaged?.description.contains("Recovering the state database") == true
        }
    }
}
