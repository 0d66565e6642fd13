import RipcordConfig
import RipcordCore
import RipcordTestSupport
import Testing

@Suite(.tags(.unit)) struct ReleaseManifestLoaderTests {
    @Test func aManifestNamesServicesVersionsRequirementsAndStrategies() throws {
        let manifest = try ReleaseManifestLoader.parse(
            """
            name: checkout-v2
            services:
              checkout:
                version: 2.0.0
                requires: { payments: ">=2.1.0 <3.0.0" }
                strategy: { canary: { steps: [ { setWeight: 10 }, { pause: { duration: 1s } } ] } }
              payments:
                version: 2.1.0
            """, file: "release.yaml")
        #expect(manifest.name == "checkout-v2")
        #expect(manifest.services.map(\.service) == ["checkout", "payments"])
        #expect(manifest.services[0].requires["payments"]?.description == ">=2.1.0 <3.0.0")
        #expect(manifest.services[0].strategy == .canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(1))])))
        #expect(manifest.services[1].strategy == nil)
    }

    @Test func errorsNameFileLineAndField() {
        let cases: [(String, String, Int)] = [
            ("services:\n  checkout:\n    version: two\n", "services.checkout.version", 3),
            ("services:\n  checkout:\n    version: 2.0.0\n    requires: { payments: \"=>2\" }\n", "services.checkout.requires.payments", 4),
            ("services:\n  checkout:\n    version: 2.0.0\n    colour: blue\n", "services.checkout.colour", 4),
            ("name: x\n", "", 1),
        ]
        for (text, key, line) in cases {
            do {
                _ = try ReleaseManifestLoader.parse(text, file: "release.yaml")
                Issue.record("accepted: \(text)")
            } catch let error as ConfigError {
                #expect(error.file == "release.yaml" && error.key == key && error.line == line, "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }
}
