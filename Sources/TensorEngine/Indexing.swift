import Kernels

/// A fixed index pattern: output element i reads input element `indices[i]` (−1 reads zero).
/// Pooling, upsampling, padding, slicing and transposition are all gathers with such a map, so one
/// pair of primitives (gather and its adjoint, scatter-add) carries all their derivatives.
final class IndexMap: @unchecked Sendable {
    let indices: [Int32]
    let sourceCount: Int
    /// Outputs and sources split into this many equal contiguous groups, with group g reading only
    /// source group g; lets scatter-add run groups in parallel without races.
    let groups: Int

    init(indices: [Int32], sourceCount: Int, groups: Int = 1) {
        precondition(indices.count % groups == 0 && sourceCount % groups == 0)
        self.indices = indices
        self.sourceCount = sourceCount
        self.groups = groups
    }
}

enum IndexKernels {
    static func gather<T: TensorScalar>(_: T.Type, _ x: Tensor, _ map: IndexMap, shape: [Int]) -> Tensor {
        let src = x.storage.pointer(as: T.self)
        return Tensor.make(shape, T.self) { out in
            map.indices.withUnsafeBufferPointer { idx in
                Parallel.forRanges(idx.count) { r in
                    for i in r { let j = Int(idx[i]); out[i] = j >= 0 ? src[j] : 0 }
                }
            }
        }
    }

    static func scatterAdd<T: TensorScalar>(_: T.Type, _ y: Tensor, _ map: IndexMap, shape: [Int]) -> Tensor {
        let src = y.storage.pointer(as: T.self)
        let perGroup = map.indices.count / map.groups, sourcesPerGroup = map.sourceCount / map.groups
        return Tensor.make(shape, T.self) { out in
            map.indices.withUnsafeBufferPointer { idx in
                Parallel.forRanges(map.groups, minParallel: idx.count >= 65_536 ? 2 : Int.max) { groups in
                    // Each worker clears the source groups only it writes.
                    (out + groups.lowerBound * sourcesPerGroup).update(repeating: 0, count: groups.count * sourcesPerGroup)
                    for i in groups.lowerBound * perGroup ..< groups.upperBound * perGroup {
                        let j = Int(idx[i])
                        if j >= 0 { out[j] += src[i] }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// out[i] = self[map[i]], shaped `shape`.
    func gathering(_ map: IndexMap, shape: [Int], op: String) -> Tensor {
        let out = profiled(op) {
            dtype == .float32
                ? IndexKernels.gather(Float.self, self, map, shape: shape)
                : IndexKernels.gather(Double.self, self, map, shape: shape)
        }
        let source = self.shape
        return record(op, out, inputs: [self]) { g, _ in [g.scatterAdding(map, shape: source, op: op + "Backward")] }
    }

    /// The adjoint of `gathering`: out[map[i]] += self[i], shaped `shape`.
    func scatterAdding(_ map: IndexMap, shape: [Int], op: String) -> Tensor {
        let out = profiled(op) {
            dtype == .float32
                ? IndexKernels.scatterAdd(Float.self, self, map, shape: shape)
                : IndexKernels.scatterAdd(Double.self, self, map, shape: shape)
        }
        let source = self.shape
        return record(op, out, inputs: [self]) { g, _ in [g.gathering(map, shape: source, op: op + "Backward")] }
    }
}

extension Tensor {
    /// Rows `indices` of a tensor along its first axis (rows may repeat); differentiable.
    public func gatheringRows(_ indices: [Int]) -> Tensor {
        check {
            guard rank >= 1 else { throw TensorError(op: "gatheringRows", "needs rank ≥ 1, got a scalar") }
            if let bad = indices.first(where: { $0 < 0 || $0 >= shape[0] }) {
                throw TensorError(op: "gatheringRows", "row \(bad) is out of range for shape \(describe(shape))")
            }
        }
        let rowSize = shape.dropFirst().reduce(1, *)
        var map = [Int32]()
        map.reserveCapacity(indices.count * rowSize)
        for r in indices {
            let base = r * rowSize
            for i in 0..<rowSize { map.append(Int32(base + i)) }
        }
        return gathering(IndexMap(indices: map, sourceCount: scalarCount), shape: [indices.count] + shape.dropFirst(), op: "gatheringRows")
    }
}
