import Support

/// A fixed index pattern: output element i reads input element `indices[i]` (−1 reads zero).
/// Pooling, upsampling, padding, slicing and transposition are all gathers with such a map, so one
/// pair of primitives (gather and its adjoint, scatter-add) carries all their derivatives.
final class IndexMap: @unchecked Sendable {
    /// The whole map, or with `repeated` one group's: indices into that group's sources.
    let indices: [Int32]
    let sourceCount: Int
    /// Outputs and sources split into this many equal contiguous groups, with group g reading only
    /// source group g; lets scatter-add run groups in parallel without races.
    let groups: Int
    /// Whether `indices` is one group's pattern, shared by every group at its own offsets (a
    /// spatial map is the same for every image plane), so kernels read a few kilobytes of
    /// indices instead of four bytes per element.
    let repeated: Bool

    init(indices: [Int32], sourceCount: Int, groups: Int = 1, repeated: Bool = false) {
        precondition(sourceCount % groups == 0 && (repeated || indices.count % groups == 0))
        self.indices = indices
        self.sourceCount = sourceCount
        self.groups = groups
        self.repeated = repeated
    }

    var outputCount: Int { repeated ? indices.count * groups : indices.count }
    var outputsPerGroup: Int { outputCount / groups }
    var sourcesPerGroup: Int { sourceCount / groups }
    /// Offset to add to group g's indices: its sources' start when they are group-relative.
    func sourceOffset(_ g: Int) -> Int { repeated ? g * sourcesPerGroup : 0 }
    /// Position of group g's pattern in `indices`.
    func patternOffset(_ g: Int) -> Int { repeated ? 0 : g * outputsPerGroup }
}

enum IndexKernels {
    static func gather<T: TensorScalar>(_: T.Type, _ x: Tensor, _ map: IndexMap, shape: [Int]) -> Tensor {
        let src = x.storage.pointer(as: T.self)
        let per = map.outputsPerGroup
        return Tensor.make(shape, T.self) { out in
            map.indices.withUnsafeBufferPointer { idx in
                guard map.repeated else {
                    Parallel.forRanges(idx.count) { r in
                        for i in r { let j = Int(idx[i]); out[i] = j >= 0 ? src[j] : 0 }
                    }
                    return
                }
                Parallel.forRanges(map.groups, minParallel: map.outputCount >= 65_536 ? 2 : Int.max) { groups in
                    for g in groups {
                        let s = src + map.sourceOffset(g), o = out + g * per
                        for i in 0..<per { let j = Int(idx[i]); o[i] = j >= 0 ? s[j] : 0 }
                    }
                }
            }
        }
    }

    static func scatterAdd<T: TensorScalar>(_: T.Type, _ y: Tensor, _ map: IndexMap, shape: [Int]) -> Tensor {
        let src = y.storage.pointer(as: T.self)
        let per = map.outputsPerGroup, sourcesPerGroup = map.sourcesPerGroup
        return Tensor.make(shape, T.self) { out in
            map.indices.withUnsafeBufferPointer { idx in
                Parallel.forRanges(map.groups, minParallel: map.outputCount >= 65_536 ? 2 : Int.max) { groups in
                    // Each worker clears the source groups only it writes.
                    (out + groups.lowerBound * sourcesPerGroup).update(repeating: 0, count: groups.count * sourcesPerGroup)
                    for g in groups {
                        let d = out + map.sourceOffset(g), pattern = idx.baseAddress! + map.patternOffset(g), s = src + g * per
                        for i in 0..<per {
                            let j = Int(pattern[i])
                            if j >= 0 { d[j] += s[i] }
                        }
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
