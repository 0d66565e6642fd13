import Foundation

/// Reads arbitrary bytes with `ContextJSON` and checks that Foundation's JSON parser accepts whatever
/// it accepts: a body the hand-written reader takes and a standard parser refuses is a bug. (Not the
/// converse: Foundation tolerates trailing commas, which RFC 8259 and ContextJSON do not.)
/// Shared by the libFuzzer target (fuzz/, built from this file and ContextJSON.swift alone) and the
/// corpus replay tests.
enum ContextJSONProbe {
    struct Outcome: Equatable {
        var accepted: Bool
        var violations: [String] = []
    }

    static func probe(_ bytes: [UInt8]) -> Outcome {
        let context: [String: ContextJSON.Value]??
        do throws(ContextJSON.Malformed) { context = .some(try ContextJSON.context(bytes)) } catch { context = .none }
        var outcome = Outcome(accepted: context != nil)
        if case let .some(.some(fields)) = context {
            for value in fields.values { _ = value.text }
        }
        // Foundation caps nesting elsewhere, takes numbers ContextJSON refuses (and the reverse) at
        // the edges of Double, and treats duplicate keys its own way: compare only plain documents.
        guard Self.comparable(bytes) else { return outcome }
        let foundation = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) as? [String: Any]
        let foundationContext = foundation.map { $0["context"] == nil || $0["context"] is NSNull || $0["context"] is [String: Any] }
        if outcome.accepted, foundationContext != true { outcome.violations.append("ContextJSON accepts what Foundation refuses") }
        return outcome
    }

    /// Short, shallow, valid UTF-8 without a byte order mark, no exponents: where the two grammars agree.
    private static func comparable(_ bytes: [UInt8]) -> Bool {
        guard bytes.count <= 4096, bytes.first != 0xEF, String(validating: bytes, as: UTF8.self) != nil else { return false }
        var brackets = 0
        for (offset, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { brackets += 1 }
            let exponent = (byte | 0x20) == UInt8(ascii: "e") && offset > 0 && (48...57).contains(bytes[offset - 1])
            if brackets > 16 || exponent { return false }
        }
        return true
    }
}
