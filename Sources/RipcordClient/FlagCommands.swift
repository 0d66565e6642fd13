import ArgumentParser
import Foundation
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordWire
import Yams

struct FlagsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flags", abstract: "Manage feature flags (per environment; every change is recorded and can be reverted).",
        subcommands: [
            FlagsList.self, FlagsGet.self, FlagsCreate.self, FlagsDelete.self, FlagsEnable.self, FlagsDisable.self, FlagsRollout.self,
            FlagsHistory.self, FlagsRevert.self, FlagsImport.self, FlagsApply.self, FlagsStale.self, FlagsGuard.self, FlagsGuardStatus.self, FlagsGuardAbort.self,
        ])
}

/// The options every flags verb shares: where the API is and which environment.
struct FlagOptions: ParsableArguments {
    @OptionGroup var client: ClientOptions
    @Option(name: .shortAndLong, help: "The environment.") var environment: String = FlagService.defaultEnvironment

    /// `/api/v1/flags[/NAME][/SUFFIX]?environment=…`, the name percent-encoded.
    func path(_ flag: String? = nil, _ suffix: String = "", query: String = "") -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove("/")
        let name = flag.map { "/" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0) } ?? ""
        let environment = environment.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? environment
        return "/api/v1/flags\(name)\(suffix)?environment=\(environment)\(query)"
    }
}

/// One line per flag: state, strategies, variants.
func describe(_ feature: FeatureDefinition) -> String {
    let strategies = feature.strategies.map { strategy in
        strategy.name + (strategy.parameters["rollout"].map { " \($0)%" } ?? "") + (strategy.constraints.isEmpty ? "" : " (\(strategy.constraints.count) constraints)")
    }
    return "\(feature.enabled ? "on " : "off") \(feature.name)  [\(strategies.isEmpty ? "everyone" : strategies.joined(separator: ", "))]"
        + ((feature.variants ?? []).isEmpty ? "" : "  variants: " + (feature.variants ?? []).map(\.name).joined(separator: ", "))
        + (feature.project.map { "  project: \($0)" } ?? "")
        + ((feature.tags ?? []).isEmpty ? "" : "  tags: " + (feature.tags ?? []).map { "\($0.type):\($0.value)" }.joined(separator: ", "))
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct FlagsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the environment's flags.")
    @OptionGroup var options: FlagOptions
    @Option(help: "Only the flags of this project.") var project: String?
    @Option(help: "Only the flags with this tag (TYPE:VALUE).") var tag: String?

    func run() async throws {
        try await reportingFailures {
            let state: FlagStateView = try await options.client.client().get(options.path())
            let wanted = try tag.map(FlagTag.init(argument:))
            let shown = state.features.filter { feature in
                (project == nil || feature.projectName == project) && (wanted.map { (feature.tags ?? []).contains($0) } ?? true)
            }
            print("\(state.environment) (revision \(state.revision)): \(state.features.count) flags, \(state.segments.count) segments")
            for feature in shown { print("  " + describe(feature)) }
            for warning in state.warnings { print("  warning: \(warning)") }
        }
    }
}

struct FlagsGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a flag's definition (JSON).")
    @OptionGroup var options: FlagOptions
    @Argument var name: String

    func run() async throws {
        try await reportingFailures {
            let feature: FeatureDefinition = try await options.client.client().get(options.path(name))
            try printJSON(feature)
        }
    }
}

struct FlagsCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a flag: off by default, on for everyone when enabled, or a gradual rollout.")
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    @Flag(help: "Create it switched on.") var enabled = false
    @Option(help: "Roll it out to this percentage (a flexibleRollout strategy); the flag is created switched on, on for that share.")
    var rollout: Double?
    @Option(help: "The Unleash flag type (release, experiment, operational, kill-switch, permission).") var type: String?
    @Option(help: "What the flag is for.") var description: String?
    @Option(help: "The project it belongs to (Unleash SDKs can fetch one project's flags).") var project: String?
    @Option(help: "A tag, TYPE:VALUE (repeatable), e.g. team:payments.") var tag: [String] = []
    @Option(help: "A JSON file with the whole definition (Unleash's feature shape) instead of the options.") var file: String?

    func run() async throws {
        try await reportingFailures {
            let created: FeatureDefinition
            if let file {
                // Sent as written (with the name given here), so the server checks every key of it.
                guard var document = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any] else {
                    throw ValidationError("\(file): expected a JSON object (Unleash's feature shape)")
                }
                document["name"] = name
                created = try await options.client.client().post(options.path(), json: try JSONSerialization.data(withJSONObject: document))
            } else {
                let strategies =
                    rollout.map { percentage in
                        [
                            StrategyDefinition(
                                name: "flexibleRollout",
                                parameters: [
                                    "rollout": percentage.rounded() == percentage ? String(Int(percentage)) : String(percentage),
                                    "stickiness": "default", "groupId": name,
                                ])
                        ]
                    } ?? []
                let tags = try tag.map(FlagTag.init(argument:))
                // A rollout percentage means "on for that share": created switched on, as the README shows.
                let feature = FeatureDefinition(
                    name: name, enabled: enabled || rollout != nil, strategies: strategies, description: description,
                    type: type, project: project, tags: tags.isEmpty ? nil : tags)
                created = try await options.client.client().post(options.path(), body: feature)
            }
            print("created in \(options.environment): " + describe(created))
        }
    }
}

struct FlagsDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a flag (recorded: history and revert can bring it back).")
    @OptionGroup var options: FlagOptions
    @Argument var name: String

    func run() async throws {
        try await reportingFailures {
            let _: NoContent = try await options.client.client().delete(options.path(name))
            print("deleted \(name) in \(options.environment)")
        }
    }
}

extension FlagTag {
    /// `TYPE:VALUE`, as the CLI takes it.
    init(argument: String) throws {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ValidationError("a tag is TYPE:VALUE, e.g. team:payments (got '\(argument)')")
        }
        self.init(type: parts[0], value: parts[1])
    }
}

/// enable / disable: the kill switch.
func switchFlag(_ name: String, on: Bool, _ options: FlagOptions) async throws {
    try await reportingFailures {
        let feature: FeatureDefinition = try await options.client.client().post(options.path(name, on ? "/enable" : "/disable"), body: Optional<String>.none)
        print("\(options.environment): " + describe(feature))
    }
}

struct FlagsEnable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Switch a flag on.")
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    func run() async throws { try await switchFlag(name, on: true, options) }
}

struct FlagsDisable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Switch a flag off (the kill switch).")
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    func run() async throws { try await switchFlag(name, on: false, options) }
}

struct FlagsRollout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollout", abstract: "Set the percentage of a flag's gradual rollout.")
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    @Argument(help: "0 to 100.") var percentage: Double
    @Option(help: "The context field that keeps a user in or out (default: userId, then sessionId, then random).") var stickiness: String?
    @Option(help: "The hash group (default: the flag's name).") var groupId: String?

    func run() async throws {
        try await reportingFailures {
            let feature: FeatureDefinition = try await options.client.client().post(
                options.path(name, "/rollout"), body: RolloutRequest(percentage: percentage, stickiness: stickiness, groupId: groupId))
            print("\(options.environment): " + describe(feature))
        }
    }
}

struct FlagsHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Every change of a flag: who, when, before and after.")
    @OptionGroup var options: FlagOptions
    @Argument var name: String

    func run() async throws {
        try await reportingFailures {
            let changes: [FlagChangeView] = try await options.client.client().get(options.path(name, "/history"))
            for change in changes {
                print("#\(change.id)  \(change.at)  by \(change.actor)" + (change.reason.map { ": \($0)" } ?? ""))
                print("    before: " + (change.before.map(describe) ?? "(absent)"))
                print("    after:  " + (change.after.map(describe) ?? "(deleted)"))
            }
            let guarded: [GuardedRolloutView] = try await options.client.client().get(options.path(name, "/guarded-rollouts"))
            for rollout in guarded { print(summary(rollout)) }
        }
    }
}

struct FlagsRevert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revert", abstract: "Return a flag to its state right after change N (see history).")
    @OptionGroup var options: FlagOptions
    @Argument var name: String
    @Option(name: .customLong("to"), help: "The change id.") var change: Int64

    func run() async throws {
        try await reportingFailures {
            let restored: FeatureDefinition? = try await options.client.client().post(options.path(name, "/revert"), body: RevertRequest(toChange: change))
            print("\(options.environment): " + (restored.map(describe) ?? "\(name) deleted, as after change \(change)"))
        }
    }
}

/// Prints a plan as a diff of each flag's JSON: changed lines (- before, + after) with two lines of
/// context around them, in order, so a reordered strategy list shows as the lines that moved.
func printPlan(_ result: FlagApplyResult) {
    let changes = result.plan.filter { $0.action != .unchanged }
    print("\(result.environment): \(changes.count) to change, \(result.plan.count - changes.count) unchanged")
    for change in changes {
        let mark =
            switch change.action {
            case .create: "+"
            case .delete: "-"
            case .update, .unchanged: "~"
            }
        print("\(mark) \(change.action.rawValue) \(change.target)")
        for line in LineDiff.hunks(LineDiff.diff(change.before.map(prettyLines) ?? [], change.after.map(prettyLines) ?? [])) {
            print("    " + line)
        }
    }
}

private func prettyLines(_ json: String) -> [String] {
    guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
        let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    else { return [json] }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}

/// A line diff (longest common subsequence), printed as unified-diff hunks.
enum LineDiff {
    enum Line: Equatable {
        case same(String), removed(String), added(String)
    }

    static func diff(_ before: [String], _ after: [String]) -> [Line] {
        let n = before.count, m = after.count
        // common[i][j]: the longest common subsequence of before[i...] and after[j...].
        var common = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                common[i][j] = before[i] == after[j] ? common[i + 1][j + 1] + 1 : max(common[i + 1][j], common[i][j + 1])
            }
        }
        var lines: [Line] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, before[i] == after[j] {
                lines.append(.same(before[i]))
                i += 1
                j += 1
            } else if j < m, i == n || common[i][j + 1] >= common[i + 1][j] {
                lines.append(.added(after[j]))
                j += 1
            } else {
                lines.append(.removed(before[i]))
                i += 1
            }
        }
        return lines
    }

    /// The changed lines with `context` unchanged lines around each run; `…` where lines are left out.
    static func hunks(_ lines: [Line], context: Int = 2) -> [String] {
        let changed = lines.indices.filter { if case .same = lines[$0] { false } else { true } }
        let shown = Set(changed.flatMap { max(0, $0 - context)...min(lines.count - 1, $0 + context) })
        var out: [String] = []
        var previous: Int?
        for index in lines.indices where shown.contains(index) {
            if let previous, index > previous + 1 { out.append("  …") }
            switch lines[index] {
            case .same(let text): out.append("  " + text)
            case .removed(let text): out.append("- " + text)
            case .added(let text): out.append("+ " + text)
            }
            previous = index
        }
        return out
    }
}

struct FlagsImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import an Unleash export: the /api/client/features JSON, or an admin export (features-batch/export).")
    @OptionGroup var options: FlagOptions
    @Argument(help: "The JSON file.") var file: String

    func run() async throws {
        try await reportingFailures {
            // Sent as written: the server validates the whole document and names every problem.
            let export = try Data(contentsOf: URL(fileURLWithPath: file))
            let result: FlagApplyResult = try await options.client.client().post(options.path(nil, "/import"), json: export)
            printPlan(result)
            print("imported: \(result.changed) changes recorded")
        }
    }
}

struct FlagsApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Apply flags declared in YAML (GitOps): shows the diff, then applies it unless --dry-run.")
    @OptionGroup var options: FlagOptions
    @Argument(help: "The YAML file: `flags:` (Unleash feature shape) and optional `segments:`.") var file: String
    @Flag(help: "Only show what would change.") var dryRun = false
    @Flag(help: "Delete the environment's flags the file does not list (shown in the diff first).") var prune = false

    func run() async throws {
        try await reportingFailures {
            let state = try Self.load(file)
            let client = try options.client.client()
            let pruning = prune ? "&prune=true" : ""
            let plan: FlagApplyResult = try await client.post(options.path(nil, "/apply", query: "&dryRun=true" + pruning), json: state)
            printPlan(plan)
            guard !dryRun, plan.plan.contains(where: { $0.action != .unchanged }) else { return }
            let applied: FlagApplyResult = try await client.post(options.path(nil, "/apply", query: pruning), json: state)
            print("applied: \(applied.changed) changes recorded")
        }
    }

    /// YAML → the import shape as JSON, every key kept for the server to check; `flags` is the
    /// name of the feature list.
    static func load(_ file: String) throws -> Data {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        guard var document = try Yams.load(yaml: text) as? [String: Any] else {
            throw ValidationError("\(file): expected a mapping with `flags:` (and optionally `segments:`)")
        }
        if let flags = document.removeValue(forKey: "flags") { document["features"] = flags }
        guard JSONSerialization.isValidJSONObject(document) else {
            throw ValidationError("\(file): not a valid flag declaration (quote dates and other values YAML reads as non-JSON types)")
        }
        return try JSONSerialization.data(withJSONObject: document)
    }
}

struct FlagsStale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stale", abstract: "Flags that look dead: not evaluated by any SDK, or on for everyone, for N days.")
    @OptionGroup var options: FlagOptions
    @Option(help: "The period in days.") var days: Int = FlagStaleness.defaultDays
    @Flag(help: "List every flag with its staleness, not only the stale ones.") var all = false

    func run() async throws {
        try await reportingFailures {
            let path =
                "/api/v1/flag-staleness?environment=\(options.environment.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? options.environment)&days=\(days)"
            let flags: [FlagStaleness] = try await options.client.client().get(path)
            let shown = flags.filter { all || $0.stale }
            print("\(options.environment): \(flags.filter(\.stale).count) of \(flags.count) flags stale over \(days) days")
            for flag in shown {
                let evaluated = flag.lastEvaluated.map { "last evaluated \(ISO8601Timestamp.format($0.date.timeIntervalSince1970))" } ?? "never evaluated"
                let fullyOn = flag.fullyOnSince.map { ", on for everyone since \(ISO8601Timestamp.format($0.date.timeIntervalSince1970))" } ?? ""
                let reasons = flag.reasons.isEmpty ? "ok" : flag.reasons.map(\.rawValue).joined(separator: ", ")
                print("  \(flag.name)  \(reasons)  (\(evaluated)\(fullyOn))")
            }
        }
    }
}

struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Create, list, revoke and rotate API tokens (admin, client SDK, frontend).",
        subcommands: [TokensCreate.self, TokensList.self, TokensRevoke.self, TokensRotate.self])
}

struct TokensCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a token; it is printed once, only its hash is stored.")
    @OptionGroup var options: ClientOptions
    @Option(
        help: "admin, client (SDKs: read flags), frontend (evaluate only), router (a standalone router, named as the token) or viewer (read-only: the web view without buttons)."
    ) var kind: TokenKind
    @Option(help: "The environment of a client or frontend token.") var environment: String?
    @Option(help: "A unique name for the token (recorded as the actor of the changes it makes).") var name: String?
    @Option(help: "When the token stops working: a duration (30d, 12h) or an ISO 8601 date or time (2027-01-31). Default: never.")
    var expires: String?

    func run() async throws {
        try await reportingFailures {
            let request = CreateTokenRequest(
                name: name ?? "\(kind.rawValue)-\(environment ?? "admin")", kind: kind,
                environment: kind == .admin ? nil : (environment ?? FlagService.defaultEnvironment), expires: expires)
            let token: TokenView = try await options.client().post("/api/v1/tokens", body: request)
            print(token.token ?? "")
            let expiry = token.expiresAt.map { ", expires \($0)" } ?? ""
            FileHandle.standardError.write(
                Data("created \(token.kind.rawValue) token '\(token.name)'\(token.environment.map { " for \($0)" } ?? "")\(expiry); it is not shown again\n".utf8))
        }
    }
}

struct TokensList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens: name, kind, environment, created, expires, state (never secrets).")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await reportingFailures {
            let tokens: [TokenView] = try await options.client().get("/api/v1/tokens")
            for token in tokens {
                let state = token.state.rawValue + (token.revokedAt.map { " \($0)" } ?? "") + (token.revokedBy.map { " by \($0)" } ?? "")
                print("\(token.name)  \(token.kind.rawValue)  \(token.environment ?? "-")  \(token.createdAt)  expires \(token.expiresAt ?? "never")  \(state)")
            }
        }
    }
}

struct TokensRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a token: it is refused at once and its open streams end. The last active admin token cannot be revoked.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The token's name (see ripcord tokens list).") var name: String

    func run() async throws {
        try await reportingFailures {
            let token: TokenView = try await options.client().delete(tokenPath(name))
            FileHandle.standardError.write(Data("revoked \(token.kind.rawValue) token '\(token.name)'\n".utf8))
        }
    }
}

struct TokensRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate", abstract: "Give a token a new secret (printed once; same name, kind and environment); the old secret stops working at once.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The token's name (see ripcord tokens list).") var name: String
    @Option(help: "A new expiry: a duration (30d), an ISO 8601 date or time, or 'never'. Default: the token keeps its expiry.")
    var expires: String?

    func run() async throws {
        try await reportingFailures {
            let token: TokenView = try await options.client().post(tokenPath(name, "/rotate"), body: RotateTokenRequest(expires: expires))
            print(token.token ?? "")
            FileHandle.standardError.write(Data("rotated \(token.kind.rawValue) token '\(token.name)'; the old secret no longer works, the new one is not shown again\n".utf8))
        }
    }
}

/// The API path of the named token (the server checks the name; it is percent-encoded on the way).
private func tokenPath(_ name: String, _ action: String = "") -> String {
    "/api/v1/tokens/\(name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name)\(action)"
}

extension TokenKind: ExpressibleByArgument {}
