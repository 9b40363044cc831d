// swift-tools-version:6.0
// The libFuzzer target for Warden's Rego parser and evaluator (`make fuzz`). A package of
// its own because libFuzzer provides `main`, which a plain `swift build` cannot link.
import PackageDescription

let package = Package(
    name: "WardenFuzz",
    dependencies: [.package(name: "Warden", path: "..")],
    targets: [
        .executableTarget(
            name: "fuzz-rego",
            dependencies: [.product(name: "Rego", package: "Warden")],
            swiftSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-parse-as-library"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
    ]
)
