import RipcordCore
import RipcordHooks

/// Lifecycle hooks: the service's hooks at a point run one after the other, each recorded with its
/// result, output and duration. At gating points they run beside the reconciler (an abort still gets
/// through) and report `hooksFinished`; the first failure is the rollback's trigger.
extension Controller {
    func runHooks(_ point: HookPoint, service name: String, rolloutID: Int64) async {
        guard let state = services[name], let rollout = state.rollout, rollout.id == rolloutID else { return }
        let hooks = (state.candidateSpec ?? state.spec).hooks.filter { $0.point == point }
        let context = HookContext(point: point, service: name, rolloutID: rolloutID, version: rollout.candidateVersion.description,
                                  stableVersion: rollout.stableVersion?.description, phase: rollout.phase.rawValue,
                                  candidateWeight: rollout.candidateWeight, step: point == .afterStep ? rollout.stepIndex : nil,
                                  frontDoor: (frontDoors[name] ?? state.spec.listen).description, trigger: rollout.trigger?.kind.rawValue)
        guard point.gatesRollout else {
            // Told what happened; the outcome changes nothing.
            _ = await runInOrder(hooks, context: context)
            return
        }
        let mailbox = state.mailbox
        services[name]?.hookRun?.cancel()
        services[name]?.hookRun = Task {
            let failure = await self.runInOrder(hooks, context: context)
            if !Task.isCancelled { mailbox?.yield(.hooksFinished(point, failure: failure)) }
        }
    }

    func cancelHooks(service name: String) {
        services[name]?.hookRun?.cancel()
        services[name]?.hookRun = nil
    }

    /// Returns the first failure of a gating hook as a trigger; later hooks at the point do not run.
    private func runInOrder(_ hooks: [HookSpec], context: HookContext) async -> Trigger? {
        for hook in hooks {
            let outcome = await hookExecutor.run(hook, context: context)
            guard !Task.isCancelled else { return nil }
            let evidence = ["hook": hook.name, "point": context.point.rawValue, "result": outcome.result,
                            "output": outcome.output, "duration": outcome.duration.description]
            let verdict = outcome.passed ? "passed" : "failed"
            await recordEvent(service: context.service, rolloutID: context.rolloutID, EventDraft(
                "hook.\(verdict)", "hook \(hook.name) (\(context.point.rawValue)) \(verdict): \(outcome.result) in \(outcome.duration)",
                evidence: evidence))
            if !outcome.passed, context.point.gatesRollout {
                return Trigger(kind: .hookFailed, message: "hook \(hook.name) (\(context.point.rawValue)) \(outcome.result)", evidence: evidence)
            }
        }
        return nil
    }
}
