import Foundation

/// The element types a tensor can hold. Training runs in `float32`; `float64` exists so that
/// finite-difference checks of second derivatives are tight.
public enum DType: String, Sendable, CustomStringConvertible {
    case float32, float64

    public var byteCount: Int { self == .float32 ? 4 : 8 }
    public var description: String { rawValue }
}

/// What the kernels need of a scalar: arithmetic, SIMD lanes, and the transcendental functions.
public protocol TensorScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func sqrt(_ x: Self) -> Self
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inline(__always) public static func sqrt(_ x: Float) -> Float { x.squareRoot() }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func sqrt(_ x: Double) -> Double { x.squareRoot() }
}
