import Logging
import RipcordCore

/// The flags a release declares (its service's `flags:`) are turned off when it is rolled back, once
/// traffic is back on the stable version: each flag is an event on the rollout, and its change is in
/// the flag's history as made by "ripcord", with the rollout and its trigger as the reason.
extension Controller {
    /// Turns off every flag the rollout declared, recording `flag.disabled` or `flag.disableFailed`
    /// per flag; a failure does not stop the others (or the rollback). Safe to repeat: a flag that is
    /// already off is recorded as such and left unchanged. Also for a release that rolls back several
    /// services' rollouts together.
    public func disableDeclaredFlags(of rollout: Rollout) async {
        // An undo that fails returns to the release that uses the flags: they stay as they are.
        let declared = rollout.kind == .deploy ? rollout.declaredFlags ?? [] : []
        guard !declared.isEmpty else { return }
        let cause = rollout.trigger.map { "\($0.kind.rawValue): \($0.message)" } ?? "rolled back"
        let reason = "rollout \(rollout.id) of \(rollout.service) \(rollout.candidateVersion) rolled back (\(cause))"
        for flag in declared {
            let label = "flag \(flag.name) (\(flag.environment))"
            var evidence = [
                "flag": flag.name, "environment": flag.environment, "version": rollout.candidateVersion.description,
                "trigger": rollout.trigger?.kind.rawValue ?? "unknown",
            ]
            do {
                guard let flags else { throw ControllerError(.conflict, "no_flag_service", "this controller has no flag service") }
                let changed = try await flags.disable(flag: flag.name, environment: flag.environment, reason: reason)
                evidence["changed"] = String(changed)
                await recordEvent(
                    service: rollout.service, rolloutID: rollout.id,
                    EventDraft(
                        .flagDisabled, changed ? "turned off \(label), declared by \(rollout.candidateVersion)" : "\(label) was already off",
                        evidence: evidence))
            } catch {
                evidence["error"] = "\(error)"
                await recordEvent(
                    service: rollout.service, rolloutID: rollout.id,
                    EventDraft(
                        .flagDisableFailed, "could not turn off \(label): \(error)", evidence: evidence))
            }
        }
    }

    /// After a restart: a rollback recorded before its declared flags were turned off (it has no flag
    /// event yet) turns them off now. One that has any is left alone, so a flag switched back on by a
    /// human stays on.
    func settleDeclaredFlags(after rollout: Rollout) async {
        guard rollout.phase == .rolledBack, !(rollout.declaredFlags ?? []).isEmpty else { return }
        do {
            let events = try await store.events(service: rollout.service, rolloutID: rollout.id, afterID: 0, limit: 100_000)
            guard !events.contains(where: { $0.kind == .flagDisabled || $0.kind == .flagDisableFailed }) else { return }
        } catch {
            logger.error("cannot read the events of rollout \(rollout.id): \(error)")
            return
        }
        await disableDeclaredFlags(of: rollout)
    }
}
