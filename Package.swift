// swift-tools-version: 6.1
import PackageDescription

// Release builds use `-Ounchecked` and a Haswell target (AVX2 + FMA), the fastest settings
// measured for the kernels: together they make `SIMD8<Float>.addingProduct` a fused multiply-add.
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
    // `swift build --traits MPI` adds `mpirun -np N gtn train|nas` (Open MPI or MPICH, found with
    // pkg-config as `mpi-c`); the default build needs no MPI.
    traits: [.trait(name: "MPI", description: "Run `gtn train` and `gtn nas` across MPI ranks (needs an MPI library, e.g. Debian's libopenmpi-dev).")],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "mpi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"]), .brew(["open-mpi"])]),
        .target(name: "Support", swiftSettings: kernelFlags),
        .target(name: "FileFormats", dependencies: ["CZlib"], swiftSettings: kernelFlags),
        .target(name: "Kernels", dependencies: ["Support"], swiftSettings: kernelFlags),
        .target(name: "TensorEngine", dependencies: ["Kernels", "Support"], swiftSettings: kernelFlags),
        .target(name: "NeuralNet", dependencies: ["FileFormats", "Support", "TensorEngine"], swiftSettings: kernelFlags),
        .target(name: "Datasets", dependencies: ["FileFormats", "Support"], swiftSettings: kernelFlags),
        .target(name: "GTN", dependencies: ["Datasets", "FileFormats", "NeuralNet", "Support", "TensorEngine"], swiftSettings: kernelFlags),
        .target(name: "NAS", dependencies: ["Datasets", "FileFormats", "GTN", "NeuralNet", "Support", "TensorEngine"], swiftSettings: kernelFlags),
        .target(name: "RunReport", dependencies: ["FileFormats", "GTN", "NAS", "Support", "TensorEngine"], swiftSettings: kernelFlags),
        .target(name: "MPICommunicator", dependencies: ["GTN", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
                swiftSettings: kernelFlags),
        .executableTarget(
            name: "GTNCLI",
            dependencies: [
                "Datasets", "FileFormats", "GTN", "Kernels", "MPICommunicator", "NAS", "NeuralNet", "RunReport", "Support", "TensorEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: kernelFlags),
        .target(name: "TestSupport", dependencies: ["Datasets", "Support", "TensorEngine"], path: "Tests/TestSupport"),
        .target(name: "GTNTestSupport", dependencies: ["Datasets", "GTN", "TestSupport"], path: "Tests/GTNTestSupport"),
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "FileFormatsTests", dependencies: ["CZlib", "FileFormats", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Support"]),
        .testTarget(name: "TensorEngineTests", dependencies: ["Support", "TensorEngine", "TestSupport"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["FileFormats", "NeuralNet", "Support", "TensorEngine", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "FileFormats", "TestSupport"]),
        .testTarget(name: "GTNTests", dependencies: ["Datasets", "FileFormats", "GTN", "GTNTestSupport", "NeuralNet", "Support", "TensorEngine", "TestSupport"]),
        .testTarget(name: "NASTests", dependencies: ["Datasets", "GTN", "GTNTestSupport", "NAS", "Support", "TensorEngine", "TestSupport"]),
        .testTarget(name: "RunReportTests", dependencies: ["CZlib", "FileFormats", "GTN", "GTNTestSupport", "RunReport", "Support", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Datasets", "FileFormats", "GTN", "GTNTestSupport", "NeuralNet", "Support", "TensorEngine", "TestSupport"]),
    ]
)
