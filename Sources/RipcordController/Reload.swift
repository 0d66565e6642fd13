import RipcordCore
import RipcordWire

extension Controller {
    /// Applies a re-read configuration without a restart (`ripcord reload`, SIGHUP). New services open their
    /// doors and are supervised; removed ones stop taking requests, drain and stop their instances; changed
    /// ones roll out with their new settings from their next rollout (`deploy --config-changed` rolls the
    /// running version out with them), and a moved front door rebinds. Refused as a whole, before anything
    /// changes, when it would remove or move the door of a service that is rolling out. A door that cannot be
    /// bound stops the reload there (409 `front_door_unavailable`); `config` keeps saying what was applied.
    public func reload(_ new: RipcordConfiguration, actor: String? = nil) async throws -> ReloadSummary {
        let old = Dictionary(uniqueKeysWithValues: config.services.map { ($0.name, $0) })
        let next = Dictionary(uniqueKeysWithValues: new.services.map { ($0.name, $0) })
        let removed = old.keys.filter { next[$0] == nil }.sorted()
        let added = new.services.map(\.name).filter { old[$0] == nil }
        let changed = new.services.map(\.name).filter { old[$0] != nil && old[$0] != next[$0] }
        let moved = changed.filter { old[$0]?.listen != next[$0]?.listen || old[$0]?.previewListen != next[$0]?.previewListen }
        if standingBy {
            // Nothing runs here to change (the leader applies its own reload): this controller leads with these services.
            let needsRestart = new.keysNeedingRestart(from: config)
            config.services = new.services
            for name in removed { services[name] = nil }
            for spec in new.services { services[spec.name, default: ServiceState(spec: spec)].spec = spec }
            return ReloadSummary(added: added, removed: removed, changed: changed, needsRestart: needsRestart)
        }
        for name in removed + moved { try await ensureNoActiveRollout(name) }

        for name in added {
            guard let spec = next[name] else { continue }
            services[name] = ServiceState(spec: spec)
            // A service removed and added again comes back with its stable version (the supervisor starts it).
            services[name]?.stableVersion = try await store.stableRevision(service: name)?.version
            do {
                frontDoors[name] = try await openDoor(spec)
            } catch {
                services[name] = nil
                throw error
            }
            config.services.append(spec)
            await recordEvent(service: name, rolloutID: nil, EventDraft(.serviceAdded, "added by a configuration reload, front door \(frontDoor(of: name))", actor: actor))
        }
        for name in removed {
            // Out of the services first, so supervision starts no repair of it; then any repair under way stops.
            let stable = services.removeValue(forKey: name)?.stable ?? []
            for task in [stableRepairs.removeValue(forKey: name), guards.removeValue(forKey: name)].compactMap({ $0 }) {
                task.cancel()
                await task.value
            }
            try await traffic.removeService(name: name)
            frontDoors[name] = nil
            config.services.removeAll { $0.name == name }
            await instances.drainAndStop(stable)
            await recordEvent(
                service: name, rolloutID: nil,
                EventDraft(.serviceRemoved, "removed by a configuration reload: front door closed, \(stable.count) instances drained and stopped", actor: actor))
        }
        for name in changed {
            guard let spec = next[name], let before = old[name] else { continue }
            if moved.contains(name) {
                try await traffic.removeService(name: name)
                do {
                    frontDoors[name] = try await openDoor(spec)
                } catch {
                    // Back to the door it had, so this service at least is as before.
                    frontDoors[name] = try? await openDoor(before)
                    try? await publishRoutes(service: name)
                    throw error
                }
                try await publishRoutes(service: name)
            }
            services[name]?.spec = spec
            if let index = config.services.firstIndex(where: { $0.name == name }) { config.services[index] = spec }
            let keys = spec.changedKeys(from: before)
            await recordEvent(
                service: name, rolloutID: nil,
                EventDraft(
                    .serviceReconfigured,
                    "configuration reloaded (\(keys.joined(separator: ", "))): "
                        + (moved.contains(name) ? "front door now \(frontDoor(of: name)); " : "")
                        + "the next rollout uses it (deploy --config-changed rolls the running version out with it)",
                    evidence: ["changed": keys.joined(separator: ",")], actor: actor))
        }
        let needsRestart = new.keysNeedingRestart(from: config)
        config.services = new.services  // the file's order
        return ReloadSummary(added: added, removed: removed, changed: changed, needsRestart: needsRestart)
    }

    /// A reload's new or moved door: an address taken by another program is the file's problem, not a crash.
    private func openDoor(_ spec: ServiceSpec) async throws -> HostPort {
        do {
            return try await traffic.addService(name: spec.name, listen: spec.listen, previewListen: spec.previewListen)
        } catch {
            throw ControllerError(.conflict, "front_door_unavailable", "cannot open \(spec.name)'s front door at \(spec.listen): \(error); the reload stopped there")
        }
    }
}
