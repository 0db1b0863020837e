// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "digits",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "digits", targets: ["digits"]),
        .library(name: "DigitCore", targets: ["DigitCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        /// The system zlib, used to inflate deflate-compressed `.npz` entries.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        /// The network, its training, metrics and file formats.
        .target(name: "DigitCore", dependencies: ["CZlib"]),
        /// The command line: train, evaluate, info, import.
        .executableTarget(
            name: "digits",
            dependencies: [
                "DigitCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "DigitCoreTests",
            dependencies: ["DigitCore"],
            exclude: ["Fixtures"]
        ),
        /// Runs the built `digits` executable as a user would and checks its output and exit status.
        .testTarget(
            name: "digitsTests",
            dependencies: ["digits"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
