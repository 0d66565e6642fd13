import PostgresNIO
import RipcordCore

/// Every controller sharing the database hears of the events any of them stores: event writers notify
/// `ripcord_events` in their transaction (PostgreSQL delivers it at commit), and each store reads what it
/// has not yet published. A follower's event stream and metrics so see the leader's decisions. Token and
/// flag writers notify the same channel with `tokensOrFlagsPayload`: a follower re-reads those at once.
extension PostgresStateStore {
    static let eventsChannel = "ripcord_events"
    static let tokensOrFlagsPayload = "tokens-or-flags"

    /// Tells every listening controller, at this transaction's commit, that tokens or flags changed.
    static func notifyTokensOrFlagsChanged(_ connection: PostgresConnection) async throws {
        try await connection.run("SELECT pg_notify(\(eventsChannel), \(tokensOrFlagsPayload))")
    }

    /// Listens until the store closes, reconnecting after a lost connection and catching up each time.
    public func followOtherWriters() async throws {
        await relay.start(after: try await lastEventID())
        let task = Task { [weak self] in
            while !Task.isCancelled, let self {
                do {
                    try await self.client.withConnection { connection in
                        try await connection.listen(on: Self.eventsChannel) { notifications in
                            // Listening before catching up: nothing stored in between is missed.
                            await self.catchUp()
                            self.tokensOrFlagsChangedTicks.yield()
                            for try await notification in notifications {
                                if notification.payload == Self.tokensOrFlagsPayload {
                                    self.tokensOrFlagsChangedTicks.yield()
                                } else {
                                    await self.catchUp()
                                }
                            }
                        }
                    }
                } catch {
                    Self.logger.warning("lost the events channel: \(PostgresStateStoreError(error)); listening again")
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        listen(task)
    }

    private func catchUp() async {
        do {
            while true {
                let events = try await events(service: nil, rolloutID: nil, afterID: await relay.publishedThrough, limit: 1000)
                await relay.publish(events, to: eventFeed)
                if events.count < 1000 { return }
            }
        } catch {
            Self.logger.warning("cannot read new events: \(PostgresStateStoreError(error))")
        }
    }
}

/// Publishes each event to the feed once, in id order, whichever way it arrived (this process wrote it,
/// or a notification said another controller did).
actor EventRelay {
    private(set) var publishedThrough: Int64 = 0

    func start(after id: Int64) { publishedThrough = max(publishedThrough, id) }

    func publish(_ events: [Event], to feed: EventFeed) async {
        let fresh = events.filter { $0.id > publishedThrough }
        guard let last = fresh.last?.id else { return }
        publishedThrough = max(publishedThrough, last)
        await feed.publish(fresh)
    }
}
