import Foundation
import Logging
import RipcordCore

/// Runs instances through the user's own scripts (`driver.command`): start, stop and check, each a
/// process with a timeout, told about the instance in `RIPCORD_*` variables. The contract is in
/// docs/drivers.md.
public actor CommandDriver: InstanceDriver {
    private enum CheckAnswer {
        case running
        case gone(String)
        case error(String)
    }

    private struct Watch {
        /// When its last check started: what it found is as old as that, however long the batch took.
        var checkedAt: ContinuousClock.Instant
        var consecutiveErrors = 0
    }

    private let logger: Logger
    /// When each instance was last checked, and how many checks in a row could not tell.
    private var watches: [String: Watch] = [:]
    /// How instances ended, by id: gone is final, like a reaped process.
    private var endings: [String: String] = [:]
    /// The check running for an instance; callers asking meanwhile wait for it instead of starting another.
    private var checking: [String: Task<Void, Never>] = [:]

    public init(logger: Logger = Logger(label: "ripcord.driver.command")) {
        self.logger = logger
    }

    public func start(_ planned: InstanceRecord, service: ServiceSpec) async throws -> InstanceRecord {
        guard case let .command(spec) = service.driver else { throw DriverError("\(service.name) is not run by the command driver") }
        let id = planned.id, version = planned.version
        let variables = [
            "RIPCORD_SERVICE": service.name, "RIPCORD_VERSION": version.description, "RIPCORD_PORT": String(planned.port),
            "RIPCORD_INSTANCE": id,
        ]
        let what = "the start script of \(service.name) \(version) (instance \(id))"
        let report: StartReport
        do {
            let outcome = try await Self.run(spec.start, spec: spec, variables: variables)
            guard outcome.succeeded else {
                throw DriverError(
                    "\(what) \(outcome.describe(timeout: spec.timeout))\(Self.lastLine(outcome.output))",
                    evidence: Self.evidence(outcome, script: "start", instance: id))
            }
            do { report = try StartReport(parsing: outcome.output) } catch let error as StartReport.ParseError {
                throw DriverError("\(what) exited 0 but \(error)", evidence: Self.evidence(outcome, script: "start", instance: id))
            }
        } catch {
            // A half-started instance is not left behind: stop is idempotent by contract.
            await stopScript(spec: spec, variables: variables, grace: .zero, instance: id)
            if error is DriverError { throw error }
            throw DriverError("cannot run \(what): \(error)", evidence: ["script": "start", "instance": id])
        }
        logger.info("started instance", metadata: ["instance": "\(id)", "address": "\(report.address)"])
        var started = planned
        (started.host, started.port) = (report.address.host, report.address.port)
        (started.pid, started.handle, started.driver, started.starting) = (report.pid ?? 0, report.handle, service.driver, false)
        return started
    }

    public func stop(_ instance: InstanceRecord, grace: TimeSpan) async {
        guard case let .command(spec) = instance.driver else { return }
        await stopScript(spec: spec, variables: Self.variables(of: instance), grace: grace, instance: instance.id)
        watches[instance.id] = nil
        endings[instance.id] = nil
    }

    public func isRunning(_ instance: InstanceRecord) async -> Bool {
        await exitStatus(of: instance) == nil
    }

    /// How the instance ended, from its check: the check's output when it reported the instance gone,
    /// or the last error once `checkErrorLimit` checks in a row could not tell (until then, nil: an
    /// unreachable host is not a dead instance).
    public func exitStatus(of instance: InstanceRecord) async -> String? {
        switch known(instance) {
        case let .ended(message): return message
        case .running: return nil
        case let .due(spec):
            await check([(instance, spec)])
            return endings[instance.id]
        }
    }

    /// Those still running, from what the last checks said; only instances whose check is due are
    /// checked, all at once, and the rest cost no task and no script.
    public func running(_ instances: [InstanceRecord]) async -> [InstanceRecord] {
        let due = instances.compactMap { instance in
            if case let .due(spec) = known(instance) { (instance, spec) } else { nil }
        }
        if !due.isEmpty { await check(due) }
        // Not `.running` but "not ended": a check slower than the time its answer stands (a loaded
        // machine) is due again the moment it answers, yet it did find the instance running.
        return instances.filter { if case .ended = known($0) { false } else { true } }
    }

    private enum Known {
        case ended(String)
        /// Its last check, recent enough to stand, found it running.
        case running
        case due(CommandDriverSpec)
    }

    private func known(_ instance: InstanceRecord) -> Known {
        guard case let .command(spec) = instance.driver else { return .ended("was not started by the command driver") }
        if let ending = endings[instance.id] { return .ended(ending) }
        // An answer stands for 90 % of the interval: the stable supervisor looks once per interval, and a
        // look a few milliseconds short of it (the check took that long) must still check.
        if let watch = watches[instance.id], ContinuousClock.now - watch.checkedAt < spec.checkInterval.duration * 0.9 { return .running }
        return .due(spec)
    }

    /// Runs the instances' checks, all at once, and waits for them; an instance whose check is already
    /// running is not checked again: its caller waits for that check.
    private func check(_ due: [(instance: InstanceRecord, spec: CommandDriverSpec)]) async {
        let fresh = due.filter { checking[$0.instance.id] == nil }
        if !fresh.isEmpty {
            let batch = Task {
                let started = ContinuousClock.now
                let answers = await Self.check(fresh)
                for ((instance, spec), answer) in zip(fresh, answers) { self.record(answer, for: instance, spec: spec, checkedAt: started) }
            }
            for (instance, _) in fresh { checking[instance.id] = batch }
        }
        for task in Set(due.compactMap { checking[$0.instance.id] }) { await task.value }
    }

    private func record(_ answer: CheckAnswer, for instance: InstanceRecord, spec: CommandDriverSpec, checkedAt: ContinuousClock.Instant) {
        checking[instance.id] = nil
        var watch = watches[instance.id] ?? Watch(checkedAt: checkedAt)
        watch.checkedAt = checkedAt
        switch answer {
        case .running:
            watch.consecutiveErrors = 0
        case let .gone(message):
            endings[instance.id] = message
        case let .error(message):
            watch.consecutiveErrors += 1
            logger.warning("check of \(instance.id) failed (\(watch.consecutiveErrors) of \(spec.checkErrorLimit) in a row): \(message)")
            if watch.consecutiveErrors >= spec.checkErrorLimit {
                endings[instance.id] = "could not be checked \(watch.consecutiveErrors) times in a row (last: \(message))"
            }
        }
        watches[instance.id] = watch
    }

    private static func check(_ due: [(instance: InstanceRecord, spec: CommandDriverSpec)]) async -> [CheckAnswer] {
        let commands = due.map { command($0.spec.check, spec: $0.spec, variables: variables(of: $0.instance)) }
        let outcomes = await CommandRunner.run(commands)
        return zip(zip(due, commands), outcomes).map { checked, result in
            let ((_, spec), command) = checked
            let outcome: CommandRunner.Outcome
            do { outcome = redacted(try result.get(), variables: command.environment) } catch { return .error("\(error)") }
            let said = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
            switch outcome.ending {
            case .exited(0): return .running
            case .exited(1): return .gone("was reported gone by its check" + (said.isEmpty ? "" : ": \(String(said.suffix(500)))"))
            default: return .error("the check \(outcome.describe(timeout: spec.timeout))\(lastLine(outcome.output))")
            }
        }
    }

    private func stopScript(spec: CommandDriverSpec, variables: [String: String], grace: TimeSpan, instance id: String) async {
        var variables = variables
        variables["RIPCORD_STOP_GRACE_SECONDS"] = String(grace.milliseconds / 1000)
        // Shielded from the caller's cancellation (a shutdown cancels the reconcilers mid-drain): a
        // stop script killed half-way would leave the instance running.
        let stopping = Task { try await Self.run(spec.stop, spec: spec, variables: variables) }
        do {
            let outcome = try await stopping.value
            if outcome.succeeded {
                logger.info("stopped instance", metadata: ["instance": "\(id)"])
            } else {
                logger.error("the stop script of \(id) \(outcome.describe(timeout: spec.timeout))\(Self.lastLine(outcome.output))")
            }
        } catch {
            logger.error("cannot run the stop script of \(id): \(error)")
        }
    }

    /// What stop and check are told: everything start was, and what start reported.
    private static func variables(of instance: InstanceRecord) -> [String: String] {
        var variables = [
            "RIPCORD_SERVICE": instance.service, "RIPCORD_VERSION": instance.version.description,
            "RIPCORD_PORT": String(instance.port), "RIPCORD_INSTANCE": instance.id,
            "RIPCORD_ADDRESS": instance.address.description,
        ]
        if instance.pid > 0 { variables["RIPCORD_PID"] = String(instance.pid) }
        if let handle = instance.handle { variables["RIPCORD_HANDLE"] = handle }
        return variables
    }

    /// Runs a script with the instance's variables. Its output comes back with secrets blanked.
    private static func run(_ template: String, spec: CommandDriverSpec, variables: [String: String]) async throws -> CommandRunner.Outcome {
        redacted(try await CommandRunner.run([command(template, spec: spec, variables: variables)])[0].get(), variables: variables)
    }

    /// A script with the instance's variables in its environment, also filled into its words as
    /// `{service}`, `{port}`… (after splitting, so a value never becomes two arguments).
    private static func command(_ template: String, spec: CommandDriverSpec, variables: [String: String]) -> CommandRunner.Command {
        let arguments = RunSpec.splitWords(template).map { word in
            guard word.contains(Character("{")) else { return word }
            return variables.reduce(word) { word, variable in
                word.replacingOccurrences(of: "{\(variable.key.dropFirst("RIPCORD_".count).lowercased())}", with: variable.value)
            }
        }
        return CommandRunner.Command(arguments: arguments, environment: variables, workingDirectory: spec.workingDirectory, timeout: spec.timeout)
    }

    private static func redacted(_ outcome: CommandRunner.Outcome, variables: [String: String]) -> CommandRunner.Outcome {
        // Most checks print nothing: the environment is searched for secrets only when there is output to blank.
        guard !outcome.output.isEmpty else { return outcome }
        var outcome = outcome
        let environment = ProcessInfo.processInfo.environment.merging(variables) { _, given in given }
        outcome.output = SecretRedaction.redact(outcome.output, environment: environment)
        return outcome
    }

    private static func evidence(_ outcome: CommandRunner.Outcome, script: String, instance: String) -> [String: String] {
        [
            "script": script, "instance": instance, "output": String(outcome.output.suffix(2000)),
            "duration": outcome.duration.description,
        ]
    }

    /// ": <the last line it printed>" for a one-line message, or nothing.
    private static func lastLine(_ output: String) -> String {
        guard let line = output.split(whereSeparator: \.isNewline).last(where: { !$0.allSatisfy(\.isWhitespace) }) else { return "" }
        return ": " + String(line.trimmingCharacters(in: .whitespaces).prefix(200))
    }
}
