// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "digits",
    products: [
        .executable(name: "digits", targets: ["digits"]),
        .library(name: "DigitCore", targets: ["DigitCore"]),
        .library(name: "HTTPCore", targets: ["HTTPCore"]),
        .library(name: "JSON", targets: ["JSON"]),
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
        /// The system libpng and libjpeg (libjpeg-turbo), which decode the pictures sent to `/predict`.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        /// A small C shim over both: their error callbacks must not return, so they longjmp back into C
        /// (never over Swift frames) and the failure comes out as a status and a message.
        .target(name: "CImageCodecs", dependencies: ["CPNG", "CJPEG"]),
        /// JSON (RFC 8259): the one parser, the one writer and the typed reader of fields with paths. Used by
        /// the model file, the HTTP server's error bodies, the service and the command line.
        .target(name: "JSON"),
        /// The network, its training, evaluation and file formats. Optimised in debug builds too: unoptimised
        /// SIMD code runs the convolutions about a hundred times slower, so that every test which loads the
        /// bundled CNN (evaluated with its robustness table at load) would take minutes.
        .target(
            name: "DigitCore", dependencies: ["CImageCodecs", "CZlib", "JSON"],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        /// Linux's epoll and eventfd, which Swift's Glibc module leaves out.
        .systemLibrary(name: "CLinux"),
        /// A generic HTTP/1.1 server on Linux sockets, epoll and Dispatch; knows nothing of digits.
        .target(
            name: "HTTPCore",
            dependencies: ["CLinux", "CZlib", "JSON", .product(name: "Logging", package: "swift-log")]),
        /// The application: routes, request validation, responses, configuration.
        .target(
            name: "DigitService",
            dependencies: [
                "DigitCore", "HTTPCore", "JSON", .product(name: "Logging", package: "swift-log"),
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
                "JSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        /// Measures the convolution kernels and the CNN's forward pass (Benchmarks/README.md).
        .executableTarget(
            name: "convolution-benchmark", dependencies: ["DigitCore"], path: "Benchmarks/ConvolutionKernels"),
        /// A raw loopback HTTP client for the tests of every module: exactly the bytes a test (or an
        /// attacker) sends, and exactly what comes back.
        .target(name: "LoopbackClient", path: "Tests/LoopbackClient"),
        .testTarget(
            name: "HTTPCoreTests",
            dependencies: ["HTTPCore", "LoopbackClient"]
        ),
        .testTarget(
            name: "DigitServiceTests",
            dependencies: ["DigitService", "JSON", "LoopbackClient"]
        ),
        .testTarget(
            name: "DigitCoreTests",
            dependencies: ["DigitCore", "JSON"],
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
