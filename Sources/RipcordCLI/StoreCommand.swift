import ArgumentParser
import Foundation
import Logging
import RipcordCore
import RipcordMigrations
import RipcordPostgresStore
import RipcordServer
import RipcordStore

/// `ripcord store …`: the state store itself.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Move Ripcord's own state between stores.", subcommands: [StoreMigrateToPostgres.self])
}

struct StoreMigrateToPostgres: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-to-postgres",
        abstract: "Copy a state directory's SQLite state into an empty PostgreSQL database, ids and all, in one transaction.",
        discussion: """
            Copies every table (revisions, rollouts, events, instances, releases, rejections, drill schedules, tokens, flags \
            with their history, SDK metrics and clients, guarded flag rollouts), checks that each holds as many rows as in \
            SQLite, and prints the counts. Refuses a database that already holds Ripcord state, and a state directory a \
            running `ripcord serve` uses (stop it first, then start it with the PostgreSQL store).
            """)

    @Option(help: "The state directory whose ripcord.sqlite to copy (serve's state directory).") var stateDir: String
    @Option(
        help: ArgumentHelp(
            "The PostgreSQL database: postgres://user@host[:port]/database[?sslmode=…&sslrootcert=…].",
            discussion: "The password comes from --password-file, PGPASSWORD or ~/.pgpass (PGPASSFILE): one in the URL shows in ps."))
    var url: String
    @Option(help: "A file holding the PostgreSQL password.") var passwordFile: String?
    @Option(help: "PostgreSQL TLS: disable, prefer (default), require, verify-ca or verify-full.") var sslmode: String?
    @Option(help: "The CA certificates (PEM) that sign the PostgreSQL server's certificate.") var sslrootcert: String?

    func run() async throws {
        do {
            let copied = try await copy()
            let width = max("table".count, copied.map(\.name.count).max() ?? 0)
            print("table".padding(toLength: width, withPad: " ", startingAt: 0) + "  rows")
            for table in copied { print(table.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(table.rows)") }
            print("copied \(copied.map(\.rows).reduce(0, +)) rows from \(stateDir)/\(SQLiteStore.fileName); every table's count matches")
        } catch {
            FileHandle.standardError.write(Data("ripcord: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func copy() async throws -> [CopiedTable] {
        // openState would start an empty state where there is none: nothing to copy is a mistake here.
        guard FileManager.default.fileExists(atPath: "\(stateDir)/\(SQLiteStore.fileName)") else {
            throw ValidationError("no state database in \(stateDir) (no \(SQLiteStore.fileName)): name serve's state directory with --state-dir")
        }
        let mode = try sslmode.map { try PostgresMigrationDatabase.sslMode($0, given: "--sslmode") }
        // No serve may write to the state while it is copied (what it wrote after would be lost), nor start meanwhile.
        let lock = try await ControllerLock.acquire(stateDirectory: stateDir, waitingUpTo: .zero)
        defer { lock.release() }
        let source = try SQLiteStore.openState(directory: stateDir, tokenFile: "\(stateDir)/admin.token")
        // Errors only: the pool's notes (connections opened and closed) are not for the operator.
        var logger = Logger(label: "ripcord.store.postgres")
        logger.logLevel = .error
        let target = try await PostgresStateStore.open(url: url, passwordFile: passwordFile, sslMode: mode, sslRootCert: sslrootcert, logger: logger)
        do {
            let copied = try await target.copyState(from: source)
            await target.close()
            return copied
        } catch {
            await target.close()
            throw error
        }
    }
}
