import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RipcordCore
import RipcordWire
import ServiceLifecycle

extension RipcordAPI {
    /// `GET /api/v1/events`: the events as they are stored, as server-sent events (`event: <kind>`,
    /// `id: <event id>`, `data: <EventView JSON>`). `?service=` and `?release=` filter; a reconnecting
    /// client sends `Last-Event-ID` (or `?after=`) and gets everything after it, in order, nothing twice.
    /// Without either it starts with what is stored from now on. The stream ends within a second of its
    /// token being revoked, rotated or expiring, and sends nothing after.
    static func addEventStreamRoute(to api: RouterGroup<BasicRequestContext>, controller: some RolloutOperations, authenticator: TokenAuthenticator?) {
        api.get("events") { request, _ -> Response in
            let service = try request.uri.queryParameters["service"].map { try InputValidation.serviceName(String($0), field: "service") }
            let release = try integer(request, "release")
            if let service { _ = try await controller.status(service: service) }
            let members: Set<Int64> =
                if let release { Set(try await controller.releaseDetail(id: release).members.compactMap(\.rollout?.id)) } else { [] }
            let resume = try lastEventID(request)
            let token = request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) }
            /// Checked before anything is sent and once a second: the middleware's check held when the stream opened.
            @Sendable func tokenStillValid() -> Bool {
                guard let authenticator else { return true }
                return token.flatMap(authenticator.principal(for:)) != nil
            }
            // Subscribe before reading where to start, so nothing stored in between is missed.
            let wakeUps = await controller.eventFeed.subscribe(.latest, heartbeat: .seconds(1))
            let start: Int64
            if let resume { start = resume } else { start = try await controller.lastEventID() }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    var sent = start
                    var filter = EventFilter(release: release, members: members)
                    /// Everything stored after `sent` that passes the filter, in pages.
                    func sendStored() async throws {
                        while true {
                            let page = try await controller.events(service: service, rolloutID: nil, afterID: sent, limit: 500)
                            for event in page where filter.admits(event) {
                                var buffer = ByteBuffer(string: "event: \(event.kind.rawValue)\nid: \(event.id)\ndata: ")
                                buffer.writeBytes(try encoder.encode(EventView(event)))
                                buffer.writeString("\n\n")
                                try await writer.write(buffer)
                            }
                            sent = page.last?.id ?? sent
                            if page.count < 500 { return }
                        }
                    }
                    try await withGracefulShutdownHandler {
                        guard tokenStillValid() else { return }
                        try await sendStored()
                        var quietSeconds = 0
                        for await batch in wakeUps {
                            guard tokenStillValid() else { break }
                            if !batch.isEmpty {
                                quietSeconds = 0
                                try await sendStored()
                            } else if quietSeconds >= 14 {
                                // A comment line every 15 s keeps proxies from closing an idle stream.
                                quietSeconds = 0
                                try await writer.write(ByteBuffer(string: ":\n\n"))
                            } else {
                                quietSeconds += 1
                            }
                        }
                    } onGracefulShutdown: {
                        Task { await controller.eventFeed.finish() }
                    }
                    try await writer.finish(nil)
                })
        }
    }

    /// Where a reconnecting client left off: the `Last-Event-ID` header, else `?after=`.
    private static func lastEventID(_ request: Request) throws -> Int64? {
        if let header = request.headers[HTTPField.Name("Last-Event-ID")!] {
            guard let id = Int64(header.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                throw InputValidation.invalid("Last-Event-ID", "Last-Event-ID must be an event id (a non-negative whole number)", code: "invalid_header")
            }
            return id
        }
        return try integer(request, "after")
    }
}

/// Which events a release's stream carries: its members' rollouts, and any event naming the release
/// (an undo started for a member joins the set then).
struct EventFilter {
    let release: Int64?
    var members: Set<Int64>

    mutating func admits(_ event: Event) -> Bool {
        guard let release else { return true }
        if event.evidence["release"] == String(release) {
            if let rollout = event.rolloutID { members.insert(rollout) }
            return true
        }
        return event.rolloutID.map(members.contains) ?? false
    }
}
