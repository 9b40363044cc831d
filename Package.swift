// swift-tools-version:6.0
import PackageDescription

/// Settings every Warden target shares: Swift 6 strict concurrency (the default language
/// mode), `any` spelled out for existentials, and imports internal unless said otherwise.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Warden",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .library(name: "Rego", targets: ["Rego"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: - Pure Swift core: no I/O, no C.
        .target(
            name: "Rego",
            swiftSettings: strictSettings + [
                // The evaluator is written in continuation-passing style; specialising its
                // mutually recursive closures makes the optimiser run for tens of minutes and
                // many GiB. Without that one pass the release build takes under a minute.
                .unsafeFlags(["-Xllvm", "-sil-disable-pass=closure-specialize"], .when(configuration: .release)),
                // Evaluation state is confined to one evaluator on one thread; the runtime
                // exclusivity checks cost 5% of a Check and guard nothing here.
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
            ]),

        // MARK: - C libraries, each behind one thin module
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        // Not pkgConfig: grpc.pc expands to dozens of absl flags SwiftPM cannot handle.
        .systemLibrary(name: "CGRPCCore", path: "Sources/CGRPCCore"),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ"),
        // RE2 is C++: a few lines of shim give it a C surface.
        .target(name: "CRE2", linkerSettings: [.linkedLibrary("re2")]),

        // MARK: - Generated messages (make proto)
        .target(
            name: "EnvoyProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),

        // MARK: - Adapters
        .target(
            name: "GRPCRuntime",
            dependencies: ["CGRPCCore"],
            swiftSettings: strictSettings),
        .target(
            name: "ExtAuthz",
            dependencies: ["Rego", "EnvoyProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strictSettings),
        .target(
            name: "RegoLoader",
            dependencies: ["Rego", "RegoYAML", "CZlib"],
            swiftSettings: strictSettings),
        .target(
            name: "AgentIdentity",
            dependencies: ["Rego", "COpenSSL"],
            swiftSettings: strictSettings),
        .target(
            name: "Store",
            dependencies: ["AgentIdentity", "CLibPQ"],
            swiftSettings: strictSettings),
        .target(
            name: "RegoRegex",
            dependencies: ["Rego", "CRE2"],
            swiftSettings: strictSettings),
        .target(
            name: "RegoYAML",
            dependencies: ["Rego", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings),

        // MARK: - The pipeline and wiring
        .target(
            name: "Warden",
            dependencies: [
                "Rego", "RegoLoader", "RegoYAML", "RegoRegex", "AgentIdentity", "ExtAuthz", "EnvoyProto", "GRPCRuntime", "Store",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings),

        // MARK: - The command line
        .executableTarget(
            name: "warden",
            dependencies: [
                "Rego", "RegoYAML", "RegoRegex", "RegoLoader", "AgentIdentity", "Warden", "GRPCRuntime", "Store",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings),

        // MARK: - Benchmarks (make bench)
        .executableTarget(
            name: "bench-allow-server",
            dependencies: ["GRPCRuntime", "EnvoyProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Benchmarks/AllowServer"),

        .target(
            name: "BenchSupport",
            dependencies: ["AgentIdentity", "Rego"],
            path: "Benchmarks/BenchSupport"),
        .executableTarget(
            name: "bench-identity",
            dependencies: ["BenchSupport", "AgentIdentity", "EnvoyProto", "Rego", "Warden", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Benchmarks/IdentityBench"),
        .executableTarget(
            name: "bench-check",
            dependencies: ["BenchSupport", "AgentIdentity", "EnvoyProto", "ExtAuthz", "Rego", "Warden", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Benchmarks/CheckBench"),
        .executableTarget(
            name: "bench-rego",
            dependencies: ["BenchSupport", "Rego", "Warden"],
            path: "Benchmarks/RegoBench"),

        // MARK: - Tests
        .testTarget(
            name: "ExtAuthzTests",
            dependencies: ["ExtAuthz", "EnvoyProto", "Rego", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            resources: [.copy("Golden")],
            swiftSettings: strictSettings),
        .testTarget(
            name: "AgentIdentityTests",
            dependencies: ["AgentIdentity", "Rego"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "WardenTests",
            dependencies: ["Warden", "ExtAuthz", "EnvoyProto", "Rego", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strictSettings),
        .testTarget(
            name: "GRPCRuntimeTests",
            dependencies: ["GRPCRuntime", "CGRPCCore"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "StoreTests",
            dependencies: ["Store"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "RegoTests",
            dependencies: ["Rego"],
            resources: [.copy("Golden")],
            swiftSettings: strictSettings),
    ],
    cxxLanguageStandard: .cxx17
)
