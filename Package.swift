// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "digits",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "digits", targets: ["digits"]),
        .library(name: "DigitCore", targets: ["DigitCore"]),
        .library(name: "HTTPCore", targets: ["HTTPCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        /// The system zlib, used to inflate deflate-compressed `.npz` entries.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        /// The network, its training, metrics and file formats.
        .target(name: "DigitCore", dependencies: ["CZlib"]),
        /// A generic HTTP/1.1 server on POSIX sockets and Dispatch; knows nothing of digits.
        /// Linux's epoll and eventfd, which Swift's Glibc module leaves out.
        .systemLibrary(name: "CLinux"),
        .target(name: "HTTPCore", dependencies: ["CLinux", "CZlib", .product(name: "Logging", package: "swift-log")]),
        /// The application: routes, request validation, responses, configuration.
        .target(
            name: "DigitService",
            dependencies: [
                "DigitCore", "HTTPCore", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // A link to the top-level openapi.yaml, and the page served at GET /: both compiled into the
            // binary, so the service needs no files but its model and data.
            resources: [.embedInCode("openapi.yaml"), .embedInCode("index.html")]
        ),
        /// The command line: train, evaluate, info, import.
        .executableTarget(
            name: "digits",
            dependencies: [
                "DigitCore",
                "DigitService",
                "HTTPCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        /// A raw loopback HTTP client for the tests of every module: exactly the bytes a test (or an
        /// attacker) sends, and exactly what comes back.
        .target(name: "LoopbackClient", path: "Tests/LoopbackClient"),
        .testTarget(
            name: "HTTPCoreTests",
            dependencies: ["HTTPCore", "LoopbackClient"]
        ),
        .testTarget(
            name: "DigitServiceTests",
            dependencies: ["DigitService", "LoopbackClient"]
        ),
        .testTarget(
            name: "DigitCoreTests",
            dependencies: ["DigitCore"],
            exclude: ["Fixtures"]
        ),
        /// Runs the built `digits` executable as a user would and checks its output and exit status.
        .testTarget(
            name: "digitsTests",
            dependencies: ["digits", "LoopbackClient"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
