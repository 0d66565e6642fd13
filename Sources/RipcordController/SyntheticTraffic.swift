import RipcordCore
import RipcordDrivers

/// Synthetic traffic beside a rollout: while the candidate is being judged and its real requests stay
/// below `minRequests` per window, Ripcord sends `rps` requests a second to it through the front
/// door, pinned. Starting and stopping are events with the counts, so evidence built on synthetic
/// requests says so.
extension RolloutReconciler {
    nonisolated func runSyntheticTraffic(_ spec: SyntheticTrafficSpec, analysis: AnalysisSpec) async {
        let name = service
        let requester = SyntheticRequester()
        let clock = parts.clock
        let period = TimeSpan(milliseconds: max(1, Int64((1000 / spec.requestsPerSecond).rounded())))
        var sent: UInt64 = 0
        var failed: UInt64 = 0
        // Until an interval has been measured, real traffic is presumed too thin: it sends from the start.
        var pacer = SyntheticTrafficPacer(minRequests: analysis.minRequests)
        var announced = false
        var intervalEndsAt: Moment?
        while !Task.isCancelled {
            let rollout = await self.rollout
            guard !rollout.isTerminal else { break }
            let judged = rollout.analysisActive && (rollout.candidateWeight > 0 || rollout.phase == .preview)
            if judged {
                let frontDoor = await controller.frontDoor(of: name)
                let now = clock.now
                if !announced {
                    announced = true
                    await parts.recorder.record(
                        service: name, rolloutID: rollout.id,
                        EventDraft(
                            .syntheticStarted,
                            "sending \(formatDecimal(spec.requestsPerSecond)) synthetic requests/s to \(rollout.candidateVersion) while its real traffic stays below the \(analysis.minRequests) requests a window needs",
                            evidence: ["minRequests": String(analysis.minRequests), "rps": formatDecimal(spec.requestsPerSecond), "path": spec.path]))
                }
                if intervalEndsAt.map({ now >= $0 }) ?? true {
                    let candidate = await parts.traffic.metrics(service: name, version: rollout.candidateVersion, role: .candidate).requests
                    if let (changed, real) = pacer.intervalEnded(candidateRequests: candidate, sent: sent), changed {
                        let sending = pacer.sending
                        await parts.recorder.record(
                            service: name, rolloutID: rollout.id,
                            EventDraft(
                                sending ? .syntheticStarted : .syntheticStopped,
                                sending
                                    ? "\(real) real requests in the last \(analysis.interval), below the \(analysis.minRequests) a window needs: sending \(formatDecimal(spec.requestsPerSecond)) synthetic requests/s to \(rollout.candidateVersion)"
                                    : "\(real) real requests in the last \(analysis.interval): synthetic requests paused",
                                evidence: [
                                    "realRequests": String(real), "minRequests": String(analysis.minRequests),
                                    "syntheticSent": String(sent), "syntheticFailed": String(failed),
                                    "rps": formatDecimal(spec.requestsPerSecond), "path": spec.path,
                                ]))
                    }
                    intervalEndsAt = now + analysis.interval
                }
                if pacer.sending {
                    sent += 1
                    let status = await requester.send(spec, frontDoor: frontDoor)
                    if status.map({ $0 >= 500 }) ?? true { failed += 1 }
                    await countSynthetic(sent)
                }
            }
            try? await clock.sleep(for: period)
        }
    }
}
