// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Ripcord",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ripcord", targets: ["RipcordCLI"]),
        // What benchmarks/*.sh run; not shipped with `ripcord`.
        .executable(name: "ripcord-bench", targets: ["RipcordBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // Pure domain: versions, configuration model, rollout state machine, analysis judging.
        .target(name: "RipcordCore"),
        // YAML -> configuration model, with file/line/key errors.
        .target(name: "RipcordConfig", dependencies: [
            "RipcordCore",
            "RipcordJudges",
            .product(name: "Yams", package: "Yams"),
        ]),
        // State store: SQLite (GRDB).
        .target(name: "RipcordStore", dependencies: [
            "RipcordCore", "RipcordFlags", "RipcordFlagService",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // State store: PostgreSQL (postgres-nio), for controllers that share their state and take over from each other.
        .target(name: "RipcordPostgresStore", dependencies: [
            "RipcordCore", "RipcordFlags", "RipcordFlagService", "RipcordMigrations", "RipcordStore",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // Data plane: HTTP/1.1 reverse proxy with weighted split and per-version metrics.
        .target(name: "RipcordRouter", dependencies: [
            "RipcordCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // External traffic managers Ripcord steers instead of its router: HAProxy (runtime API) and nginx (graceful reload).
        .target(name: "RipcordTrafficManagers", dependencies: [
            "RipcordCore", "RipcordWire", "RipcordDrivers", "CRipcordSpawn",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // posix_spawn with a new session and a working directory (GNU extensions Swift cannot see).
        .target(name: "CRipcordSpawn"),
        // How instances run (local processes) and how their health is checked.
        .target(name: "RipcordDrivers", dependencies: [
            "RipcordCore", "CRipcordSpawn",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Measurements from outside: Prometheus queries, JSON over HTTP, commands.
        .target(name: "RipcordMetricProviders", dependencies: [
            "RipcordCore", "RipcordDrivers",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Talking with the outside about rollouts: lifecycle hooks (commands, webhooks) and notifications.
        .target(name: "RipcordHooks", dependencies: [
            "RipcordCore", "RipcordDrivers",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // What the events tell: rollout timelines, the controller's metrics, reports, post-mortems, runbooks. Pure.
        .target(name: "RipcordInsights", dependencies: ["RipcordCore"]),
        // The API's request and response types: what clients decode. Only the pure core beneath it.
        .target(name: "RipcordWire", dependencies: ["RipcordCore"]),
        // Reconcilers: drive each rollout's state machine against drivers, router and store.
        .target(name: "RipcordController", dependencies: [
            "RipcordCore", "RipcordWire", "RipcordDrivers", "RipcordJudges", "RipcordMetricProviders", "RipcordHooks", "RipcordInsights",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // HTTP/JSON API over the controller's operations (a protocol), with token authentication.
        .target(name: "RipcordAPI", dependencies: [
            "RipcordCore", "RipcordWire", "RipcordInsights", "RipcordFlags", "RipcordFlagService",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Assembles store, router, driver, controller and API from a configuration: `ripcord serve`.
        .target(name: "RipcordServer", dependencies: [
            "RipcordCore", "RipcordWire", "RipcordConfig", "RipcordStore", "RipcordRouter", "RipcordDrivers", "RipcordController", "RipcordAPI", "RipcordHooks",
            "RipcordFlagService", "RipcordTrafficManagers", "RipcordMigrations", "RipcordPostgresStore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A standalone router (`ripcord router`): follows the controller's routes stream, reports its
        // measurements, and serves its last table from a state file while the controller is away.
        .target(name: "RipcordRouterAgent", dependencies: [
            "RipcordCore", "RipcordWire", "RipcordRouter",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // Steady HTTP load with per-response records: the demo's clients, the tests' and the benchmarks'.
        .target(name: "RipcordLoadGenerator", dependencies: [
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Statistical judges of canary vs baseline (sequential tests, Mann-Whitney, Kayenta-style score).
        .target(name: "RipcordJudges"),
        // Versioned schema migrations with stored undo scripts, on SQLite (GRDB) and PostgreSQL (postgres-nio).
        .target(name: "RipcordMigrations", dependencies: [
            "RipcordCore", "RipcordDrivers",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Feature-flag evaluation with Unleash's semantics (pure; no IO).
        .target(name: "RipcordFlags", dependencies: ["RipcordCore", "CRipcordRE2"]),
        // RE2 (linear-time regular expressions, Debian libre2-dev) behind a C interface Swift can import.
        .target(name: "CRipcordRE2", linkerSettings: [.linkedLibrary("re2")]),
        // Flags per environment around the engine: validated changes with history, snapshots, streaming, OFREP shapes.
        .target(name: "RipcordFlagService", dependencies: [
            "RipcordFlags", "RipcordCore",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // The sample service used by the demo and the tests.
        .target(name: "RipcordSampleService", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        // The commands that talk to a running Ripcord over its API (deploy, status, flags, releases …):
        // they know the wire types, not the controller, the server or the store.
        .target(name: "RipcordClient", dependencies: [
            "RipcordCore", "RipcordWire", "RipcordInsights", "RipcordConfig", "RipcordFlags", "RipcordFlagService",
            .product(name: "Yams", package: "Yams"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
        ]),
        // `ripcord`: the client commands plus those that run Ripcord itself (serve, demo, migrate …).
        .executableTarget(name: "RipcordCLI", dependencies: [
            "RipcordCore", "RipcordWire", "RipcordClient", "RipcordConfig", "RipcordStore", "RipcordDrivers",
            "RipcordController", "RipcordSampleService", "RipcordServer", "RipcordLoadGenerator",
            "RipcordMigrations", "RipcordTrafficManagers", "RipcordRouterAgent", "CRipcordSpawn", "RipcordPostgresStore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // Measurements the benchmarks make in-process (judge simulation, flag evaluation, the router alone),
        // kept out of the product's modules.
        .target(name: "RipcordBenchmarks", dependencies: [
            "RipcordCore", "RipcordJudges", "RipcordFlags", "RipcordRouter",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // `ripcord-bench`: the benchmark commands benchmarks/*.sh call.
        .executableTarget(name: "RipcordBench", dependencies: [
            "RipcordBenchmarks", "RipcordCore", "RipcordWire", "RipcordConfig", "RipcordController", "RipcordDrivers", "RipcordServer", "RipcordRouter",
            "RipcordLoadGenerator", "RipcordSampleService", "RipcordTrafficManagers", "RipcordStore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Test helpers shared by the test targets: the unit and integration tags, system programs found on
        // this machine, temporary folders, a raw TCP client for what no proper client sends, child processes
        // and a real PostgreSQL server on a free port.
        .target(name: "RipcordTestSupport", dependencies: ["RipcordCore", "RipcordDrivers", "CRipcordSpawn"], path: "Tests/RipcordTestSupport"),
        // The variables the tests expect in the controller's environment, set before any test starts.
        .target(name: "CRipcordTestEnvironment", path: "Tests/CRipcordTestEnvironment"),
        .testTarget(name: "RipcordCoreTests", dependencies: ["RipcordCore", "RipcordInsights", "RipcordTestSupport"]),
        .testTarget(name: "RipcordConfigTests", dependencies: ["RipcordConfig", "RipcordCore", "RipcordTestSupport"]),
        .testTarget(name: "RipcordRouterTests", dependencies: [
            "RipcordRouter", "RipcordRouterAgent", "RipcordCore", "RipcordWire", "RipcordTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "RipcordStoreTests", dependencies: [
            "RipcordCore", "RipcordStore", "RipcordPostgresStore", "RipcordFlagService", "RipcordMigrations", "RipcordTestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        .testTarget(name: "RipcordFlagsTests", dependencies: [
            "RipcordFlags", "RipcordFlagService", "RipcordAPI", "RipcordConfig", "RipcordDrivers", "RipcordServer", "RipcordBenchmarks",
            "RipcordTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
        ], resources: [.copy("Fixtures/unleash-client-specification")]),
        // The API's channel handlers on an EmbeddedChannel (no socket).
        .testTarget(name: "RipcordAPITests", dependencies: [
            "RipcordAPI", "RipcordCore", "RipcordWire", "RipcordInsights", "RipcordFlagService", "RipcordFlags", "RipcordStore", "RipcordTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        ]),
        .testTarget(name: "RipcordJudgesTests", dependencies: ["RipcordJudges", "RipcordBenchmarks", "RipcordTestSupport"]),
        // The controller's judges on router measurements recorded from real traffic (benchmarks/judges-real-traffic.py --fixtures).
        // In-memory and scripted stand-ins for the controller's seams: store, driver, traffic manager, clock, health, hooks, metrics.
        .target(name: "RipcordTesting", dependencies: ["RipcordCore", "RipcordDrivers", "RipcordHooks", "RipcordMetricProviders"],
                path: "Tests/RipcordTesting"),
        .testTarget(name: "RipcordControllerTests", dependencies: ["RipcordController", "RipcordCore", "RipcordWire", "RipcordJudges", "RipcordTesting", "RipcordTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "RipcordTrafficManagersTests", dependencies: ["RipcordTrafficManagers", "RipcordCore", "RipcordWire", "RipcordTesting", "RipcordTestSupport"]),
        // RipcordCLI: the `ripcord` binary the command tests run.
        .testTarget(name: "RipcordMigrationsTests", dependencies: [
            "RipcordMigrations", "RipcordCLI", "RipcordCore", "RipcordDrivers", "RipcordTestSupport",
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        // RipcordCLI: the `ripcord` binary the tests start.
        .testTarget(name: "RipcordIntegrationTests", dependencies: [
            "RipcordCLI", "RipcordCore", "RipcordWire", "RipcordConfig", "RipcordStore", "RipcordController",
            "RipcordAPI", "RipcordRouter", "RipcordDrivers", "RipcordServer", "RipcordLoadGenerator",
            "RipcordFlags", "RipcordFlagService", "RipcordTrafficManagers", "RipcordTestSupport", "CRipcordSpawn",
            "CRipcordTestEnvironment",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
        ], exclude: ["SDK", "Browser"]),
    ]
)

// Every module imports each module whose members it uses (SE-0444), so a target's dependencies are
// exactly what it imports.
for target in package.targets where !target.name.hasPrefix("CRipcord") {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}
