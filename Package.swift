// swift-tools-version: 6.0
import PackageDescription

// Release builds are tuned as measured in the performance notes: `-Ounchecked` and a Haswell
// target (AVX2 + FMA) are what make `SIMD8<Float>.addingProduct` a fused multiply-add.
// The binary checks the CPU at start-up and refuses to run with a clear message without them.
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
    .unsafeFlags(["-target-cpu", "haswell"]),
]

let package = Package(
    name: "GenerativeTeachingNetworks",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gtn", targets: ["GTNCLI"]),
        .library(name: "GTN", targets: ["GTN", "NAS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "Support", swiftSettings: kernelFlags),
        .target(name: "FileFormats", dependencies: ["CZlib", "Support"], swiftSettings: kernelFlags),
        .target(name: "Kernels", dependencies: ["Support"], swiftSettings: kernelFlags),
        .target(name: "TensorEngine", dependencies: ["Support", "Kernels"], swiftSettings: kernelFlags),
        .target(name: "NeuralNet", dependencies: ["FileFormats", "Support", "TensorEngine"], swiftSettings: kernelFlags),
        .target(name: "Datasets", dependencies: ["FileFormats", "Support"], swiftSettings: kernelFlags),
        .target(name: "GTN", dependencies: ["NeuralNet", "Datasets", "FileFormats", "Support"], swiftSettings: kernelFlags),
        .target(name: "NAS", dependencies: ["GTN", "FileFormats", "Support"], swiftSettings: kernelFlags),
        .executableTarget(
            name: "GTNCLI",
            dependencies: ["GTN", "NAS", "FileFormats", "Kernels", "NeuralNet", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: kernelFlags),
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "FileFormatsTests", dependencies: ["CZlib", "FileFormats"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Support"]),
        .testTarget(name: "TensorEngineTests", dependencies: ["Support", "TensorEngine"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["FileFormats", "NeuralNet", "Support", "TensorEngine"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "FileFormats"]),
        .testTarget(name: "GTNTests", dependencies: ["GTN", "FileFormats", "Support"]),
        .testTarget(name: "NASTests", dependencies: ["NAS", "Support"]),
        .testTarget(name: "CLITests", dependencies: ["GTN", "FileFormats", "Support"]),
    ]
)
