import Foundation
import RipcordCore
import RipcordFlags

/// The OpenFeature Remote Evaluation Protocol's request and response shapes over `FlagEvaluator`.
///
/// Responses are written by hand rather than with `JSONEncoder`: number payloads must keep their
/// written form (`1.0` stays a float for OpenFeature's type checks) and JSON payloads are embedded as is.
public enum OFREP {
    /// A refused request: `errorCode` is an OpenFeature error code.
    public struct Failure: Error, Sendable, Equatable {
        public var errorCode: EvaluationErrorCode
        public var errorDetails: String

        public init(errorCode: EvaluationErrorCode, errorDetails: String) {
            self.errorCode = errorCode
            self.errorDetails = errorDetails
        }
    }

    /// The largest request body the OFREP endpoints read.
    public static let maxBodyBytes = 64 * 1024

    /// The single-flag evaluation for a request body (its answer is `success(_:)`), or the failure to report
    /// (`flagNotFound` for an unknown flag, else a 400 kind). The routes and the fast path both use it.
    public static func evaluate(_ key: String, body: [UInt8], in snapshot: FlagSnapshot) throws(Failure) -> FlagEvaluation {
        let flagContext = try context(fromBody: body)
        guard snapshot.evaluator.contains(key) else {
            throw Failure(errorCode: .flagNotFound, errorDetails: "no flag '\(key)' in \(snapshot.environment)")
        }
        if snapshot.evaluator.lacksTargetingKey(key, context: flagContext) { throw targetingKeyMissing(key) }
        return snapshot.evaluator.evaluate(key, context: flagContext)
    }

    static func targetingKeyMissing(_ key: String) -> Failure {
        Failure(
            errorCode: .targetingKeyMissing,
            errorDetails: "'\(key)' is a gradual rollout by user: send a targetingKey (or userId or sessionId) in the context")
    }

    /// The evaluation context of a request body `{"context": {...}}` (an empty body is an empty context).
    ///
    /// `targetingKey` is Unleash's `userId` unless `userId` is given; the Unleash field names are read
    /// as such; `properties` (an object) and every other key become context properties.
    public static func context(fromBody body: [UInt8]) throws(Failure) -> FlagContext {
        guard !body.isEmpty else { return FlagContext() }
        let parsed: [String: ContextValue]?
        do throws(ContextJSON.Malformed) { parsed = try ContextJSON.context(body) } catch {
            throw Failure(errorCode: .parseError, errorDetails: "the body is not a JSON object of the form {\"context\": {...}}")
        }
        guard let fields = parsed else { return FlagContext() }
        var context = FlagContext()
        for (key, value) in fields {
            switch key {
            case "targetingKey": if context.userId == nil { context.userId = value.text }
            case "userId": context.userId = value.text
            case "sessionId": context.sessionId = value.text
            case "remoteAddress": context.remoteAddress = value.text
            case "environment": context.environment = value.text
            case "appName": context.appName = value.text
            case "currentTime":
                // Unreadable, it fails the date rules only (kept as text, which they cannot read), as in Unleash's engine.
                if let text = value.text, let seconds = ISO8601Timestamp.parseContextTime(text) {
                    context.currentTime = Date(timeIntervalSince1970: seconds)
                } else {
                    context.properties["currentTime"] = value.text ?? ""
                }
            case "properties":
                guard case .object(let properties) = value else {
                    throw Failure(errorCode: .invalidContext, errorDetails: "properties must be an object")
                }
                for (name, property) in properties { context.properties[name] = property.text }
            default: context.properties[key] = value.text
            }
        }
        // An explicit userId wins over targetingKey whatever the key order.
        if let explicit = fields["userId"]?.text { context.userId = explicit }
        return context
    }

    /// A context value of any JSON type (read by `ContextJSON`, which the fuzzing targets build alone).
    typealias ContextValue = ContextJSON.Value

    // MARK: Responses

    /// `{"key", "value", "reason", "variant", "metadata"}` for an evaluated flag.
    ///
    /// The value is the variant's payload when the flag is on with a variant that has one (a number
    /// or JSON payload as written, other payloads as strings), else the flag's on/off state.
    /// `variant` is the variant's name, or "" when there is none; `metadata.enabled` is the on/off state.
    public static func success(_ evaluation: FlagEvaluation, into out: inout String) {
        out += "{\"key\":"
        JSONText.appendString(evaluation.flag, to: &out)
        out += ",\"value\":"
        appendValue(evaluation, to: &out)
        out += ",\"reason\":\""
        out += evaluation.reason.openFeatureReason
        out += "\",\"variant\":"
        JSONText.appendString(evaluation.variant.enabled ? evaluation.variant.name : "", to: &out)
        out += evaluation.enabled ? ",\"metadata\":{\"enabled\":true}}" : ",\"metadata\":{\"enabled\":false}}"
    }

    public static func success(_ evaluation: FlagEvaluation) -> String {
        var out = ""
        out.reserveCapacity(128)
        success(evaluation, into: &out)
        return out
    }

    /// `{"flags": [...]}`: every flag of the state, evaluated for one context; a flag that needs a
    /// targeting key the context lacks is listed as that error.
    public static func bulk(_ snapshot: FlagSnapshot, context: FlagContext) -> String {
        var out = "{\"flags\":["
        for (i, evaluation) in snapshot.evaluator.evaluateAll(context: context).enumerated() {
            if i > 0 { out += "," }
            if snapshot.evaluator.lacksTargetingKey(evaluation.flag, context: context) {
                out += error(key: evaluation.flag, targetingKeyMissing(evaluation.flag))
            } else {
                success(evaluation, into: &out)
            }
        }
        return out + "]}"
    }

    /// An error body; `key` is omitted for bulk requests. Both `errorCode` and `errorDetails` are always present.
    public static func error(key: String?, _ failure: Failure) -> String {
        var out = "{"
        if let key {
            out += "\"key\":"
            JSONText.appendString(key, to: &out)
            out += ","
        }
        out += "\"errorCode\":\"\(failure.errorCode.rawValue)\",\"errorDetails\":"
        JSONText.appendString(failure.errorDetails, to: &out)
        return out + "}"
    }

    private static func appendValue(_ evaluation: FlagEvaluation, to out: inout String) {
        if evaluation.enabled, evaluation.variant.enabled, let payload = evaluation.variant.payload {
            let trimmed = payload.value.trimmingCharacters(in: .whitespacesAndNewlines)
            switch payload.type {
            case "number" where isJSONNumber(trimmed):
                out += trimmed
                return
            case "json" where (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed])) != nil:
                out += trimmed
                return
            default:
                JSONText.appendString(payload.value, to: &out)
                return
            }
        }
        out += evaluation.enabled ? "true" : "false"
    }

    /// Whether `text` is a JSON number literal (RFC 8259 grammar).
    static func isJSONNumber(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        func digits() -> Int {
            let count = bytes.prefix { (48...57).contains($0) }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        if bytes.first == UInt8(ascii: "0") { bytes = bytes.dropFirst() } else if digits() == 0 { return false }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            if digits() == 0 { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            if digits() == 0 { return false }
        }
        return bytes.isEmpty
    }
}
