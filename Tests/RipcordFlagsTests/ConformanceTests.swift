import Foundation
import RipcordFlags
import RipcordTestSupport
import Testing

/// Runs the Unleash client specification (its conformance files) against `FlagEvaluator`.
///
/// The files are vendored in Fixtures/unleash-client-specification (Apache License 2.0, its LICENSE
/// beside them) and copied into the test bundle, so the tests read nothing outside the repository.
enum Specifications {
    static let location = "Tests/RipcordFlagsTests/Fixtures/unleash-client-specification/specifications"

    /// The specifications folder in the test bundle, or nil when it is missing.
    static func directory() -> URL? {
        let specs = Bundle.module.bundleURL.appendingPathComponent("unleash-client-specification/specifications")
        return FileManager.default.fileExists(atPath: specs.appendingPathComponent("index.json").path) ? specs : nil
    }

    static let missingMarker = "<specifications folder not found>"

    /// The file names listed in index.json, or a marker that makes the conformance test fail.
    static func fileNames() -> [String] {
        guard let dir = directory(),
            let data = try? Data(contentsOf: dir.appendingPathComponent("index.json")),
            let names = try? JSONDecoder().decode([String].self, from: data), !names.isEmpty
        else { return [missingMarker] }
        return names
    }
}

struct SpecificationFile: Decodable {
    struct EnabledCase: Decodable {
        let description: String
        let context: FlagContext
        let toggleName: String
        let expectedResult: Bool
    }

    struct VariantCase: Decodable {
        let description: String
        let context: FlagContext
        let toggleName: String
    }

    let name: String
    let state: ClientFeatures
    let tests: [EnabledCase]?
    let variantTests: [VariantCase]?
}

/// JSON text with sorted keys, so objects compare independently of key order.
func canonical(_ object: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

@Suite("Unleash client specification", .tags(.unit))
struct ConformanceTests {
    @Test("specifications folder is present")
    func specificationsArePresent() {
        #expect(Specifications.directory() != nil, "Unleash client specification not in the test bundle: expected \(Specifications.location)/index.json")
    }

    @Test("conformance", arguments: Specifications.fileNames())
    func conformance(file: String) throws {
        guard file != Specifications.missingMarker, let dir = Specifications.directory() else {
            Issue.record("Unleash client specification not in the test bundle: expected \(Specifications.location)")
            return
        }
        let data = try Data(contentsOf: dir.appendingPathComponent(file))
        let spec = try JSONDecoder().decode(SpecificationFile.self, from: data)
        let evaluator = FlagEvaluator(state: spec.state)

        var failures: [String] = []
        var total = 0
        for test in spec.tests ?? [] {
            total += 1
            let actual = evaluator.isEnabled(test.toggleName, context: test.context)
            // The full evaluation must agree with the fast path.
            let full = evaluator.evaluate(test.toggleName, context: test.context)
            if actual != test.expectedResult || full.enabled != actual {
                failures.append("\(test.description) [\(test.toggleName)]: expected \(test.expectedResult), got \(actual)")
            }
        }

        // Variant expectations are compared as JSON objects, field names included.
        let raw = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let rawVariantTests = raw?["variantTests"] as? [[String: Any]] ?? []
        for (test, rawTest) in zip(spec.variantTests ?? [], rawVariantTests) {
            total += 1
            guard let expected = rawTest["expectedResult"] as? [String: Any] else {
                failures.append("\(test.description): expectedResult is not an object")
                continue
            }
            let variant = evaluator.variant(test.toggleName, context: test.context)
            var actual = try JSONSerialization.jsonObject(with: JSONEncoder().encode(variant)) as? [String: Any] ?? [:]
            // Older files spell the flag state featureEnabled, or omit it.
            if expected["feature_enabled"] == nil {
                let value = actual.removeValue(forKey: "feature_enabled")
                if expected["featureEnabled"] != nil { actual["featureEnabled"] = value }
            }
            if try canonical(actual) != canonical(expected) {
                failures.append("\(test.description) [\(test.toggleName)]: expected \(expected), got \(actual)")
            }
        }

        #expect(total > 0, "\(file) has no test cases")
        let summary = "\(file): \(failures.count) of \(total) cases failed:\n" + failures.joined(separator: "\n")
        #expect(failures.isEmpty, "\(summary)")
    }
}
