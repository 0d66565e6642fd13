import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RipcordCore
import RipcordDrivers

/// Sends the events each notification subscribes to, in order and off the reconciler's path:
/// `deliver` only queues. A delivery is tried three times; one that still fails is recorded as a
/// `notification.failed` event naming the notification — never its URL or headers, which may hold secrets.
/// Each message names the service's owners, so whoever reads it knows whom to call.
public final class WebhookNotifier: EventSink {
    private let specs: [NotificationSpec]
    private let queue: AsyncStream<(NotificationSpec, Event)>.Continuation
    private let worker: Task<Void, Never>

    public init(
        _ specs: [NotificationSpec], store: any RolloutStore, client: HTTPClient = .shared,
        clock: any RipcordClock = WallClock(), owners: @escaping @Sendable (String) async -> [ServiceOwner] = { _ in [] }, logger: Logger
    ) {
        self.specs = specs
        let (stream, queue) = AsyncStream.makeStream(of: (NotificationSpec, Event).self)
        self.queue = queue
        worker = Task {
            for await (spec, event) in stream {
                guard let failure = await Self.send(event, owners: await owners(event.service), to: spec, client: client) else { continue }
                logger.warning("notification \(spec.name) for event \(event.id) failed: \(failure)")
                do {
                    try await store.record(
                        service: event.service, rolloutID: event.rolloutID,
                        events: [
                            EventDraft(
                                .notificationFailed, "could not notify \(spec.name) of \(event.kind): \(failure)",
                                evidence: ["notification": spec.name, "event": String(event.id), "error": failure])
                        ], at: clock.now)
                } catch {
                    logger.error("cannot record a failed notification: \(error)")
                }
            }
        }
    }

    public func deliver(_ events: [Event]) async {
        for event in events {
            for spec in specs where spec.events.contains(event.kind) { queue.yield((spec, event)) }
        }
    }

    /// Sends what is queued, then stops.
    public func shutdown() async {
        queue.finish()
        await worker.value
    }

    /// Returns nil on success, else why the last attempt failed (without the URL).
    static func send(_ event: Event, owners: [ServiceOwner], to spec: NotificationSpec, client: HTTPClient) async -> String? {
        let headers: [String: String]
        do { headers = try spec.headers.resolvedHeaders() } catch {
            return "\(error)"
        }
        var failure = "not sent"
        for attempt in 1...3 {
            var request = HTTPClientRequest(url: spec.url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.headers.add(name: "user-agent", value: "ripcord")
            for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: payload(event, owners: owners, format: spec.format)))
            do {
                let response = try await client.execute(request, timeout: .milliseconds(spec.timeout.milliseconds))
                _ = try? await response.body.collect(upTo: 1 << 16)
                if (200..<300).contains(Int(response.status.code)) { return nil }
                failure = "HTTP \(response.status.code)"
            } catch {
                // AsyncHTTPClient's errors name no URL; keep them short all the same.
                failure = String(describing: error).prefix(200).description
            }
            if attempt < 3 { try? await Task.sleep(for: .seconds(attempt)) }
        }
        return failure
    }

    static func payload(_ event: Event, owners: [ServiceOwner] = [], format: NotificationSpec.Format) -> Data {
        let object: [String: Any]
        switch format {
        case .json:
            object = [
                "event": event.kind.rawValue, "service": event.service, "rolloutID": event.rolloutID.map { $0 as Any } ?? NSNull(),
                "at": event.at.description, "message": event.message, "evidence": event.evidence,
                "actor": event.actor.map { $0 as Any } ?? NSNull(), "owners": owners.map { ["name": $0.name, "contact": $0.contact] },
            ]
        case .slack:
            let owned = owners.isEmpty ? "" : " — owners: " + owners.map { "\($0.name) (\($0.contact))" }.joined(separator: ", ")
            object = ["text": "\(symbol(of: event.kind)) *\(event.service)*: \(event.message)" + (event.actor.map { " (by \($0))" } ?? "") + owned]
        }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    private static func symbol(of kind: EventKind) -> String {
        switch kind {
        case .rolloutRolledBack: ":rotating_light:"
        case .rolloutPromoted: ":white_check_mark:"
        case .rolloutPaused: ":double_vertical_bar:"
        case .rolloutStarted: ":rocket:"
        default: ":information_source:"
        }
    }
}
