/// Reductions over axes, composed from the `summed(toShape:)` primitive, and the
/// non-differentiable maximum and argmax.

extension Tensor {
    /// Sum over `axes` (negative axes count from the end).
    public func sum(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let normalized = checked { try ShapeRules.normalizedAxes(axes, rank: rank, op: "sum(alongAxes:)") }
        var kept = shape
        for a in normalized { kept[a] = 1 }
        let s = summed(toShape: kept)
        return keepingDimensions ? s : s.reshaped(to: shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element))
    }

    /// Sum of all elements, as a rank-0 tensor.
    public func sum() -> Tensor { summed(toShape: []) }

    public func mean(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let normalized = checked { try ShapeRules.normalizedAxes(axes, rank: rank, op: "mean(alongAxes:)") }
        let n = normalized.reduce(1) { $0 * shape[$1] }
        return sum(alongAxes: normalized, keepingDimensions: keepingDimensions) * (1 / Double(n))
    }

    public func mean() -> Tensor { sum() * (1 / Double(Swift.max(scalarCount, 1))) }

    /// Largest value along `axis`, with that axis kept as size 1. Not differentiable: callers use
    /// it as a constant (e.g. the shift that keeps log-sum-exp finite).
    public func max(alongAxis axis: Int) -> Tensor {
        let (outer, n, inner, kept) = splitAround(axis, op: "max(alongAxis:)")
        switch dtype {
        case .float32: return Tensor.reduceMax(self, Float.self, outer, n, inner, kept)
        case .float64: return Tensor.reduceMax(self, Double.self, outer, n, inner, kept)
        }
    }

    /// Index of the largest value along `axis` (first one on ties), that axis removed.
    public func argmax(alongAxis axis: Int) -> [Int] {
        let (outer, n, inner, _) = splitAround(axis, op: "argmax(alongAxis:)")
        let values = doubles
        var result = [Int](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0
                var bestValue = -Double.infinity
                for k in 0..<n {
                    let v = values[(o * n + k) * inner + i]
                    if v > bestValue || (k == 0) { best = k; bestValue = v }
                }
                result[o * inner + i] = best
            }
        }
        return result
    }

    private func splitAround(_ axis: Int, op: String) -> (Int, Int, Int, [Int]) {
        let a = checked { try ShapeRules.normalizedAxes([axis], rank: rank, op: op)[0] }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var kept = shape
        kept[a] = 1
        return (outer, shape[a], inner, kept)
    }

    private static func reduceMax<T: TensorScalar>(_ x: Tensor, _: T.Type, _ outer: Int, _ n: Int, _ inner: Int, _ kept: [Int]) -> Tensor {
        let px = x.storage.pointer(as: T.self)
        return Tensor.make(kept, T.self) { po in
            for o in 0..<outer {
                for i in 0..<inner { po[o * inner + i] = px[o * n * inner + i] }
                for k in 1..<Swift.max(n, 1) {
                    let row = px + (o * n + k) * inner
                    for i in 0..<inner where row[i] > po[o * inner + i] { po[o * inner + i] = row[i] }
                }
            }
        }
    }

    /// The same values with another shape of the same element count; shares storage.
    public func reshaped(to newShape: [Int]) -> Tensor {
        var target = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            target[inferred] = known == 0 ? 0 : scalarCount / known
        }
        check {
            guard ShapeRules.count(target) == scalarCount, target.allSatisfy({ $0 >= 0 }) else {
                throw TensorError(op: "reshaped(to:)", "cannot reshape \(describe(shape)) (\(scalarCount) elements) to \(describe(newShape))")
            }
        }
        if target == shape { return self }
        let source = shape
        return record("reshape", Tensor(shape: target, storage: storage), inputs: [self]) { g, _ in
            [g.reshaped(to: source)]
        }
    }

    /// Flattens every dimension after the first: [N, ...] → [N, rest].
    public func flattened() -> Tensor {
        reshaped(to: [shape.first ?? 1, shape.dropFirst().reduce(1, *)])
    }
}
