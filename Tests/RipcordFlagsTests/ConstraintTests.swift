import Foundation
import RipcordFlags
import RipcordTestSupport
import Testing

@Suite("Constraint operators", .tags(.unit))
struct ConstraintTests {
    func c(
        _ field: String, _ op: ConstraintOperator, value: String? = nil, values: [String]? = nil,
        inverted: Bool = false, ci: Bool = false
    ) -> Constraint {
        Constraint(contextName: field, operator: op, value: value, values: values, inverted: inverted, caseInsensitive: ci)
    }

    @Test("IN / NOT_IN, inverted, case-insensitive, missing field")
    func membership() {
        let ctx = FlagContext(userId: "u1", environment: "Prod")
        #expect(evaluate(c("userId", .in, values: ["u1", "u2"]), context: ctx))
        #expect(!evaluate(c("userId", .in, values: ["u3"]), context: ctx))
        #expect(!evaluate(c("userId", .in, values: ["u1"], inverted: true), context: ctx))
        #expect(evaluate(c("userId", .notIn, values: ["u3"]), context: ctx))
        #expect(!evaluate(c("userId", .notIn, values: ["u1"]), context: ctx))
        #expect(evaluate(c("userId", .notIn, values: ["u1"], inverted: true), context: ctx))
        #expect(!evaluate(c("environment", .in, values: ["prod"]), context: ctx), "case-sensitive by default")
        // As in Unleash's reference engine, IN and NOT_IN are case-sensitive whatever caseInsensitive says.
        #expect(!evaluate(c("environment", .in, values: ["prod"], ci: true), context: ctx))
        #expect(evaluate(c("environment", .notIn, values: ["PROD"], ci: true), context: ctx))
        #expect(evaluate(c("environment", .in, values: ["Prod"], ci: true), context: ctx))
        // Missing field: IN is false, NOT_IN is true; inversion applies afterwards.
        #expect(!evaluate(c("missing", .in, values: ["x"])))
        #expect(evaluate(c("missing", .notIn, values: ["x"])))
        #expect(evaluate(c("missing", .in, values: ["x"], inverted: true)))
        #expect(!evaluate(c("missing", .notIn, values: ["x"], inverted: true)))
        // Empty lists.
        #expect(!evaluate(c("userId", .in, values: []), context: ctx))
        #expect(evaluate(c("userId", .notIn, values: []), context: ctx))
        // Long lists use a hashed set.
        let many = (0..<100).map { "user-\($0)" }
        #expect(evaluate(c("userId", .in, values: many), context: FlagContext(userId: "user-77")))
        #expect(!evaluate(c("userId", .in, values: many), context: FlagContext(userId: "user-777")))
    }

    @Test("standard fields fall back to properties")
    func fieldLookup() {
        #expect(evaluate(c("appName", .in, values: ["app"]), properties: ["appName": "app"]))
        #expect(evaluate(c("appName", .in, values: ["top"]), context: FlagContext(appName: "top", properties: ["appName": "prop"])))
        #expect(evaluate(c("tenant", .in, values: ["acme"]), properties: ["tenant": "acme"]))
        #expect(FlagContext(sessionId: "s", properties: ["k": "v"]).value(forContextName: "k") == "v")
        #expect(FlagContext(sessionId: "s").value(forContextName: "sessionId") == "s")
    }

    @Test("string operators with case-insensitivity and inversion")
    func strings() {
        let p = ["email": "Test@Some-Email.com"]
        #expect(evaluate(c("email", .strEndsWith, values: ["Some-Email.com"]), properties: p))
        #expect(!evaluate(c("email", .strEndsWith, values: ["some-email.com"]), properties: p))
        #expect(evaluate(c("email", .strEndsWith, values: ["some-email.com"], ci: true), properties: p))
        #expect(evaluate(c("email", .strStartsWith, values: ["x", "Test"]), properties: p))
        #expect(evaluate(c("email", .strStartsWith, values: ["TEST"], ci: true), properties: p))
        #expect(!evaluate(c("email", .strStartsWith, values: ["TEST"]), properties: p))
        #expect(evaluate(c("email", .strContains, values: ["@Some"]), properties: p))
        #expect(!evaluate(c("email", .strContains, values: ["@some"]), properties: p))
        #expect(evaluate(c("email", .strContains, values: ["@SOME"], ci: true), properties: p))
        #expect(!evaluate(c("email", .strContains, values: ["@Some"], inverted: true), properties: p))
        #expect(evaluate(c("email", .strContains, values: ["nope"], inverted: true), properties: p))
        #expect(!evaluate(c("email", .strContains, values: ["a"])), "missing field is false")
        #expect(evaluate(c("email", .strContains, values: ["a"], inverted: true)), "…and inverted true")
        #expect(evaluate(c("name", .strContains, values: ["ø"]), properties: ["name": "Hellø"]))
        #expect(evaluate(c("name", .strEndsWith, values: ["ØRLD"], ci: true), properties: ["name": "hellø wørld"]))
        #expect(!evaluate(c("name", .strStartsWith, values: ["longer than value"]), properties: ["name": "short"]))
    }

    @Test("numeric operators")
    func numbers() {
        func num(_ op: ConstraintOperator, _ target: String, _ actual: String, inverted: Bool = false) -> Bool {
            evaluate(c("n", op, value: target, inverted: inverted), properties: ["n": actual])
        }
        #expect(num(.numEq, "12", "12"))
        #expect(num(.numEq, "12", "12.0"))
        #expect(num(.numEq, "12.0", "12"))
        #expect(!num(.numEq, "12", "13"))
        #expect(!num(.numEq, "12", "12", inverted: true))
        #expect(num(.numGt, "12", "12.5"))
        #expect(!num(.numGt, "12", "12"))
        #expect(num(.numGte, "12", "12"))
        #expect(num(.numLt, "-3", "-4.5"))
        #expect(num(.numLte, "1e3", "1000"))
        #expect(!num(.numLt, "12", "abc"), "non-numeric context value is false")
        #expect(num(.numLt, "12", "abc", inverted: true), "…and inverted true")
        #expect(!num(.numLt, "12", "0x1"), "hex is not a number")
        #expect(!num(.numEq, "12", "nan"))
        #expect(!evaluate(c("n", .numLt, value: "twelve"), properties: ["n": "1"]), "invalid constraint value never matches")
        #expect(!evaluate(c("n", .numLt, value: "twelve", inverted: true), properties: ["n": "1"]), "…even inverted")
        #expect(!evaluate(c("n", .numLt, value: "12")), "missing field")
    }

    @Test("date operators, exclusive, with offsets and default now")
    func dates() {
        let t = { (s: String) in FlagContext(currentTime: Date(timeIntervalSince1970: ISO8601Timestamp.parse(s)!)) }
        #expect(evaluate(c("currentTime", .dateAfter, value: "2022-01-29T13:00:00.000Z"), context: t("2022-01-29T13:00:00.001Z")))
        #expect(!evaluate(c("currentTime", .dateAfter, value: "2022-01-29T13:00:00.000Z"), context: t("2022-01-29T13:00:00Z")))
        #expect(!evaluate(c("currentTime", .dateBefore, value: "2022-01-29T13:00:00.000Z"), context: t("2022-01-29T13:00:00Z")))
        #expect(evaluate(c("currentTime", .dateBefore, value: "2022-01-29T15:00:00+02:00"), context: t("2022-01-29T12:59:59Z")))
        #expect(evaluate(c("currentTime", .dateAfter, value: "2022-01-29T13:00:00Z", inverted: true), context: t("2022-01-01T00:00:00Z")))
        // currentTime defaults to now.
        #expect(evaluate(c("currentTime", .dateAfter, value: "2000-01-01T00:00:00Z")))
        #expect(!evaluate(c("currentTime", .dateAfter, value: "2999-01-01T00:00:00Z")))
        #expect(evaluate(c("currentTime", .dateBefore, value: "2999-01-01T00:00:00Z")))
        // Any other field is read from the context and parsed.
        #expect(evaluate(c("signup", .dateBefore, value: "2022-01-01T00:00:00Z"), properties: ["signup": "2021-06-01T10:00:00+02:00"]))
        #expect(!evaluate(c("signup", .dateBefore, value: "2022-01-01T00:00:00Z"), properties: ["signup": "yesterday"]))
        #expect(!evaluate(c("signup", .dateBefore, value: "2022-01-01T00:00:00Z")), "missing field")
        #expect(!evaluate(c("currentTime", .dateAfter, value: "soon")), "invalid constraint date never matches")
    }

    @Test("REGEX with Rust semantics")
    func regex() {
        func rx(_ pattern: String, _ value: String?, ci: Bool = false, inverted: Bool = false) -> Bool {
            evaluate(c("v", .regex, value: pattern, inverted: inverted, ci: ci), properties: value.map { ["v": $0] } ?? [:])
        }
        #expect(rx("^cat$", "cat"))
        #expect(!rx("^cat$", "Cat"))
        #expect(rx("^cat$", "Cat", ci: true))
        #expect(rx("^(?i)abc$", "AbC"))
        #expect(rx("cat", "concatenate"), "unanchored search")
        #expect(!rx("\\bcat\\b", "concatenate"))
        #expect(rx("\\bcat\\b", "a cat b"))
        #expect(rx("^user\\d{3}$", "user123"))
        #expect(!rx("^user\\d{3}$", "user12"))
        #expect(rx("^[[:alpha:]]+$", "AlphaBeta"))
        #expect(!rx("^[[:alpha:]]+$", "Alpha1"))
        #expect(!rx("^[[:alpha:]]+$", "Ålpha"), "POSIX classes are ASCII")
        #expect(rx("^[[:^digit:]]+$", "abc"))
        #expect(rx("^a{2,4}$", "aaaa") && !rx("^a{2,4}$", "aaaaa"))
        #expect(rx("^a.*?b$", "a___b___b"))
        #expect(rx("(?m)^foo$", "x\nfoo\ny"))
        #expect(!rx("^foo$", "x\nfoo\ny"))
        #expect(!rx("^cat$", "cat\n"), "$ without (?m) matches only at the very end")
        #expect(!rx("^a.b$", "a\nb"), ". does not match newline")
        #expect(rx("^(?s)a.b$", "a\nb"))
        #expect(rx("^a.b$", "a\rb"), ". matches \\r in Rust")
        #expect(rx("^(?P<word>\\w+)$", "hello"))
        #expect(rx("^\\x{41}\\u{42}$", "AB"))
        #expect(rx("(?U)a+", "aaa"))
        #expect(!rx("^abc$", "abc", inverted: true))
        #expect(rx("^abc$", "xyz", inverted: true))
        #expect(!rx("^abc$", nil), "missing field is false")
    }

    @Test(
        "patterns Rust rejects never match",
        arguments: [
            "^(a)\\1$", "(?<n>a)\\k<n>", "^(?=a)a", "^(?!b)a", "(?<=a)b", "(?<!a)b", "(?>a)", "a*+", "a++", "a\\Z", "\\Qa\\E", "(regex", "a{2,1}",
        ])
    func rejected(pattern: String) {
        let matches = ["a", "aa", "ab", "b"].contains { value in
            evaluate(c("v", .regex, value: pattern), properties: ["v": value])
        }
        #expect(!matches)
        let invertedMatches = evaluate(c("v", .regex, value: pattern, inverted: true), properties: ["v": "zzz"])
        #expect(!invertedMatches, "an invalid pattern never matches, even inverted")
        #expect(throws: RustRegex.Error.self) { try RustRegex(pattern) }
    }

    @Test("Rust's Unicode classes, named groups and escapes keep their meaning on RE2")
    func rustSyntaxOnRE2() throws {
        func matches(_ pattern: String, _ text: String, ci: Bool = false) throws -> Bool {
            try RustRegex(pattern, caseInsensitive: ci).isMatch(text)
        }
        #expect(try matches("^\\d+$", "١٢٣"), "\\d is Unicode decimal digits")
        #expect(try !matches("^\\D$", "٣"))
        #expect(try matches("^\\w+$", "Grüße_ñ"), "\\w is Unicode word characters")
        #expect(try matches("^\\W$", "-") && !(try matches("^\\W$", "é")))
        #expect(try matches("^a\\sb$", "a\u{3000}b"), "\\s is Unicode White_Space")
        #expect(try matches("^[\\S]+$", "ab") && !(try matches("^[\\S]+$", "a\u{A0}b")))
        #expect(try matches("^[^\\d\\s]+$", "abc") && !(try matches("^[^\\d\\s]+$", "a٣")))
        #expect(try matches("^(?<year>\\d{4})-(?P<month>\\d{2})$", "2024-05"))
        #expect(try matches("^\\u{e9}\\u00e9\\U000000e9$", "ééé"))
        #expect(try matches("(?u:^é$)", "é"))
        #expect(try matches("^A\\z", "A") && !(try matches("^A\\z", "A\n")))
        #expect(try matches("^straße$", "STRASSE", ci: true) == false, "simple case folding only, as Rust")
        #expect(try matches("^ÉCOLE$", "école", ci: true))
        #expect(try matches("^[]a]+$", "]a]"), "a leading ] is a literal")
    }

    @Test(
        "Rust syntax RE2 cannot express is refused with the reason",
        arguments: [
            ("[a[bc]]", "nested character classes"), ("[a-z&&[^aeiou]]", "&&"), ("[a-z--b]", "--"), ("[a~~b]", "~~"),
            ("\\<word\\>", "\\<"), ("\\b{start}a", "\\b{"), ("[\\W]", "\\W inside"), ("(?x) a b", "x flag"),
            ("(?-u:a)", "ASCII"), ("(?R)a", "R flag"), ("\\Qa.b\\E", "\\Q"), ("\\C", "\\C"), ("\\012", "octal"),
        ])
    func refused(pattern: String, reason: String) {
        #expect {
            try RustRegex(pattern)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("regex matching is linear: ^(a+)+$ against 10,000 characters takes under a millisecond")
    func regexIsLinearTime() throws {
        let regex = try RustRegex("^(a+)+$")
        let hostile = String(repeating: "a", count: 10_000) + "!"
        #expect(!regex.isMatch(hostile))
        #expect(regex.isMatch(String(repeating: "a", count: 10_000)))
        let clock = ContinuousClock()
        var fastest = Duration.seconds(1)
        for _ in 0..<20 {
            let elapsed = clock.measure { _ = regex.isMatch(hostile) }
            fastest = min(fastest, elapsed)
        }
        #expect(fastest < .milliseconds(1), "one evaluation took \(fastest)")
        // Through the evaluator, as a constraint (the path a frontend token reaches).
        let feature = FeatureDefinition(
            name: "f", enabled: true,
            strategies: [
                StrategyDefinition(name: "default", constraints: [c("v", .regex, value: "^(a+)+$")])
            ])
        let evaluator = FlagEvaluator(state: ClientFeatures(features: [feature]))
        let context = FlagContext(properties: ["v": hostile])
        var fastestEvaluation = Duration.seconds(1)
        for _ in 0..<20 {
            let elapsed = clock.measure { _ = evaluator.isEnabled("f", context: context) }
            fastestEvaluation = min(fastestEvaluation, elapsed)
        }
        #expect(fastestEvaluation < .milliseconds(1), "one evaluation took \(fastestEvaluation)")
    }

    @Test("IN_CIDR")
    func cidr() {
        let ctx = { (ip: String) in FlagContext(remoteAddress: ip) }
        let v = ["127.invalid", "192.168.1.0/24", "2001:db8::/32", "10.0.0.1"]
        #expect(evaluate(c("remoteAddress", .inCIDR, values: v), context: ctx("192.168.1.42")))
        #expect(evaluate(c("remoteAddress", .inCIDR, values: v), context: ctx("10.0.0.1")))
        #expect(evaluate(c("remoteAddress", .inCIDR, values: v), context: ctx("2001:db8::abcd")))
        #expect(!evaluate(c("remoteAddress", .inCIDR, values: v), context: ctx("10.0.0.2")))
        #expect(!evaluate(c("remoteAddress", .inCIDR, values: v), context: ctx("not an ip")))
        #expect(!evaluate(c("remoteAddress", .inCIDR, values: v)))
        #expect(evaluate(c("remoteAddress", .inCIDR, values: v, inverted: true), context: ctx("8.8.8.8")))
        #expect(evaluate(c("clientIp", .inCIDR, values: ["fd00::/8"]), properties: ["clientIp": "fd12::1"]))
    }

    @Test("a constraint names the field that makes it never match")
    func problems() {
        #expect(c("v", .in, values: ["a"]).problem == nil)
        #expect(c("v", .regex, value: "^(a+)+$").problem == nil)
        #expect(Constraint(contextName: "v", rawOperator: "EQUALS", value: "1").problem?.field == "operator")
        let regex = c("v", .regex, value: "(open").problem
        #expect(regex?.field == "value" && regex?.message.contains("missing )") == true, "\(String(describing: regex))")
        #expect(c("v", .numGt, value: "many").problem?.field == "value")
        #expect(c("v", .semverEq, value: "1.x").problem?.field == "value")
        #expect(c("v", .dateAfter, value: "soon").problem?.field == "value")
        let cidr = c("ip", .inCIDR, values: ["10.0.0.0/8", "nope"]).problem
        #expect(cidr?.field == "values" && cidr?.message.hasSuffix(": nope") == true, "\(String(describing: cidr))")
    }

    @Test("unknown operators never match, even inverted")
    func unknownOperator() {
        let unknown = Constraint(contextName: "userId", rawOperator: "NOT_A_VALID_OPERATOR", values: ["1"])
        #expect(!evaluate(unknown, context: FlagContext(userId: "1")))
        var inverted = unknown
        inverted.inverted = true
        #expect(!evaluate(inverted, context: FlagContext(userId: "1")))
        let evaluator = FlagEvaluator(
            state: ClientFeatures(features: [
                FeatureDefinition(name: "f", enabled: true, strategies: [StrategyDefinition(name: "default", constraints: [unknown])])
            ]))
        #expect(evaluator.warnings.count == 1)
    }
}
