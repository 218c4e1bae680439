import Support

extension Tensor {
    /// Independent normal samples with the given mean and standard deviation.
    public static func randomNormal(_ shape: [Int], mean: Double = 0, standardDeviation: Double = 1,
                                    dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        let values = (0..<ShapeRules.count(shape)).map { _ in mean + standardDeviation * rng.nextNormal() }
        let t = Tensor(shape: shape, doubles: values)
        return dtype == .float64 ? t : t.converted(to: dtype)
    }

    /// Independent uniform samples in [low, high).
    public static func randomUniform(_ shape: [Int], low: Double = 0, high: Double = 1,
                                     dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        let values = (0..<ShapeRules.count(shape)).map { _ in low + (high - low) * rng.nextUniform() }
        let t = Tensor(shape: shape, doubles: values)
        return dtype == .float64 ? t : t.converted(to: dtype)
    }
}
