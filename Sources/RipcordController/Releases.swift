import Logging
import Foundation
import RipcordCore
import RipcordWire

/// Releases: several services rolled out as one unit. Each member is an ordinary rollout that holds
/// at every release barrier; after each of a member's transitions the release is coordinated again
/// (`Release.coordinate`), which lets held members on together or rolls every member back.
extension Controller {
    /// A member about to be started: the revision it will get and how it rolls out.
    struct PlannedMember {
        var service: String
        var version: SemanticVersion
        var spec: ServiceSpec
        var note: String
        var kind: RolloutKind
        var strategy: Strategy?
        var schema: SchemaPlan?
        var previousRevision: Int?
        var previousVersion: SemanticVersion?
    }

    // MARK: - Commands

    /// Starts every service of the manifest that changes version, after checking the dependency
    /// constraints against what runs and what the release brings. Nothing is recorded when refused.
    public func applyRelease(_ manifest: ReleaseManifest, acceptAppOnlyRollback: Bool = false, actor: String? = nil) async throws -> Release {
        guard !manifest.services.isEmpty else { throw ControllerError(.invalid, "empty_release", "the release names no services") }
        var seen: Set<String> = []
        for target in manifest.services {
            guard services[target.service] != nil else { throw unknownService(target.service) }
            guard seen.insert(target.service).inserted else {
                throw ControllerError(.invalid, "duplicate_service", "the release names \(target.service) more than once")
            }
            if let strategy = target.strategy, let spec = services[target.service]?.spec, strategy.promotesOnTimeAlone(analysis: spec.analysis) {
                throw ControllerError(
                    .invalid, "unanalyzed_strategy",
                    "\(target.service) has no analysis: the release's canary steps would promote it on time alone (write unanalyzed: true under canary to allow it)")
            }
            for required in target.requires.keys where services[required] == nil {
                throw ControllerError(.invalid, "unknown_service", "\(target.service) requires '\(required)', which is not a configured service")
            }
        }
        let running = try await runningRequirements()
        let violations = ReleaseConstraints.violations(of: manifest, running: running)
        if !violations.isEmpty {
            throw ControllerError(.conflict, "constraint_violation", violations.map(\.description).joined(separator: "; "))
        }
        let changing = manifest.services.filter { running[$0.service]?.version != $0.version }
        guard !changing.isEmpty else {
            throw ControllerError(.conflict, "already_stable", "every service of the release already runs its version")
        }
        // Re-applying a desired state after its automatic rollback is refused, not retried.
        for target in changing { _ = try await checkNotRejected(service: target.service, version: target.version, force: false) }
        let flags = manifest.flags ?? []
        return try await launchRelease(
            name: manifest.name, kind: .apply,
            manifest: ReleaseManifest(name: manifest.name, services: changing, flags: flags), undoes: nil, actor: actor
        ) {
            var planned: [PlannedMember] = []
            for target in changing {
                guard var spec = self.services[target.service]?.spec else { throw self.unknownService(target.service) }
                spec.flags += flags.filter { !spec.flags.contains($0) }
                let stable = try await self.store.stableRevision(service: target.service)
                planned.append(
                    PlannedMember(
                        service: target.service, version: target.version, spec: spec, note: "", kind: .deploy, strategy: target.strategy,
                        schema: try await self.planSchema(spec, version: target.version, acceptAppOnlyRollback: acceptAppOnlyRollback),
                        previousRevision: stable?.number, previousVersion: stable?.version))
            }
            return planned
        }
    }

    /// Returns every service of a promoted release (by default the latest) to the revision it had
    /// before, as one release of its own.
    public func undoRelease(id: Int64?, actor: String? = nil) async throws -> Release {
        let target: Release
        if let id {
            guard let found = try await store.release(id: id) else { throw unknownRelease(id) }
            target = found
        } else {
            guard let latest = try await store.releases(limit: 1000).first(where: { $0.phase == .promoted }) else {
                throw ControllerError(.conflict, "nothing_to_undo", "no release has been promoted yet")
            }
            target = latest
        }
        guard target.phase == .promoted else {
            throw ControllerError(.conflict, "not_promoted", "release \(target.id) is \(target.phase.rawValue): only a promoted release can be undone")
        }
        for member in target.members {
            guard member.previousRevision != nil else {
                throw ControllerError(.conflict, "nothing_to_undo", "\(member.service) had no version before release \(target.id), so there is nothing to return it to")
            }
            let stable = try await store.stableRevision(service: member.service)?.version
            guard stable == member.version else {
                throw ControllerError(
                    .conflict, "changed_since_release",
                    "\(member.service) runs \(stable.map(\.description) ?? "nothing") now, not \(member.version) from release \(target.id); undo it on its own")
            }
        }
        let manifest = ReleaseManifest(
            name: "undo \(target.name)",
            services: target.members.map {
                ReleaseTarget(service: $0.service, version: $0.previousVersion!, strategy: Self.undoStrategy)
            })
        return try await launchRelease(name: manifest.name, kind: .undo, manifest: manifest, undoes: target.id, actor: actor) {
            var planned: [PlannedMember] = []
            for member in target.members {
                let plan = try await self.planUndo(service: member.service, toRevision: member.previousRevision)
                planned.append(
                    PlannedMember(
                        service: member.service, version: plan.target.version, spec: plan.target.spec,
                        note: " (revision \(plan.target.number))", kind: .undo, strategy: Self.undoStrategy, schema: plan.schema,
                        previousRevision: try await self.store.stableRevision(service: member.service)?.number, previousVersion: member.version))
            }
            return planned
        }
    }

    /// Ends an indefinite pause step of every member; each then waits for the others at the next barrier.
    public func promoteRelease(id: Int64, actor: String? = nil) async throws {
        let release = try runningRelease(id)
        for member in release.members {
            guard let rollout = await currentRollout(member.service), rollout.id == member.rolloutID else { continue }
            if rollout.phase != .paused || rollout.heldAt != nil || rollout.waitUntil != nil {
                let state = rollout.heldAt.map { "waiting \($0) for the release" } ?? "\(rollout.phase.rawValue) at \(rollout.candidateWeight)%"
                throw ControllerError(
                    .conflict, "not_paused",
                    "\(member.service) is \(state), not at an indefinite pause: promote once every service of release \(id) is")
            }
        }
        for member in release.members { services[member.service]?.reconciler?.send(RolloutInput.promote(full: false).sent(by: actor)) }
    }

    /// Rolls every service of a running release back, naming the user's reason.
    public func abortRelease(id: Int64, reason: String, actor: String? = nil) async throws {
        let release = try runningRelease(id)
        let abort = RolloutInput.abort(reason: "release \(id) aborted: \(reason)").sent(by: actor)
        for member in release.members { services[member.service]?.reconciler?.send(abort) }
    }

    /// Undoes a promoted rollout that turned out bad after promotion (guard window, alert): the whole
    /// release it came with, unless that is refused (a service changed since), else the service alone.
    /// Returns what was started, for the record.
    func undoAfterPromotion(_ rollout: Rollout, note: String) async throws -> String {
        if let id = rollout.release, let release = try await store.release(id: id), release.phase == .promoted,
            let undo = try? await undoRelease(id: id)
        {
            return "undoing release \(id) (\(release.members.map(\.service).joined(separator: ", "))) as release \(undo.id)"
        }
        // An emergency: the version that was promoted is failing now, so the way back is at once.
        let undo = try await undo(service: rollout.service, toRevision: nil, note: note, instant: true)
        return "undoing \(rollout.candidateVersion) to \(undo.candidateVersion) (rollout \(undo.id))"
    }

    /// Plans and starts the members. The release is coordinated only once every member's rollout
    /// exists, so an early member cannot pass a barrier alone; if one cannot start, those started are rolled back.
    private func launchRelease(
        name: String?, kind: ReleaseKind, manifest: ReleaseManifest, undoes: Int64?, actor: String?,
        plan: () async throws -> [PlannedMember]
    ) async throws -> Release {
        let names = manifest.services.map(\.service)
        for service in names { try await ensureNoActiveRollout(service) }
        for service in names { services[service]?.beginning = true }
        defer { for service in names { services[service]?.beginning = false } }
        for service in names { await previousRolloutSettled(service) }
        let planned = try await plan()
        let now = clock.now
        var release = try await store.createRelease(at: now) { id in
            Release(id: id, name: name ?? "release-\(id)", kind: kind, manifest: manifest, createdAt: now, undoes: undoes)
        }
        do {
            for member in planned {
                let what = kind == .undo ? "undo of release \(undoes ?? 0)" : "release \(release.id)"
                let revision = try await store.appendRevision(
                    service: member.service, version: member.version, spec: member.spec,
                    note: "\(what) (\(release.name))\(member.note)", at: clock.now)
                let rollout = try await begin(
                    service: member.service, revision: revision, kind: member.kind, strategy: member.strategy,
                    schema: member.schema, release: release.id, actor: actor)
                release.members.append(
                    ReleaseMember(
                        service: member.service, rolloutID: rollout.id, version: member.version,
                        previousRevision: member.previousRevision, previousVersion: member.previousVersion))
                try await store.saveRelease(release, at: clock.now)
            }
        } catch {
            let cause = ReleaseCause(
                service: planned.first { release.member($0.service) == nil }?.service ?? "",
                trigger: Trigger(kind: .instanceFailedToStart, message: "could not start: \(error)"))
            for member in release.members { services[member.service]?.reconciler?.send(.candidateFailed(release.partnerTrigger(cause))) }
            await finish(&release, .rolledBack, cause: cause)
            throw error
        }
        let versions = release.members.map { "\($0.service) \($0.previousVersion.map { "\($0) → " } ?? "")\($0.version)" }.joined(separator: ", ")
        for member in release.members {
            await recordEvent(
                service: member.service, rolloutID: member.rolloutID,
                EventDraft(
                    .releaseStarted, "\(kind == .undo ? "undo " : "")release \(release.id) (\(release.name)): \(versions)",
                    evidence: ["release": String(release.id), "services": names.joined(separator: ",")], actor: actor))
        }
        runningReleases[release.id] = release
        await coordinateRelease(release.id)
        return runningReleases[release.id] ?? release
    }

    // MARK: - Coordination

    /// Carries out what the release's members' current state calls for (see `Release.coordinate`).
    func coordinateRelease(_ id: Int64) async {
        guard var release = runningReleases[id] else { return }
        var rollouts: [String: Rollout] = [:]
        for member in release.members {
            if let live = await currentRollout(member.service), live.id == member.rolloutID {
                rollouts[member.service] = live
            } else if let stored = try? await store.rollout(id: member.rolloutID) {
                rollouts[member.service] = stored
            }
        }
        // Another member's coordination may have finished the release while these were read.
        guard let current = runningReleases[id] else { return }
        release = current
        for action in release.coordinate(rollouts) {
            switch action {
            case let .proceed(service, barrier):
                services[service]?.reconciler?.send(.releaseProceed(barrier))
            case let .rollBack(service, trigger):
                services[service]?.reconciler?.send(.candidateFailed(trigger))
            case let .undo(service, revision):
                // Its own rollout, started apart so this member's rollback is not held up by it.
                Task {
                    do {
                        _ = try await self.undo(service: service, toRevision: revision, note: "release \(id) rolled back", instant: true)
                    } catch {
                        self.logger.error("cannot undo \(service) after release \(id) rolled back: \(error)")
                    }
                }
            case let .finish(phase, cause):
                await finish(&release, phase, cause: cause)
            }
        }
    }

    private func finish(_ release: inout Release, _ phase: ReleasePhase, cause: ReleaseCause?) async {
        release.phase = phase
        release.cause = cause
        release.finishedAt = clock.now
        runningReleases[release.id] = nil
        do {
            try await store.saveRelease(release, at: clock.now)
        } catch {
            logger.error("cannot save release \(release.id): \(error)")
        }
        let message =
            switch phase {
            case .promoted: "release \(release.id) (\(release.name)) promoted: every service switched"
            case .rolledBack:
                "release \(release.id) (\(release.name)) rolled back: \(cause.map { "\($0.service) failed (\($0.trigger.kind.rawValue): \($0.trigger.message))" } ?? "")"
            case .running: ""
            }
        var evidence = ["release": String(release.id)]
        if let cause {
            evidence["causeService"] = cause.service
            evidence["causeTrigger"] = cause.trigger.kind.rawValue
        }
        for member in release.members {
            await recordEvent(
                service: member.service, rolloutID: member.rolloutID, EventDraft(phase == .promoted ? .releasePromoted : .releaseRolledBack, message, evidence: evidence))
        }
    }

    /// After a restart: a release interrupted while its members were being started is rolled back
    /// (it never was one unit); any other carries on from its members' state.
    func recoverReleases(activeRollouts: [Rollout]) async throws {
        for var release in try await store.activeReleases() {
            if release.members.count < release.manifest.services.count {
                let cause = ReleaseCause(
                    service: release.manifest.services.first { release.member($0.service) == nil }?.service ?? "",
                    trigger: Trigger(kind: .abort, message: "the controller stopped while release \(release.id) was starting"))
                for rollout in activeRollouts where rollout.release == release.id {
                    services[rollout.service]?.reconciler?.send(.candidateFailed(release.partnerTrigger(cause)))
                }
                await finish(&release, .rolledBack, cause: cause)
                continue
            }
            runningReleases[release.id] = release
            await coordinateRelease(release.id)
        }
    }

    /// Per configured service: its stable version and what that version requires, as stated by the
    /// latest promoted release that brought it. Read from the store, which records a promotion in the
    /// same transaction as the rollout (the in-memory stable set follows with the promotion's effects).
    private func runningRequirements() async throws -> [String: (version: SemanticVersion?, requires: [String: VersionRange])] {
        let promoted = try await store.releases(limit: 1000).filter { $0.phase == .promoted }
        var running: [String: (version: SemanticVersion?, requires: [String: VersionRange])] = [:]
        for name in services.keys {
            let stableVersion = try await store.stableRevision(service: name)?.version
            let requires = stableVersion.flatMap { version in
                promoted.lazy.compactMap { $0.manifest.services.first { $0.service == name && $0.version == version } }.first?.requires
            }
            running[name] = (stableVersion, requires ?? [:])
        }
        return running
    }

    // MARK: - Queries

    public func releaseDetail(id: Int64) async throws -> ReleaseDetail {
        let stored = runningReleases[id] == nil ? try await store.release(id: id) : nil
        guard let release = runningReleases[id] ?? stored else { throw unknownRelease(id) }
        var members: [ReleaseMemberStatus] = []
        var events: [Event] = []
        for member in release.members {
            let rollout = try await store.rollout(id: member.rolloutID)
            members.append(ReleaseMemberStatus(member, rollout: rollout))
            events += try await store.events(service: member.service, rolloutID: member.rolloutID, afterID: 0, limit: 1000)
        }
        return ReleaseDetail(
            release: ReleaseSummary(release), members: members,
            events: events.sorted { $0.id < $1.id }.map(EventView.init))
    }

    public func releaseHistory(limit: Int) async throws -> [ReleaseSummary] {
        try await store.releases(limit: limit).map { runningReleases[$0.id] ?? $0 }.map(ReleaseSummary.init)
    }

    private func runningRelease(_ id: Int64) throws -> Release {
        guard let release = runningReleases[id] else {
            throw ControllerError(.conflict, "release_not_running", "release \(id) is not running (see ripcord release history)")
        }
        return release
    }

    func unknownRelease(_ id: Int64) -> ControllerError {
        ControllerError(.notFound, "unknown_release", "no release with id \(id)")
    }
}
