import RipcordCore

/// Standalone routers that stopped reporting, as one analysis sees them. While any is silent the
/// measurements are incomplete, so nothing is judged (a missing router is never "no errors"); its
/// counters are cumulative, so the first window after it is back covers what it carried meanwhile.
/// The events name the routers once when they fall silent and once when all report again.
struct RouterSilence {
    private(set) var silent: [String] = []

    var holdsAnalysis: Bool { !silent.isEmpty }

    /// Takes the routers silent now; returns the event to record when that changed.
    mutating func update(_ now: [String]) -> EventDraft? {
        guard now != silent else { return nil }
        silent = now
        if now.isEmpty {
            return EventDraft(.routersReporting, "every router reports again: analysis goes on", evidence: [:])
        }
        return EventDraft(
            .routersSilent, "no measurements from \(now.joined(separator: ", ")): analysis holds until they report or are forgotten",
            evidence: ["routers": now.joined(separator: ",")])
    }
}
