import Foundation
import RipcordCore
import RipcordFlags
import RipcordTestSupport
import Testing

@Suite("MurmurHash3", .tags(.unit))
struct MurmurHashTests {
    @Test(
        "known x86_32 vectors",
        arguments: [
            ("", UInt32(0), UInt32(0)),
            ("", 1, 0x514E_28B7),
            ("", 0xFFFF_FFFF, 0x81F1_6F39),
            ("test", 0, 0xBA6B_D213),
            ("hello", 0, 0x248B_FA47),
            ("Hello, world!", 1234, 0xFAF6_CDB3),
            ("The quick brown fox jumps over the lazy dog", 0, 0x2E4F_F723),
        ])
    func vectors(input: String, seed: UInt32, expected: UInt32) {
        #expect(MurmurHash3.hash32(input, seed: seed) == expected)
        #expect(MurmurHash3.hash32(Array(input.utf8), seed: seed) == expected)
    }

    @Test("Unleash normalized values")
    func normalized() {
        // Values every Unleash SDK agrees on.
        #expect(MurmurHash3.normalizedHash(groupId: "gr1", identifier: "123") == 73)
        #expect(MurmurHash3.normalizedHash(groupId: "groupX", identifier: "999") == 25)
        // Streaming over "group:" + identifier equals hashing the concatenation, for every split.
        let group = "Feature.flexibleRollout.userId.55"
        for id in ["", "1", "25", "abcd", "abcdefgh", "ünïcödé-🙂"] {
            let whole = MurmurHash3.hash32("\(group):\(id)", seed: MurmurHash3.variantSeed) % 1000 + 1
            #expect(MurmurHash3.normalizedHash(groupId: group, identifier: id, modulus: 1000, seed: MurmurHash3.variantSeed) == whole)
        }
    }
}

@Suite("IP addresses and CIDR", .tags(.unit))
struct CIDRTests {
    @Test("IPv4 parsing")
    func ipv4() {
        #expect(IPAddress("192.168.0.1")?.description == "192.168.0.1")
        #expect(IPAddress("255.255.255.255") != nil)
        for bad in ["192.168.0", "192.168.0.256", "1.2.3.4.5", "192.invalid", "01.2.3.4", "", "1..2.3", " 1.2.3.4"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }

    @Test("IPv6 parsing")
    func ipv6() {
        #expect(IPAddress("2001:db8::1") == IPAddress("2001:0db8:0:0:0:0:0:1"))
        #expect(IPAddress("::1")?.description == "0:0:0:0:0:0:0:1")
        #expect(IPAddress("::") != nil)
        #expect(IPAddress("::ffff:192.168.1.1") == IPAddress("0:0:0:0:0:ffff:c0a8:101"))
        for bad in ["2001:db8:::1", "1:2:3:4:5:6:7:8:9", "bad::cidr", ":1", "1:", "12345::1", "fe80::1%eth0", "1::2::3"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }

    @Test("IPv4 networks")
    func v4Networks() throws {
        let net = try #require(IPNetwork("160.33.0.0/16"))
        #expect(net.contains(try #require(IPAddress("160.33.0.33"))))
        #expect(net.contains(try #require(IPAddress("160.33.255.255"))))
        #expect(!net.contains(try #require(IPAddress("160.34.0.1"))))
        let host = try #require(IPNetwork("10.1.2.3"))
        #expect(host.prefixLength == 32)
        #expect(host.contains(try #require(IPAddress("10.1.2.3"))))
        #expect(!host.contains(try #require(IPAddress("10.1.2.4"))))
        let all = try #require(IPNetwork("0.0.0.0/0"))
        #expect(all.contains(try #require(IPAddress("8.8.8.8"))))
        #expect(!all.contains(try #require(IPAddress("::1"))), "families never mix")
        let odd = try #require(IPNetwork("192.168.1.77/25"), "host bits are allowed")
        #expect(odd.contains(try #require(IPAddress("192.168.1.1"))))
        #expect(!odd.contains(try #require(IPAddress("192.168.1.200"))))
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "127.invalid/8"] {
            #expect(IPNetwork(bad) == nil, "\(bad)")
        }
    }

    @Test("IPv6 networks")
    func v6Networks() throws {
        let net = try #require(IPNetwork("2001:db8::/32"))
        #expect(net.contains(try #require(IPAddress("2001:db8:0:1::42"))))
        #expect(net.contains(try #require(IPAddress("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"))))
        #expect(!net.contains(try #require(IPAddress("2001:db9::1"))))
        #expect(!net.contains(try #require(IPAddress("10.0.0.1"))))
        let slash64 = try #require(IPNetwork("fd00:1:2:3::/64"))
        #expect(slash64.contains(try #require(IPAddress("fd00:1:2:3:aaaa:bbbb:cccc:dddd"))))
        #expect(!slash64.contains(try #require(IPAddress("fd00:1:2:4::1"))))
        let slash100 = try #require(IPNetwork("fd00::1234:5000:0/100"))
        #expect(slash100.contains(try #require(IPAddress("fd00::1234:5fff:ffff"))))
        #expect(!slash100.contains(try #require(IPAddress("fd00::1234:6000:0"))))
        #expect(IPNetwork("::1/129") == nil)
    }
}

@Suite("ISO 8601 timestamps", .tags(.unit))
struct DateParsingTests {
    @Test("formats and offsets")
    func parsing() {
        let base = 1_643_461_200.0  // 2022-01-29T13:00:00Z
        #expect(ISO8601Timestamp.parse("2022-01-29T13:00:00Z") == base)
        #expect(ISO8601Timestamp.parse("2022-01-29T13:00:00.000Z") == base)
        #expect(ISO8601Timestamp.parse("2022-01-29T13:00:00.250Z") == base + 0.25)
        #expect(ISO8601Timestamp.parse("2022-01-29T13:00:00.123456789Z").map { abs($0 - base - 0.123456789) < 1e-6 } == true)
        #expect(ISO8601Timestamp.parse("2022-01-29T15:00:00+02:00") == base)
        #expect(ISO8601Timestamp.parse("2022-01-29T15:00:00+0200") == base)
        #expect(ISO8601Timestamp.parse("2022-01-29T08:30:00-04:30") == base)
        #expect(ISO8601Timestamp.parse("2022-01-29T13:00Z") == base)
        #expect(ISO8601Timestamp.parse("2022-01-29 13:00:00Z") == base)
        #expect(ISO8601Timestamp.parse("2022-01-29T13:00:00") == base, "no offset means UTC")
        #expect(ISO8601Timestamp.parse("2022-01-29") == base - 13 * 3600)
        #expect(ISO8601Timestamp.parse("1970-01-01T00:00:00Z") == 0)
        #expect(ISO8601Timestamp.parse("1969-12-31T23:59:59Z") == -1)
        #expect(ISO8601Timestamp.parse("2024-02-29T00:00:00Z") != nil)
    }

    @Test(
        "invalid timestamps",
        arguments: [
            "", "2022", "2022-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2022-01-32", "2022-01-29T25:00:00Z",
            "2022-01-29T13:00:00.Z", "2022-01-29T13:00:00+2", "2022-01-29T13:00:00Zjunk", "not a date", "29/01/2022",
        ])
    func invalid(text: String) {
        #expect(ISO8601Timestamp.parse(text) == nil)
    }

    @Test("the forms Unleash's engine reads: constraint operands strictly, currentTime as RFC 3339")
    func unleashForms() {
        let base = 1_643_461_200.0  // 2022-01-29T13:00:00Z
        for operand in ["2022-01-29T13:00:00Z", "2022-01-29T13:00:00.000Z", "2022-01-29T15:00:00+02:00", "2022-01-29T13:00:00-00:00"] {
            #expect(ISO8601Timestamp.parseConstraintDate(operand) == base, "\(operand)")
        }
        for operand in [
            "2022-01-29", "2022-01-29T13:00:00", "2022-01-29T13:00Z", "2022-01-29T13:00:00.1Z", "2022-01-29T13:00:00.123456Z",
            "2022-01-29 13:00:00Z", "2022-01-29t13:00:00z", "2022-01-29T15:00:00+0200", "2022-01-29T15:00:00+02",
        ] {
            #expect(ISO8601Timestamp.parseConstraintDate(operand) == nil, "\(operand)")
        }
        for time in ["2022-01-29T13:00:00Z", "2022-01-29t13:00:00z", "2022-01-29 13:00:00Z", "2022-01-29T15:00:00+0200", "2022-01-29T15:00:00+02:00"] {
            #expect(ISO8601Timestamp.parseContextTime(time) == base, "\(time)")
        }
        #expect(ISO8601Timestamp.parseContextTime("2022-01-29T13:00:00.123456789Z").map { abs($0 - base - 0.123456789) < 1e-6 } == true)
        for time in ["2022-01-29", "2022-01-29T13:00:00", "2022-01-29T13:00Z", "2022-01-29T15:00:00+02", "yesterday"] {
            #expect(ISO8601Timestamp.parseContextTime(time) == nil, "\(time)")
        }
    }

    @Test("formatting round-trips")
    func format() {
        #expect(ISO8601Timestamp.format(1_643_461_200.5) == "2022-01-29T13:00:00.500Z")
        #expect(ISO8601Timestamp.format(-1) == "1969-12-31T23:59:59.000Z")
        #expect(ISO8601Timestamp.parse(ISO8601Timestamp.format(1_700_000_000.123)).map { abs($0 - 1_700_000_000.123) < 0.001 } == true)
    }
}

@Suite("Semantic versions", .tags(.unit))
struct SemverTests {
    @Test("parsing")
    func parsing() throws {
        let v = try #require(SemanticVersion("1.2.3-alpha.1+build.7"))
        #expect(v.major == 1 && v.minor == 2 && v.patch == 3)
        #expect(v.preRelease == [.alphanumeric("alpha"), .numeric(1)])
        #expect(v.build == ["build", "7"])
        #expect(v.description == "1.2.3-alpha.1+build.7")
        for bad in ["v2.0.0", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+", "1.2.3-a_b", "not a semver", "", " 1.2.3"] {
            #expect(SemanticVersion(bad) == nil, "\(bad)")
        }
        #expect(SemanticVersion("1.2.3-0a") != nil, "alphanumeric identifiers may start with 0")
        #expect(SemanticVersion("1.2.3----RC-SNAPSHOT.12.9.1--.12+788") != nil)
    }

    @Test("SemVer 2.0.0 precedence chain")
    func precedence() throws {
        let chain = [
            "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
            "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0",
        ]
        let versions = try chain.map { try #require(SemanticVersion($0)) }
        for i in versions.indices.dropLast() {
            #expect(versions[i] < versions[i + 1], "\(chain[i]) < \(chain[i + 1])")
        }
        #expect(SemanticVersion("1.0.0+build.1") == SemanticVersion("1.0.0+build.2"), "build metadata is ignored")
    }

    @Test("constraint operators, including pre-release ordering and invalid input")
    func operators() {
        func on(_ op: ConstraintOperator, _ target: String, _ actual: String?) -> Bool {
            evaluate(Constraint(contextName: "version", operator: op, value: target), properties: actual.map { ["version": $0] } ?? [:])
        }
        #expect(on(.semverEq, "1.2.2", "1.2.2"))
        #expect(on(.semverEq, "1.2.2", "1.2.2+meta"))
        #expect(!on(.semverEq, "1.2.2", "1.2.2-rc.1"))
        #expect(on(.semverGt, "2.0.0-alpha.1", "2.0.0-alpha.2"))
        #expect(on(.semverGt, "2.0.0-alpha.1", "2.0.0"))
        #expect(!on(.semverGt, "2.0.0-rc", "2.0.0-beta.1"))
        #expect(on(.semverLt, "2.0.0-alpha.3", "2.0.0-alpha.1"))
        #expect(on(.semverLt, "1.10.0", "1.9.9"))
        #expect(on(.semverGte, "1.2.2", "1.2.2"))
        #expect(on(.semverLte, "1.2.2", "1.2.1"))
        #expect(!on(.semverLt, "2.0.0", "v1.0.0"), "invalid context version is false")
        #expect(!on(.semverLt, "2.0.0", nil), "missing field is false")
        #expect(!on(.semverEq, "v2.0.0", "v2.0.0"), "invalid constraint version never matches")
        #expect(on(.semverEq, "1.2.2", "9.0.0") == false)
    }
}

/// Evaluates one constraint on a flag with a single default strategy.
func evaluate(_ constraint: Constraint, context: FlagContext = FlagContext(), properties: [String: String] = [:]) -> Bool {
    var context = context
    context.properties.merge(properties) { $1 }
    let state = ClientFeatures(features: [
        FeatureDefinition(name: "f", enabled: true, strategies: [StrategyDefinition(name: "default", constraints: [constraint])])
    ])
    return FlagEvaluator(state: state).isEnabled("f", context: context)
}
