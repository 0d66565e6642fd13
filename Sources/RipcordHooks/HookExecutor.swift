import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordCore
import RipcordDrivers

/// What a hook is told about the rollout: as `RIPCORD_*` environment variables for a command, as a
/// JSON body for a webhook.
public struct HookContext: Sendable, Equatable {
    public var point: HookPoint
    public var service: String
    public var rolloutID: Int64
    public var version: String
    public var stableVersion: String?
    public var phase: String
    public var candidateWeight: Int
    /// 1-based index of the step just done (`afterStep`), else nil.
    public var step: Int?
    /// The service's front door, for smoke tests (with `x-ripcord-route: candidate` to reach the candidate).
    public var frontDoor: String
    public var trigger: String?

    public init(
        point: HookPoint, service: String, rolloutID: Int64, version: String, stableVersion: String?, phase: String,
        candidateWeight: Int, step: Int?, frontDoor: String, trigger: String?
    ) {
        self.point = point
        self.service = service
        self.rolloutID = rolloutID
        self.version = version
        self.stableVersion = stableVersion
        self.phase = phase
        self.candidateWeight = candidateWeight
        self.step = step
        self.frontDoor = frontDoor
        self.trigger = trigger
    }

    var fields: [String: String] {
        var fields = [
            "hook": point.rawValue, "service": service, "rolloutId": String(rolloutID), "version": version, "phase": phase,
            "candidateWeight": String(candidateWeight), "frontDoor": frontDoor,
        ]
        if let stableVersion { fields["stableVersion"] = stableVersion }
        if let step { fields["step"] = String(step) }
        if let trigger { fields["trigger"] = trigger }
        return fields
    }

    /// `RIPCORD_HOOK`, `RIPCORD_SERVICE`, `RIPCORD_ROLLOUT_ID`, `RIPCORD_VERSION`, `RIPCORD_STABLE_VERSION`, …
    public var environment: [String: String] {
        Dictionary(
            uniqueKeysWithValues: fields.map { key, value in
                ("RIPCORD_" + key.replacingOccurrences(of: "([a-z])([A-Z])", with: "$1_$2", options: .regularExpression).uppercased(), value)
            })
    }
}

/// How a hook went, with what it said (kept as evidence).
public struct HookOutcome: Sendable, Equatable {
    public var passed: Bool
    /// "exited with status 0", "HTTP 503", "did not finish within 30s".
    public var result: String
    /// The end of its output or response body.
    public var output: String
    public var duration: TimeSpan

    public init(passed: Bool, result: String, output: String, duration: TimeSpan) {
        self.passed = passed
        self.result = result
        self.output = output
        self.duration = duration
    }
}

/// Runs lifecycle hooks: commands with the rollout in their environment, or webhooks that get it
/// as JSON; each within its timeout.
/// Runs one lifecycle hook (the controller's seam; `HookExecutor` runs commands and webhooks).
public protocol HookRunner: Sendable {
    func run(_ hook: HookSpec, context: HookContext) async -> HookOutcome
}

public struct HookExecutor: HookRunner {
    private let client: HTTPClient

    public init(client: HTTPClient = .shared) { self.client = client }

    public func run(_ hook: HookSpec, context: HookContext) async -> HookOutcome {
        switch hook.action {
        case let .command(command):
            do {
                let outcome = try await CommandRunner.run(command, environment: context.environment, timeout: hook.timeout)
                return HookOutcome(
                    passed: outcome.succeeded, result: outcome.describe(timeout: hook.timeout),
                    output: String(outcome.output.suffix(2000)), duration: outcome.duration)
            } catch {
                return HookOutcome(passed: false, result: "\(error)", output: "", duration: .zero)
            }
        case let .http(url, headers):
            do {
                return await post(url: url, headers: try headers.resolvedHeaders(), context: context, timeout: hook.timeout)
            } catch {
                return HookOutcome(passed: false, result: "\(error)", output: "", duration: .zero)
            }
        }
    }

    private func post(url: String, headers: [String: String], context: HookContext, timeout: TimeSpan) async -> HookOutcome {
        let started = ContinuousClock.now
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        let body = (try? JSONSerialization.data(withJSONObject: context.fields, options: [.sortedKeys])) ?? Data()
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeout.milliseconds))
            let answer = String(buffer: try await response.body.collect(upTo: 1 << 20))
            let passed = (200..<300).contains(Int(response.status.code))
            return HookOutcome(passed: passed, result: "HTTP \(response.status.code)", output: String(answer.suffix(2000)), duration: TimeSpan(ContinuousClock.now - started))
        } catch {
            return HookOutcome(passed: false, result: "request failed: \(error)", output: "", duration: TimeSpan(ContinuousClock.now - started))
        }
    }
}
