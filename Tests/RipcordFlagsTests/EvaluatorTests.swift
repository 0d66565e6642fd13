import Foundation
import RipcordFlags
import RipcordBenchmarks
import RipcordTestSupport
import Testing

private func payload(_ value: String) -> VariantPayload { VariantPayload(type: "string", value: value) }

@Suite("Strategies", .tags(.unit))
struct StrategyTests {
    @Test("flexibleRollout: percentages, stickiness and groupId default")
    func flexibleRollout() {
        func flag(_ rollout: String, stickiness: String = "default", groupId: String? = nil) -> FlagEvaluator {
            var params = ["rollout": rollout, "stickiness": stickiness]
            if let groupId { params["groupId"] = groupId }
            return FlagEvaluator(
                state: ClientFeatures(features: [
                    FeatureDefinition(
                        name: "Feature.flexibleRollout.userId.55", enabled: true,
                        strategies: [StrategyDefinition(name: "flexibleRollout", parameters: params)])
                ]))
        }
        // normalizedHash("Feature.flexibleRollout.userId.55", "25") is within 55.
        #expect(flag("55", stickiness: "userId").isEnabled("Feature.flexibleRollout.userId.55", context: FlagContext(userId: "25")))
        // groupId defaults to the feature name, so both spellings agree for every user.
        let implicit = flag("50", stickiness: "userId")
        let explicit = flag("50", stickiness: "userId", groupId: "Feature.flexibleRollout.userId.55")
        for i in 0..<200 {
            let ctx = FlagContext(userId: "u\(i)")
            #expect(
                implicit.isEnabled("Feature.flexibleRollout.userId.55", context: ctx)
                    == explicit.isEnabled("Feature.flexibleRollout.userId.55", context: ctx))
        }
        // The share of enabled users tracks the rollout percentage.
        let enabledCount = (0..<10_000).filter { flag("30", groupId: "g").isEnabled("Feature.flexibleRollout.userId.55", context: FlagContext(userId: "user-\($0)")) }.count
        #expect((2_700...3_300).contains(enabledCount))
        #expect(!flag("0").isEnabled("Feature.flexibleRollout.userId.55", context: FlagContext(userId: "1")))
        #expect(flag("100").isEnabled("Feature.flexibleRollout.userId.55"), "default stickiness falls back to random")
        #expect(flag("100", stickiness: "random").isEnabled("Feature.flexibleRollout.userId.55"))
        #expect(!flag("100", stickiness: "userId").isEnabled("Feature.flexibleRollout.userId.55"), "explicit stickiness needs the field")
        #expect(!flag("100", stickiness: "tenant").isEnabled("Feature.flexibleRollout.userId.55"))
        #expect(flag("100", stickiness: "tenant").isEnabled("Feature.flexibleRollout.userId.55", context: FlagContext(properties: ["tenant": "acme"])))
        #expect(!flag("lots").isEnabled("Feature.flexibleRollout.userId.55", context: FlagContext(userId: "1")), "invalid rollout never matches")
    }

    @Test("remoteAddress with IPs, CIDR ranges and IPv6")
    func remoteAddress() {
        let e = FlagEvaluator(
            state: ClientFeatures(features: [
                FeatureDefinition(
                    name: "f", enabled: true,
                    strategies: [
                        StrategyDefinition(name: "remoteAddress", parameters: ["IPs": "127.0.0.1, 10.0.0.0/8 ,bogus, 2001:db8::/48, ::1"])
                    ])
            ]))
        for (ip, expected) in [
            ("127.0.0.1", true), ("10.200.3.4", true), ("11.0.0.1", false), ("2001:db8:0:ffff::1", true),
            ("2001:db8:1::1", false), ("::1", true), ("bogus", true), ("", false),
        ] {
            #expect(e.isEnabled("f", context: FlagContext(remoteAddress: ip)) == expected, "\(ip)")
        }
        #expect(!e.isEnabled("f"))
    }

    @Test("applicationHostname uses the injected hostname, case-insensitively")
    func hostname() {
        let state = ClientFeatures(features: [
            FeatureDefinition(
                name: "f", enabled: true,
                strategies: [
                    StrategyDefinition(name: "applicationHostname", parameters: ["hostNames": "web-1, Web-2"])
                ])
        ])
        #expect(FlagEvaluator(state: state, hostname: "WEB-2").isEnabled("f"))
        #expect(!FlagEvaluator(state: state, hostname: "web-3").isEnabled("f"))
        #expect(!FlagEvaluator(state: state, hostname: "").isEnabled("f"))
        #expect(!FlagEvaluator(state: state).hostname.isEmpty, "defaults to the machine's hostname")
    }

    @Test("userWithId, gradual rollouts, unknown and disabled strategies")
    func others() {
        let e = FlagEvaluator(
            state: ClientFeatures(features: [
                FeatureDefinition(name: "ids", enabled: true, strategies: [StrategyDefinition(name: "userWithId", parameters: ["userIds": "a, b ,c"])]),
                FeatureDefinition(
                    name: "gradual", enabled: true,
                    strategies: [
                        StrategyDefinition(name: "gradualRolloutUserId", parameters: ["percentage": "50", "groupId": "AB12A"])
                    ]),
                FeatureDefinition(name: "custom", enabled: true, strategies: [StrategyDefinition(name: "myCustomStrategy")]),
                FeatureDefinition(
                    name: "customThenDefault", enabled: true,
                    strategies: [
                        StrategyDefinition(name: "myCustomStrategy"), StrategyDefinition(name: "default"),
                    ]),
                FeatureDefinition(
                    name: "skipDisabled", enabled: true,
                    strategies: [
                        StrategyDefinition(name: "default", disabled: true),
                        StrategyDefinition(name: "userWithId", parameters: ["userIds": "a"]),
                    ]),
                FeatureDefinition(name: "allDisabled", enabled: true, strategies: [StrategyDefinition(name: "default", disabled: true)]),
                FeatureDefinition(name: "noStrategies", enabled: true),
                FeatureDefinition(name: "off", enabled: false),
            ]))
        #expect(e.isEnabled("ids", context: FlagContext(userId: "b")))
        #expect(!e.isEnabled("ids", context: FlagContext(userId: "d")))
        #expect(!e.isEnabled("ids"))
        #expect(e.isEnabled("gradual", context: FlagContext(userId: "122")))
        #expect(!e.isEnabled("gradual", context: FlagContext(userId: "155")))
        #expect(!e.isEnabled("custom"))
        #expect(e.isEnabled("customThenDefault"))
        #expect(!e.isEnabled("skipDisabled", context: FlagContext(userId: "z")))
        #expect(e.isEnabled("skipDisabled", context: FlagContext(userId: "a")))
        #expect(e.evaluate("skipDisabled", context: FlagContext(userId: "a")).strategyIndex == 1)
        #expect(!e.isEnabled("allDisabled"))
        #expect(e.isEnabled("noStrategies"))
        #expect(!e.isEnabled("off"))
    }

    @Test("segments: all constraints must pass; a missing segment disables the strategy")
    func segments() {
        let state = ClientFeatures(
            features: [
                FeatureDefinition(name: "seg", enabled: true, strategies: [StrategyDefinition(name: "default", segments: [1, 2])]),
                FeatureDefinition(name: "missing", enabled: true, strategies: [StrategyDefinition(name: "default", segments: [9])]),
            ],
            segments: [
                Segment(id: 1, constraints: [Constraint(contextName: "environment", operator: .in, values: ["prod"])]),
                Segment(id: 2, constraints: [Constraint(contextName: "plan", operator: .in, values: ["pro"])]),
            ])
        let e = FlagEvaluator(state: state)
        #expect(e.isEnabled("seg", context: FlagContext(environment: "prod", properties: ["plan": "pro"])))
        #expect(!e.isEnabled("seg", context: FlagContext(environment: "prod", properties: ["plan": "free"])))
        #expect(!e.isEnabled("missing", context: FlagContext(environment: "prod")))
        #expect(e.warnings.contains { $0.feature == "missing" })
    }
}

@Suite("Variants", .tags(.unit))
struct VariantTests {
    @Test("feature variants: weights, overrides, custom stickiness, disabled variant")
    func featureVariants() {
        let e = FlagEvaluator(
            state: ClientFeatures(features: [
                FeatureDefinition(
                    name: "v", enabled: true,
                    variants: [
                        VariantDefinition(
                            name: "a", weight: 500, weightType: .variable, stickiness: "tenant", payload: payload("A"),
                            overrides: [VariantOverride(contextName: "userId", values: ["vip"])]),
                        VariantDefinition(name: "b", weight: 500, weightType: .variable, stickiness: "tenant"),
                    ]),
                FeatureDefinition(name: "zero", enabled: true, variants: [VariantDefinition(name: "a", weight: 0)]),
                FeatureDefinition(name: "none", enabled: true),
                FeatureDefinition(name: "off", enabled: false, variants: [VariantDefinition(name: "a", weight: 1)]),
            ]))
        #expect(e.variant("v", context: FlagContext(userId: "vip", properties: ["tenant": "t-3"])).name == "a")
        #expect(e.variant("v", context: FlagContext(userId: "vip")).payload == payload("A"))
        // Sticky on the custom field: same tenant, same variant, whatever the user.
        for tenant in ["t-1", "t-2", "t-3", "t-4"] {
            let names = Set((0..<20).map { e.variant("v", context: FlagContext(userId: "u\($0)", properties: ["tenant": tenant])).name })
            #expect(names.count == 1)
        }
        let split = (0..<4000).map { e.variant("v", context: FlagContext(properties: ["tenant": "t\($0)"])).name }
        #expect((1700...2300).contains(split.filter { $0 == "a" }.count))
        #expect(e.variant("zero") == .disabled(featureEnabled: true))
        #expect(e.variant("none") == .disabled(featureEnabled: true))
        #expect(e.variant("off") == .disabled(featureEnabled: false))
        #expect(e.variant("missing") == .disabled(featureEnabled: false))
    }

    @Test("fix and variable weights are distributed like Unleash")
    func weights() throws {
        let variants = try VariantWeights.distribute([
            VariantDefinition(name: "fixed", weight: 200, weightType: .fix),
            VariantDefinition(name: "x", weight: 0, weightType: .variable),
            VariantDefinition(name: "y", weight: 0, weightType: .variable),
            VariantDefinition(name: "z", weight: 0),
        ])
        #expect(variants.map(\.weight) == [200, 267, 267, 266])
        #expect(variants.map(\.weight).reduce(0, +) == 1000)
        #expect(throws: VariantWeights.Error.self) {
            try VariantWeights.distribute([VariantDefinition(name: "f", weight: 1200, weightType: .fix), VariantDefinition(name: "v", weight: 0)])
        }
        #expect(throws: VariantWeights.Error.noVariableVariant) {
            try VariantWeights.distribute([VariantDefinition(name: "f", weight: 500, weightType: .fix)])
        }
        // A fixed 20 % variant gets about 20 % of users.
        let e = FlagEvaluator(state: ClientFeatures(features: [FeatureDefinition(name: "w", enabled: true, variants: variants)]))
        let fixed = (0..<5000).filter { e.variant("w", context: FlagContext(userId: "user\($0)")).name == "fixed" }.count
        #expect((850...1150).contains(fixed))
    }

    @Test("strategy variants take precedence; stickiness and groupId come from the strategy")
    func strategyVariants() {
        let strategyVariants = [
            VariantDefinition(name: "sA", weight: 1, payload: payload("A")),
            VariantDefinition(name: "sB", weight: 1, payload: payload("B")),
        ]
        let e = FlagEvaluator(
            state: ClientFeatures(features: [
                FeatureDefinition(
                    name: "f", enabled: true,
                    strategies: [
                        StrategyDefinition(
                            name: "flexibleRollout", parameters: ["rollout": "100", "stickiness": "default", "groupId": "a"],
                            constraints: [Constraint(contextName: "environment", operator: .in, values: ["dev"])],
                            variants: strategyVariants),
                        StrategyDefinition(name: "default", variants: []),
                    ], variants: [VariantDefinition(name: "featureVariant", weight: 1)])
            ]))
        #expect(e.variant("f", context: FlagContext(userId: "5", environment: "dev")).name == "sA")
        #expect(e.variant("f", context: FlagContext(userId: "0", environment: "dev")).name == "sB")
        let dev = e.evaluate("f", context: FlagContext(userId: "0", environment: "dev"))
        #expect(dev.strategyIndex == 0 && dev.variant.payload == payload("B") && dev.variant.featureEnabled)
        // The second strategy has no variants of its own: the feature's variants apply.
        let prod = e.evaluate("f", context: FlagContext(userId: "0", environment: "prod"))
        #expect(prod.strategyIndex == 1 && prod.variant.name == "featureVariant")
    }

    @Test("variant JSON shape")
    func json() throws {
        let encoded = try JSONEncoder().encode(VariantResult(name: "v", payload: payload("x"), enabled: true, featureEnabled: true))
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        #expect(Set(object.keys) == ["name", "payload", "enabled", "feature_enabled"])
        let disabled = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(VariantResult.disabled(featureEnabled: false))) as? [String: Any])
        #expect(Set(disabled.keys) == ["name", "enabled", "feature_enabled"])
        let camel = try JSONDecoder().decode(VariantResult.self, from: Data(#"{"name":"n","enabled":true,"featureEnabled":true}"#.utf8))
        #expect(camel.featureEnabled)
    }
}

@Suite("Dependent features", .tags(.unit))
struct DependencyTests {
    let evaluator = FlagEvaluator(
        state: ClientFeatures(features: [
            FeatureDefinition(name: "parent.on", enabled: true),
            FeatureDefinition(name: "parent.off", enabled: false),
            FeatureDefinition(
                name: "parent.prod", enabled: true,
                strategies: [
                    StrategyDefinition(name: "default", constraints: [Constraint(contextName: "environment", operator: .in, values: ["prod"])])
                ]),
            FeatureDefinition(
                name: "parent.variant", enabled: true,
                strategies: [
                    StrategyDefinition(name: "flexibleRollout", parameters: ["rollout": "100"], variants: [VariantDefinition(name: "blue", weight: 1)])
                ]),
            FeatureDefinition(name: "child.on", enabled: true, dependencies: [FeatureDependency(feature: "parent.on")]),
            FeatureDefinition(name: "child.of.off", enabled: true, dependencies: [FeatureDependency(feature: "parent.off")]),
            FeatureDefinition(name: "child.wants.off", enabled: true, dependencies: [FeatureDependency(feature: "parent.off", enabled: false)]),
            FeatureDefinition(name: "child.wants.off.but.on", enabled: true, dependencies: [FeatureDependency(feature: "parent.on", enabled: false)]),
            FeatureDefinition(name: "child.disabled", enabled: false, dependencies: [FeatureDependency(feature: "parent.on")]),
            FeatureDefinition(name: "child.of.prod", enabled: true, dependencies: [FeatureDependency(feature: "parent.prod")]),
            FeatureDefinition(name: "child.blue", enabled: true, dependencies: [FeatureDependency(feature: "parent.variant", variants: ["red", "blue"])]),
            FeatureDefinition(name: "child.red", enabled: true, dependencies: [FeatureDependency(feature: "parent.variant", variants: ["red"])]),
            FeatureDefinition(name: "child.default.variant", enabled: true, dependencies: [FeatureDependency(feature: "parent.on", variants: ["disabled"])]),
            FeatureDefinition(name: "child.empty.variants", enabled: true, dependencies: [FeatureDependency(feature: "parent.variant", variants: [])]),
            FeatureDefinition(name: "child.missing", enabled: true, dependencies: [FeatureDependency(feature: "nope")]),
            FeatureDefinition(name: "child.missing.wants.off", enabled: true, dependencies: [FeatureDependency(feature: "nope", enabled: false)]),
            FeatureDefinition(name: "grandchild", enabled: true, dependencies: [FeatureDependency(feature: "child.on")]),
            FeatureDefinition(name: "cycle.a", enabled: true, dependencies: [FeatureDependency(feature: "cycle.b")]),
            FeatureDefinition(name: "cycle.b", enabled: true, dependencies: [FeatureDependency(feature: "cycle.a")]),
            FeatureDefinition(
                name: "two.parents", enabled: true,
                dependencies: [
                    FeatureDependency(feature: "parent.on"), FeatureDependency(feature: "parent.off", enabled: false),
                ]),
        ]))

    @Test("parent state, variants, missing and transitive parents")
    func dependencies() {
        let expectations: [(String, Bool)] = [
            ("child.on", true), ("child.of.off", false), ("child.wants.off", true), ("child.wants.off.but.on", false),
            ("child.disabled", false), ("child.blue", true), ("child.red", false), ("child.default.variant", true),
            ("child.empty.variants", true), ("child.missing", false), ("child.missing.wants.off", false),
            ("grandchild", false), ("cycle.a", false), ("cycle.b", false), ("two.parents", true),
        ]
        for (flag, expected) in expectations {
            #expect(evaluator.isEnabled(flag) == expected, "\(flag)")
        }
        #expect(evaluator.isEnabled("child.of.prod", context: FlagContext(environment: "prod")))
        #expect(!evaluator.isEnabled("child.of.prod", context: FlagContext(environment: "dev")))
    }

    @Test("reasons")
    func reasons() {
        #expect(evaluator.evaluate("child.of.off").reason == .dependencyNotSatisfied)
        #expect(evaluator.evaluate("child.disabled").reason == .disabled, "the kill switch wins")
        #expect(evaluator.evaluate("child.on").reason == .staticValue)
        #expect(evaluator.evaluate("child.of.prod", context: FlagContext(environment: "prod")).reason == .staticValue)
        let matched = evaluator.evaluate("parent.prod", context: FlagContext(environment: "prod"))
        #expect(matched.reason == .targetingMatch && matched.strategyIndex == 0)
        #expect(evaluator.evaluate("parent.prod", context: FlagContext(environment: "dev")).reason == .defaultValue)
        let missing = evaluator.evaluate("no.such.flag")
        #expect(missing.reason == .error && missing.errorCode == .flagNotFound && !missing.enabled)
        #expect(missing.reason.openFeatureReason == "ERROR")
        #expect(EvaluationReason.targetingMatch.openFeatureReason == "TARGETING_MATCH")
        #expect(evaluator.evaluateAll().count == evaluator.flagNames.count)
    }
}

@Suite("Model", .tags(.unit))
struct ModelTests {
    @Test("decodes an /api/client/features document, ignoring unknown fields")
    func decoding() throws {
        let json = #"""
            {"version":2,"query":{"project":["default"]},"meta":{"revisionId":12},
             "features":[{"name":"checkout","type":"release","project":"shop","enabled":true,"stale":false,
               "impressionData":true,"description":null,"createdAt":"2024-01-01T00:00:00.000Z","lastSeenAt":null,
               "strategies":[{"id":"2b9b-4c","name":"flexibleRollout","title":"","disabled":false,"sortOrder":0,
                 "parameters":{"rollout":50,"stickiness":"default","groupId":"checkout"},
                 "constraints":[{"contextName":"appName","operator":"IN","values":["web"],"inverted":false,"caseInsensitive":false},
                                {"contextName":"n","operator":"NUM_GT","value":3}],
                 "segments":[7],
                 "variants":[{"name":"s","weight":1000,"weightType":"variable","stickiness":"default","payload":{"type":"json","value":"{\"a\":1}"}}]}],
               "variants":[{"name":"v","weight":1000,"weightType":"fix","stickiness":"default","overrides":[{"contextName":"userId","values":["1"]}]}],
               "dependencies":[{"feature":"parent","enabled":true,"variants":["x"]}]}],
             "segments":[{"id":7,"name":"beta","constraints":[]}]}
            """#
        let state = try JSONDecoder().decode(ClientFeatures.self, from: Data(json.utf8))
        let f = try #require(state.features.first)
        #expect(f.name == "checkout" && f.type == "release" && f.project == "shop" && f.impressionData == true)
        let s = try #require(f.strategies.first)
        #expect(s.parameters["rollout"] == "50")
        #expect(s.constraints[1].value == "3" && s.constraints[1].knownOperator == .numGt)
        #expect(s.segments == [7] && s.disabled == false && s.id == "2b9b-4c")
        #expect(s.variants?.first?.payload?.type == "json")
        #expect(f.variants?.first?.weightType == .fix && f.variants?.first?.overrides?.first?.values == ["1"])
        #expect(f.dependencies == [FeatureDependency(feature: "parent", enabled: true, variants: ["x"])])
        #expect(state.segments?.first?.name == "beta")
        // Round trip.
        let again = try JSONDecoder().decode(ClientFeatures.self, from: JSONEncoder().encode(state))
        #expect(again == state)
        let e = FlagEvaluator(state: state)
        #expect(e.evaluate("checkout").impressionData)
    }

    @Test("context decodes the Unleash JSON shape")
    func context() throws {
        let json = #"{"userId":"1","currentTime":"2022-01-22T11:30:00.000Z","properties":{"a":"x","b":null,"n":3}}"#
        let ctx = try JSONDecoder().decode(FlagContext.self, from: Data(json.utf8))
        #expect(ctx.userId == "1" && ctx.properties == ["a": "x", "n": "3"])
        #expect(ctx.currentTime == Date(timeIntervalSince1970: 1_642_851_000))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(FlagContext.self, from: Data(#"{"currentTime":"tomorrow"}"#.utf8))
        }
    }

    @Test("flag lookup over many flags; the first of duplicate names wins")
    func lookup() {
        var features = (0..<500).map { FeatureDefinition(name: "flag-\($0)", enabled: $0 % 2 == 0) }
        features.append(FeatureDefinition(name: "flag-0", enabled: false))
        let e = FlagEvaluator(state: ClientFeatures(features: features))
        for i in 0..<500 { #expect(e.isEnabled("flag-\(i)") == (i % 2 == 0)) }
        #expect(!e.contains("flag-500") && e.contains("flag-499"))
        #expect(e.definition(of: "flag-0")?.enabled == true)
    }

    @Test("benchmark flag has 3 strategies and 5 constraints and evaluates")
    func benchmarkShape() {
        let flag = benchmarkState().features[0]
        #expect(flag.strategies.count == 3)
        #expect(flag.strategies.map(\.constraints.count).reduce(0, +) == 5)
        let result = benchmarkEvaluation(iterations: 1000)
        #expect(result.evaluationsPerSecond > 0 && result.checksum > 0)
    }
}
