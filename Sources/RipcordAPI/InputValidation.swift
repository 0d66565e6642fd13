import Foundation
import HTTPTypes
import RipcordCore
import RipcordFlagService

/// Checks of what clients send, shared by every route (GET included): names, versions, ids,
/// durations, ratios and counts. Each refusal is a 400 `APIError` naming the field, thrown before the
/// route reads or writes the store, so a refused request changes nothing.
enum InputValidation {
    /// Reasons, app names and other free text a request may store.
    static let maxTextLength = 1000

    static func invalid(_ field: String, _ message: String, code: String = "invalid_input") -> APIError {
        APIError(.badRequest, code: code, message: "\(field): \(message)", field: field)
    }

    /// A configured service's name: the configuration's rule, so a malformed one never reaches the controller.
    static func serviceName(_ name: String, field: String = "service") throws -> String {
        guard ServiceSpec.isValidName(name) else {
            throw invalid(field, "'\(printable(name))' is not a service name (1 to 63 lowercase letters, digits and dashes)", code: "invalid_name")
        }
        return name
    }

    static func flagName(_ name: String, field: String = "name") throws -> String {
        do { try FlagValidation.flagName(name) } catch let error as Refusal { throw invalid(field, error.message, code: error.code) }
        return name
    }

    static func environment(_ name: String, field: String = "environment") throws -> String {
        do { try FlagValidation.environment(name) } catch let error as Refusal { throw invalid(field, error.message, code: error.code) }
        return name
    }

    /// Token names: 1 to 100 letters, digits, '-', '_', '.' or '@' (they show up in events as the actor).
    static func tokenName(_ name: String, field: String = "name") throws -> String {
        let allowed = name.utf8.allSatisfy { isNameByte($0) || $0 == UInt8(ascii: "@") }
        guard !name.isEmpty, name.utf8.count <= 100, allowed else {
            throw invalid(field, "a token name is 1 to 100 letters, digits, '-', '_', '.' or '@' (got '\(printable(name))')", code: "invalid_token_name")
        }
        return name
    }

    /// A Semantic Versioning 2.0.0 version of at most `SemanticVersion.maxLength` characters.
    static func version(_ text: String, field: String = "version") throws -> SemanticVersion {
        do { return try SemanticVersion(parsing: text) } catch {
            throw invalid(field, "\(error)", code: "invalid_version")
        }
    }

    /// A rollout, release or guarded-rollout id from the path: a positive whole number.
    static func id(_ text: String, field: String = "id") throws -> Int64 {
        guard let id = Int64(text), id > 0 else { throw invalid(field, "'\(printable(text))' is not an id (a positive whole number)", code: "invalid_id") }
        return id
    }

    static func positive(_ span: TimeSpan, field: String) throws {
        guard span > .zero else { throw invalid(field, "a duration must be positive (got \(span))", code: "invalid_duration") }
    }

    static func ratio(_ value: Double, field: String) throws {
        guard value.isFinite, (0...1).contains(value) else { throw invalid(field, "a ratio is 0 to 1 (got \(value))", code: "invalid_ratio") }
    }

    static func nonNegative(_ value: Int, field: String) throws {
        guard value >= 0 else { throw invalid(field, "must not be negative (got \(value))", code: "invalid_count") }
    }

    /// Free text a request stores: at most `maxTextLength` characters, no control characters but tab and newline.
    static func text(_ value: String, field: String, allowEmpty: Bool = true) throws -> String {
        let control = value.unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" }
        guard value.utf8.count <= maxTextLength, !control, allowEmpty || !value.isEmpty else {
            throw invalid(field, "\(allowEmpty ? "" : "1 to ")\(maxTextLength) characters without control characters", code: "invalid_text")
        }
        return value
    }

    /// An analysis block sent with a request: positive interval and latency limits, ratios within 0–1, counts not negative.
    static func analysis(_ spec: AnalysisSpec, field: String = "analysis") throws {
        try positive(spec.interval, field: "\(field).interval")
        try nonNegative(spec.minRequests, field: "\(field).minRequests")
        try nonNegative(spec.failureLimit, field: "\(field).failureLimit")
        if let rate = spec.maxErrorRate { try ratio(rate, field: "\(field).maxErrorRate") }
        for (index, limit) in spec.maxLatency.enumerated() {
            guard limit.quantile > 0, limit.quantile < 1 else {
                throw invalid("\(field).maxLatency[\(index)].quantile", "a quantile is between 0 and 1 (got \(limit.quantile))", code: "invalid_ratio")
            }
            try positive(limit.limit, field: "\(field).maxLatency[\(index)].limit")
        }
        for (index, metric) in spec.metrics.enumerated() {
            let metricField = "\(field).metrics[\(index)]"
            try positive(metric.interval, field: "\(metricField).interval")
            try positive(metric.timeout, field: "\(metricField).timeout")
            if let count = metric.count, count < 1 {
                throw invalid("\(metricField).count", "a measurement count is at least 1 (got \(count))", code: "invalid_count")
            }
            for (name, limit) in [
                ("failureLimit", metric.failureLimit), ("inconclusiveLimit", metric.inconclusiveLimit),
                ("consecutiveErrorLimit", metric.consecutiveErrorLimit),
            ] {
                try nonNegative(limit, field: "\(metricField).\(name)")
            }
        }
        switch spec.judge {
        case .threshold: break
        case .sequential(let judge):
            try ratio(judge.alpha, field: "\(field).judge.alpha")
            try ratio(judge.minErrorRateIncrease, field: "\(field).judge.minErrorRateIncrease")
            guard judge.minLatencyIncrease.isFinite, judge.minLatencyIncrease >= 0 else {
                throw invalid("\(field).judge.minLatencyIncrease", "must be a non-negative number", code: "invalid_ratio")
            }
            try nonNegative(judge.maxCanaryRequests, field: "\(field).judge.maxCanaryRequests")
        case .canaryBaseline(let judge):
            try ratio(judge.confidenceLevel, field: "\(field).judge.confidenceLevel")
            try ratio(judge.errorRateTolerance, field: "\(field).judge.errorRateTolerance")
            for (name, score) in [("passScore", judge.passScore), ("marginalScore", judge.marginalScore)] {
                guard score.isFinite, (0...100).contains(score) else {
                    throw invalid("\(field).judge.\(name)", "a score is 0 to 100 (got \(score))", code: "invalid_ratio")
                }
            }
            guard judge.latencyTolerance.isFinite, judge.latencyTolerance >= 0 else {
                throw invalid("\(field).judge.latencyTolerance", "must be a non-negative number", code: "invalid_ratio")
            }
        }
    }

    /// A canary strategy sent with a release: weights 0–100, pauses positive, analysis passes at least 1.
    static func strategy(_ strategy: Strategy, field: String) throws {
        switch strategy {
        case .canary(let canary):
            for (index, step) in canary.steps.enumerated() {
                let stepField = "\(field).steps[\(index)]"
                switch step {
                case .setWeight(let weight):
                    guard (0...100).contains(weight) else { throw invalid(stepField, "a weight is 0 to 100 (got \(weight))", code: "invalid_weight") }
                case .pause(let duration?): try positive(duration, field: stepField)
                case .pause(nil): break
                case .analysis(let passes):
                    guard passes >= 1 else { throw invalid(stepField, "an analysis step needs at least 1 passing measurement", code: "invalid_count") }
                case .confirm(let message):
                    _ = try text(message, field: "\(stepField).confirm.message", allowEmpty: false)
                }
            }
        case .blueGreen(let blueGreen):
            if let after = blueGreen.autoPromotionAfter { try positive(after, field: "\(field).autoPromotionAfter") }
        }
    }

    /// A release manifest: member names and versions, strategies, declared flags.
    static func release(_ manifest: ReleaseManifest, field: String = "manifest") throws {
        if let name = manifest.name { _ = try text(name, field: "\(field).name", allowEmpty: false) }
        for (index, target) in manifest.services.enumerated() {
            let member = "\(field).services[\(index)]"
            _ = try serviceName(target.service, field: "\(member).service")
            for required in target.requires.keys { _ = try serviceName(required, field: "\(member).requires") }
            if let strategy = target.strategy { try self.strategy(strategy, field: "\(member).strategy") }
        }
        for (index, flag) in (manifest.flags ?? []).enumerated() {
            _ = try flagName(flag.name, field: "\(field).flags[\(index)].name")
            _ = try environment(flag.environment, field: "\(field).flags[\(index)].environment")
        }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || (48...57).contains(byte)
            || (65...90).contains(byte) || (97...122).contains(byte)
    }

    /// A value quoted back in an error: shortened, control characters escaped.
    private static func printable(_ value: String) -> String {
        let short = value.count > 64 ? value.prefix(64) + "…" : Substring(value)
        return short.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
    }
}
