/// The bookkeeping of a keep-alive connection pool to one backend on one event loop, as a value
/// type: it decides, the owner acts (connects, closes). It never blocks and never waits: a lease
/// either reuses an idle connection or asks the owner to open a new one.
///
/// Idle connections are reused last-in first-out so that the warmest connections stay busy and
/// surplus ones age out (the backend's own keep-alive timeout closes them; the owner then reports
/// `idleConnectionClosed`).
struct UpstreamPoolStateMachine<Connection: AnyObject> {
    /// Idle connections ready for reuse; the last one is the most recently released.
    private(set) var idle: [Connection] = []
    /// Connections handed out and not yet released.
    private(set) var leased = 0
    /// Connection attempts in progress.
    private(set) var connecting = 0
    /// Whether the pool was closed: no new leases, released connections are closed.
    private(set) var isClosed = false
    /// At most this many idle connections are kept; surplus released connections are closed.
    let maxIdle: Int

    init(maxIdle: Int = 256) {
        self.maxIdle = maxIdle
    }

    enum LeaseAction {
        /// Use this idle connection (now counted as leased).
        case reuse(Connection)
        /// Open a new connection, then report `connectSucceeded` or `connectFailed`.
        case connect
        /// The pool is closed.
        case refuse
    }

    mutating func lease() -> LeaseAction {
        if isClosed { return .refuse }
        if let connection = idle.popLast() {
            leased += 1
            return .reuse(connection)
        }
        connecting += 1
        return .connect
    }

    /// A connection attempt succeeded: the new connection is leased to whoever asked for it.
    mutating func connectSucceeded() {
        precondition(connecting > 0, "connectSucceeded without a connection attempt")
        connecting -= 1
        leased += 1
    }

    /// A connection was established but turned out unusable before it was handed out.
    mutating func connectFailedAfterSuccess() {
        precondition(leased > 0, "connectFailedAfterSuccess without a lease")
        leased -= 1
    }

    mutating func connectFailed() {
        precondition(connecting > 0, "connectFailed without a connection attempt")
        connecting -= 1
    }

    enum ReleaseAction: Equatable {
        /// The connection is idle in the pool now.
        case parked
        /// Close the connection: it is not reusable, the pool is closed, or it is full.
        case close
    }

    /// Gives back a leased connection. `reusable` is false when the connection must not carry
    /// another request (the response said `Connection: close`, it was cut short, or it died).
    mutating func release(_ connection: Connection, reusable: Bool) -> ReleaseAction {
        precondition(leased > 0, "release without a lease")
        leased -= 1
        guard reusable, !isClosed, idle.count < maxIdle else { return .close }
        idle.append(connection)
        return .parked
    }

    /// An idle connection was closed by the peer; forget it. Returns whether it was idle here.
    @discardableResult
    mutating func idleConnectionClosed(_ connection: Connection) -> Bool {
        guard let index = idle.lastIndex(where: { $0 === connection }) else { return false }
        idle.remove(at: index)
        return true
    }

    /// Closes the pool: returns the idle connections for the owner to close. Leased connections
    /// are closed when they are released.
    mutating func close() -> [Connection] {
        isClosed = true
        let connections = idle
        idle.removeAll()
        return connections
    }

    /// Connections that still need the pool: leased ones and attempts in progress.
    var busy: Int { leased + connecting }
}
