import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import RipcordCore
import RipcordMigrations

/// The shared store: Ripcord's state in a PostgreSQL database, so several controllers can read and
/// write the same history (one leads, the others stand by). It keeps `SQLiteStore`'s semantics: every
/// state change and its events are written in one transaction, a finished rollout or release never
/// changes again, and event ids only grow, in commit order.
public final class PostgresStateStore: StateStore {
    public let eventFeed = EventFeed()
    let client: PostgresClient
    /// The pool's background work (`PostgresClient.run()`): cancelled by `close()`.
    private let running: Task<Void, Never>
    /// Whose writes act on rollouts (`WriteFence`): set by the leader election.
    private let fenceBox = NIOLockedValueBox(WriteFence.none)
    /// Events reach this process's feed once each, whether this process or another controller wrote them.
    let relay = EventRelay()
    private let listening = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// A tick each time a controller sharing the database commits a change to the access tokens or the
    /// flags, and each time the listener (re)connects (`followOtherWriters`); ticks not yet taken make one.
    public let tokensOrFlagsChanged: AsyncStream<Void>
    let tokensOrFlagsChangedTicks: AsyncStream<Void>.Continuation
    /// Where the store logs its queries and the pool its background work, unless told otherwise.
    public static let logger = Logger(label: "ripcord.store.postgres")

    private init(configuration: PostgresClient.Configuration, logger: Logger) {
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        (tokensOrFlagsChanged, tokensOrFlagsChangedTicks) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        // Started at once, not scheduled: the first query must not find the pool not yet running.
        running = Task.immediate { [client] in await client.run() }
    }

    /// Brings the database's schema up to date with the migration engine (`PostgresStateSchema`), then
    /// opens a pool of connections to it.
    public static func open(database: PostgresMigrationDatabase, logger: Logger = logger) async throws -> PostgresStateStore {
        try await PostgresStateSchema.migrate(database)
        return PostgresStateStore(configuration: try database.clientConfiguration(), logger: logger)
    }

    /// The fence every write that acts on a rollout passes: a controller sets it as it starts or stops leading.
    public var fence: WriteFence {
        get { fenceBox.withLockedValue { $0 } }
        set { fenceBox.withLockedValue { $0 = newValue } }
    }

    /// Closes the pool's connections; the store answers nothing afterwards.
    public func close() async {
        listening.withLockedValue { $0 }?.cancel()
        tokensOrFlagsChangedTicks.finish()
        running.cancel()
        await running.value
    }

    /// Keeps the task that listens for other controllers' events, to cancel it on close.
    func listen(_ task: Task<Void, Never>) {
        listening.withLockedValue { $0 = task }
    }

    deinit {
        listening.withLockedValue { $0 }?.cancel()
        running.cancel()
    }

    // MARK: Transactions and queries

    /// Runs `body` in one transaction: its writes land together or not at all.
    func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: Self.logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if let refused = error.closureError as? StaleLeaderWrite { throw refused }
            throw PostgresStateStoreError(error.closureError ?? error.commitError ?? error.beginError ?? error)
        } catch {
            throw PostgresStateStoreError(error)
        }
    }

    /// A transaction that acts on a rollout: refused (`StaleLeaderWrite`) unless this controller holds the
    /// lease in the term it was elected with, checked inside the transaction itself.
    func write<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        let fence = self.fence
        if fence == .standingBy { throw StaleLeaderWrite(fence: fence) }
        return try await transaction { connection in
            try await Self.checkFence(fence, connection)
            return try await body(connection)
        }
    }

    /// The rows of one query outside a transaction, each decoded by `decode`.
    func rows<Row>(_ query: PostgresQuery, _ decode: (PostgresRow) throws -> Row?) async throws -> [Row] {
        do {
            var rows: [Row] = []
            for try await row in try await client.query(query, logger: Self.logger) {
                if let decoded = try decode(row) { rows.append(decoded) }
            }
            return rows
        } catch let error as PostgresStateStoreError {
            throw error
        } catch {
            throw PostgresStateStoreError(error)
        }
    }

    // MARK: Revisions

    public func appendRevision(service: String, version: SemanticVersion, spec: ServiceSpec, note: String, at: Moment) async throws -> Revision {
        let specJSON = try JSONCoding.encode(spec)
        return try await write { connection in
            // Numbers are per service: two controllers appending at once must not both pick MAX + 1.
            try await connection.run("SELECT pg_advisory_xact_lock(hashtextextended('ripcord.revision:' || \(service), 0))")
            let last = try await connection.first("SELECT COALESCE(MAX(number), 0) FROM revision WHERE service = \(service)", as: Int64.self) ?? 0
            let revision = Revision(service: service, number: Int(last) + 1, version: version, spec: spec, createdAt: at, note: note)
            try await connection.run(
                """
                INSERT INTO revision (service, number, version, spec, created_at, note)
                VALUES (\(service), \(Int64(revision.number)), \(version.description), \(specJSON), \(at.millisecondsSinceEpoch), \(note))
                """)
            return revision
        }
    }

    public func revisions(service: String) async throws -> [Revision] {
        try await rows("SELECT service, number, version, spec, created_at, note FROM revision WHERE service = \(service) ORDER BY number", Self.revision)
    }

    public func stableRevision(service: String) async throws -> Revision? {
        try await rows(
            """
            SELECT revision.service, revision.number, revision.version, revision.spec, revision.created_at, revision.note
            FROM stable JOIN revision ON revision.service = stable.service AND revision.number = stable.revision
            WHERE stable.service = \(service)
            """, Self.revision
        ).first
    }

    private static func revision(_ row: PostgresRow) throws -> Revision {
        let (service, number, version, spec, createdAt, note) = try row.decode((String, Int64, String, String, Int64, String).self)
        return Revision(
            service: service, number: Int(number), version: try SemanticVersion(parsing: version), spec: try JSONCoding.decode(ServiceSpec.self, spec),
            createdAt: Moment(millisecondsSinceEpoch: createdAt), note: note)
    }

    // MARK: Rollouts

    public func createRollout(at: Moment, events: [EventDraft], _ make: @Sendable (Int64) -> Rollout) async throws -> Rollout {
        let (rollout, stored) = try await write { connection in
            let id = try await connection.first(
                "INSERT INTO rollout (service, phase, terminal, state, updated_at) VALUES ('', '', FALSE, '', \(at.millisecondsSinceEpoch)) RETURNING id",
                as: Int64.self)
            let rollout = make(try PostgresStateStoreError.require(id, "INSERT INTO rollout returned no id"))
            try await Self.update(connection, rollout, at: at)
            return (rollout, try await Self.insert(connection, events: events, service: rollout.service, rolloutID: rollout.id, at: at))
        }
        await relay.publish(stored, to: eventFeed)
        return rollout
    }

    public func save(_ rollout: Rollout, events: [EventDraft], at: Moment) async throws -> [Event] {
        let stored = try await write { connection in
            try await Self.update(connection, rollout, at: at)
            if rollout.phase == .promoted {
                try await connection.run(
                    """
                    INSERT INTO stable (service, revision) VALUES (\(rollout.service), \(Int64(rollout.revision)))
                    ON CONFLICT (service) DO UPDATE SET revision = excluded.revision
                    """)
                // Promoted after all (deployed with --force): the evidence now says it is good.
                try await connection.run("DELETE FROM rejected_version WHERE service = \(rollout.service) AND version = \(rollout.candidateVersion.description)")
            }
            // In the same transaction as the rollback, so no crash can forget that the version failed.
            if let rejection = rollout.rejection { try await Self.insert(connection, rejection) }
            return try await Self.insert(connection, events: events, service: rollout.service, rolloutID: rollout.id, at: at)
        }
        await relay.publish(stored, to: eventFeed)
        return stored
    }

    private static func update(_ connection: PostgresConnection, _ rollout: Rollout, at: Moment) async throws {
        let state = try JSONCoding.encode(rollout)
        // A finished rollout is history: nothing may turn it back into a live one.
        try await connection.run(
            """
            UPDATE rollout SET service = \(rollout.service), phase = \(rollout.phase.rawValue), terminal = \(rollout.isTerminal), state = \(state),
                updated_at = \(at.millisecondsSinceEpoch)
            WHERE id = \(rollout.id) AND NOT terminal
            """)
    }

    public func rollout(id: Int64) async throws -> Rollout? {
        try await rows("SELECT state FROM rollout WHERE id = \(id)") { try JSONCoding.decode(Rollout.self, try $0.decode(String.self)) }.first
    }

    public func rollouts(service: String, limit: Int) async throws -> [Rollout] {
        try await rows("SELECT state FROM rollout WHERE service = \(service) ORDER BY id DESC LIMIT \(Int64(limit))") {
            try JSONCoding.decode(Rollout.self, try $0.decode(String.self))
        }
    }

    public func activeRollouts() async throws -> [Rollout] {
        try await rows("SELECT state FROM rollout WHERE NOT terminal ORDER BY id") { try JSONCoding.decode(Rollout.self, try $0.decode(String.self)) }
    }

    // MARK: Events

    public func record(service: String, rolloutID: Int64?, events: [EventDraft], at: Moment) async throws -> [Event] {
        guard !events.isEmpty else { return [] }
        let stored = try await write { connection in
            try await Self.insert(connection, events: events, service: service, rolloutID: rolloutID, at: at)
        }
        await relay.publish(stored, to: eventFeed)
        return stored
    }

    /// The event stream (GET /api/v1/events) reads `events(afterID:)` after each wake-up and then never
    /// looks below the last id it saw, so ids must become visible in increasing order. A sequence alone
    /// does not promise that: two writers take ids 7 and 8, the one with 8 commits first, a reader sees 8
    /// and moves past 7 for good. Event writers therefore take one transaction-level advisory lock before
    /// they take ids and keep it until they commit, so ids are handed out and committed in the same order.
    /// It is taken last in each transaction (only event inserts follow), so it waits on no row lock.
    static let eventOrderLock: Int64 = 0x5249_5043_4F52_45  // "RIPCORE"

    @discardableResult
    static func insert(_ connection: PostgresConnection, events: [EventDraft], service: String, rolloutID: Int64?, at: Moment) async throws -> [Event] {
        guard !events.isEmpty else { return [] }
        try await connection.run("SELECT pg_advisory_xact_lock(\(eventOrderLock))")
        var stored: [Event] = []
        for draft in events {
            let evidence = try JSONCoding.encode(draft.evidence)
            let id = try await connection.first(
                """
                INSERT INTO event (at, service, rollout_id, kind, message, evidence, actor)
                VALUES (\(at.millisecondsSinceEpoch), \(service), \(rolloutID), \(draft.kind.rawValue), \(draft.message), \(evidence), \(draft.actor))
                RETURNING id
                """, as: Int64.self)
            stored.append(
                Event(
                    id: try PostgresStateStoreError.require(id, "INSERT INTO event returned no id"), at: at, service: service, rolloutID: rolloutID,
                    kind: draft.kind, message: draft.message, evidence: draft.evidence, actor: draft.actor))
        }
        // Delivered at commit, to every controller listening (`followOtherWriters`).
        try await connection.run("SELECT pg_notify(\(eventsChannel), '')")
        return stored
    }

    public func lastEventID() async throws -> Int64 {
        try await rows("SELECT COALESCE(MAX(id), 0) FROM event") { try $0.decode(Int64.self) }.first ?? 0
    }

    public func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) async throws -> [Event] {
        try await rows(
            """
            SELECT \(unescaped: Self.eventColumns) FROM event
            WHERE id > \(afterID) AND (\(service)::text IS NULL OR service = \(service)) AND (\(rolloutID)::bigint IS NULL OR rollout_id = \(rolloutID))
            ORDER BY id LIMIT \(Int64(limit))
            """, Self.event)
    }

    public func events(kinds: Set<EventKind>, since: Moment, service: String?, limit: Int) async throws -> [Event] {
        let kindList = kinds.map(\.rawValue).sorted()
        return try await rows(
            """
            SELECT \(unescaped: Self.eventColumns) FROM event
            WHERE kind = ANY(\(kindList)) AND at >= \(since.millisecondsSinceEpoch) AND (\(service)::text IS NULL OR service = \(service))
            ORDER BY id LIMIT \(Int64(limit))
            """, Self.event)
    }

    private static let eventColumns = "id, at, service, rollout_id, kind, message, evidence, actor"

    private static func event(_ row: PostgresRow) throws -> Event {
        let (id, at, service, rolloutID, kind, message, evidence, actor) = try row.decode((Int64, Int64, String, Int64?, String, String, String, String?).self)
        return Event(
            id: id, at: Moment(millisecondsSinceEpoch: at), service: service, rolloutID: rolloutID, kind: EventKind(rawValue: kind), message: message,
            evidence: try JSONCoding.decode([String: String].self, evidence), actor: actor)
    }

    // MARK: Instances

    public func saveInstance(_ instance: InstanceRecord) async throws {
        let driver = try JSONCoding.encode(instance.driver)
        try await write { connection in
            try await connection.run(
                """
                INSERT INTO instance (id, service, version, host, port, pid, started_at, role, driver, handle, starting)
                VALUES (\(instance.id), \(instance.service), \(instance.version.description), \(instance.host), \(Int64(instance.port)),
                    \(Int64(instance.pid)), \(instance.startedAt.millisecondsSinceEpoch), \(instance.role.rawValue), \(driver), \(instance.handle),
                    \(instance.starting))
                ON CONFLICT (id) DO UPDATE SET service = excluded.service, version = excluded.version, host = excluded.host, port = excluded.port,
                    pid = excluded.pid, started_at = excluded.started_at, role = excluded.role, driver = excluded.driver, handle = excluded.handle,
                    starting = excluded.starting
                """)
        }
    }

    public func removeInstance(id: String) async throws {
        try await write { connection in try await connection.run("DELETE FROM instance WHERE id = \(id)") }
    }

    public func instances(service: String) async throws -> [InstanceRecord] {
        // COLLATE "C": ties ordered by bytes, as SQLite orders them, whatever the database's locale.
        try await rows(
            """
            SELECT id, service, version, host, port, pid, started_at, role, driver, handle, starting FROM instance
            WHERE service = \(service) ORDER BY started_at, id COLLATE "C"
            """
        ) { row in
            let (id, service, version, host, port, pid, startedAt, role, driver, handle, starting) = try row.decode(
                (String, String, String, String, Int64, Int64, Int64, String, String?, String?, Bool).self)
            return InstanceRecord(
                id: id, service: service, version: try SemanticVersion(parsing: version), host: host, port: Int(port), pid: Int32(truncatingIfNeeded: pid),
                startedAt: Moment(millisecondsSinceEpoch: startedAt), role: InstanceRole(rawValue: role) ?? .stable,
                driver: try driver.map { try JSONCoding.decode(DriverSpec.self, $0) } ?? .process, handle: handle, starting: starting)
        }
    }
}

/// A query or transaction that failed, with the server's own words (postgres-nio keeps them out of
/// `description` on purpose, so a log would say only "server error").
public struct PostgresStateStoreError: Error, CustomStringConvertible {
    public let description: String

    init(_ error: any Error) {
        if let error = error as? PostgresStateStoreError {
            self = error
        } else if let error = error as? PSQLError, let server = error.serverInfo, let message = server[.message] {
            description = [message, server[.detail], server[.hint].map { "hint: \($0)" }].compactMap { $0 }.joined(separator: "; ")
        } else {
            description = String(reflecting: error)
        }
    }

    init(message: String) { description = message }

    static func require<Value>(_ value: Value?, _ problem: String) throws -> Value {
        guard let value else { throw PostgresStateStoreError(message: problem) }
        return value
    }
}

extension PostgresConnection {
    /// Runs a statement whose rows (if any) do not matter.
    func run(_ query: PostgresQuery) async throws {
        for try await _ in try await self.query(query, logger: PostgresStateStore.logger) {}
    }

    /// The first column of the first row, if there is one. Reads every row: the connection takes its
    /// next query only once this one's rows are consumed.
    func first<Value: PostgresDecodable>(_ query: PostgresQuery, as type: Value.Type) async throws -> Value? {
        var first: Value?
        for try await row in try await self.query(query, logger: PostgresStateStore.logger) where first == nil {
            first = try row.decode(Value.self)
        }
        return first
    }
}
