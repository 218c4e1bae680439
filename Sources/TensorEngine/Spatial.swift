import Foundation
import Support

/// Spatial ops on NCHW tensors, all expressed as gathers (see `IndexMap`).

private func requireImages(_ x: Tensor, op: String) throws {
    guard x.rank == 4 else { throw TensorError(op: op, "expects an NCHW tensor, got shape \(describe(x.shape))") }
}

/// Max pooling over `size`×`size` windows with the given stride and padding (padding is never
/// selected). The derivative routes the gradient to the selected element.
public func maxPool2d(_ x: Tensor, size: Int = 2, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let s = stride ?? size
    let op = "maxPool2d"
    check {
        try requireImages(x, op: op)
        guard size >= 1, s >= 1, padding >= 0, padding < size else {
            throw TensorError(op: op, "invalid window \(size), stride \(s), padding \(padding)")
        }
        guard x.shape[2] + 2 * padding >= size, x.shape[3] + 2 * padding >= size else {
            throw TensorError(op: op, "window \(size) does not fit input \(describe(x.shape)) with padding \(padding)")
        }
    }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = (h + 2 * padding - size) / s + 1, wo = (w + 2 * padding - size) / s + 1
    // One pass finds each window's maximum and where it is; the derivative is the gather's.
    var indices = [Int32](repeating: 0, count: n * c * ho * wo)
    let window = PoolWindow(h: h, w: w, ho: ho, wo: wo, size: size, stride: s, padding: padding)
    let out: Tensor = profiled(op) {
        indices.withUnsafeMutableBufferPointer { idx in
            switch x.dtype {
            case .float32:
                return Tensor.make([n, c, ho, wo], Float.self) { window.select(x.storage.pointer(as: Float.self), planes: n * c, into: idx, values: $0) }
            case .float64:
                return Tensor.make([n, c, ho, wo], Double.self) { window.select(x.storage.pointer(as: Double.self), planes: n * c, into: idx, values: $0) }
            }
        }
    }
    let map = IndexMap(indices: indices, sourceCount: x.scalarCount, groups: n * c)
    let source = x.shape
    return record(op, out, inputs: [x]) { g, _ in [g.scatterAdding(map, shape: source, op: op + "Backward")] }
}

/// Nearest-neighbour upsampling by an integer factor.
public func upsampleNearest(_ x: Tensor, factor: Int = 2) -> Tensor {
    let op = "upsampleNearest"
    check {
        try requireImages(x, op: op)
        guard factor >= 1 else { throw TensorError(op: op, "factor must be ≥ 1, got \(factor)") }
    }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ho = h * factor, wo = w * factor
    let map = cachedSpatialMap(op, planes: n * c, h: h, w: w, ho: ho, wo: wo) { oy, ox in (oy / factor, ox / factor) }
    return x.gathering(map, shape: [n, c, ho, wo], op: op)
}

/// Pads height and width by mirroring the interior (PyTorch's `ReflectionPad2d`).
public func reflectionPad2d(_ x: Tensor, padding: Int) -> Tensor {
    let op = "reflectionPad2d"
    check {
        try requireImages(x, op: op)
        guard padding >= 0, padding < x.shape[2], padding < x.shape[3] else {
            throw TensorError(op: op, "padding \(padding) must be ≥ 0 and smaller than the spatial size of \(describe(x.shape))")
        }
    }
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    func reflect(_ i: Int, _ size: Int) -> Int {
        let j = i - padding
        return j < 0 ? -j : (j >= size ? 2 * (size - 1) - j : j)
    }
    let map = cachedSpatialMap(op + "\(padding)", planes: n * c, h: h, w: w, ho: h + 2 * padding, wo: w + 2 * padding) { oy, ox in
        (reflect(oy, h), reflect(ox, w))
    }
    return x.gathering(map, shape: [n, c, h + 2 * padding, w + 2 * padding], op: op)
}

/// Index maps of upsampling and padding depend only on the op and the shape, and the training loop
/// asks for the same few shapes thousands of times.
private final class IndexMapCache: @unchecked Sendable {
    static let shared = IndexMapCache()
    private let lock = NSLock()
    private var maps: [String: IndexMap] = [:]

    func map(_ key: String, _ make: () -> IndexMap) -> IndexMap {
        if let m = lock.withLock({ maps[key] }) { return m }
        let m = make()
        lock.withLock {
            if maps.count > 256 { maps.removeAll() }
            maps[key] = m
        }
        return m
    }
}

private func cachedSpatialMap(_ op: String, planes: Int, h: Int, w: Int, ho: Int, wo: Int,
                              _ source: (Int, Int) -> (Int, Int)) -> IndexMap {
    IndexMapCache.shared.map("\(op) \(planes) \(h) \(w) \(ho) \(wo)") {
        spatialMap(planes: planes, h: h, w: w, ho: ho, wo: wo, source)
    }
}

private func spatialMap(planes: Int, h: Int, w: Int, ho: Int, wo: Int, _ source: (Int, Int) -> (Int, Int)) -> IndexMap {
    var plane = [Int32](repeating: 0, count: ho * wo)
    for oy in 0..<ho {
        for ox in 0..<wo {
            let (iy, ix) = source(oy, ox)
            plane[oy * wo + ox] = Int32(iy * w + ix)
        }
    }
    return IndexMap(indices: plane, sourceCount: planes * h * w, groups: planes, repeated: true)
}

extension Tensor {
    /// Axes reordered: result dimension i is input dimension `permutation[i]`.
    public func transposed(_ permutation: [Int]) -> Tensor {
        check {
            guard permutation.sorted() == Array(0..<rank) else {
                throw TensorError(op: "transposed", "\(permutation) is not a permutation of the axes of \(describe(shape))")
            }
        }
        let outShape = permutation.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strides = permutation.map { inStrides[$0] }
        var indices = [Int32](repeating: 0, count: scalarCount)
        var counter = [Int](repeating: 0, count: rank)
        for i in 0..<scalarCount {
            var offset = 0
            for d in 0..<rank { offset += counter[d] * strides[d] }
            indices[i] = Int32(offset)
            var d = rank - 1
            while d >= 0 {
                counter[d] += 1
                if counter[d] < outShape[d] { break }
                counter[d] = 0
                d -= 1
            }
        }
        return gathering(IndexMap(indices: indices, sourceCount: scalarCount), shape: outShape, op: "transposed")
    }

    /// The transpose of a matrix.
    public func transposed() -> Tensor { transposed([1, 0]) }

    /// Elements `range` along `axis`.
    public func slice(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        let a = checked { try ShapeRules.normalizedAxes([axis], rank: rank, op: "slice")[0] }
        check {
            guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
                throw TensorError(op: "slice", "range \(range) is out of bounds for axis \(a) of \(describe(shape))")
            }
        }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *), n = shape[a]
        var indices = [Int32]()
        indices.reserveCapacity(outer * range.count * inner)
        for o in 0..<outer {
            for k in range {
                let base = (o * n + k) * inner
                for i in 0..<inner { indices.append(Int32(base + i)) }
            }
        }
        var outShape = shape
        outShape[a] = range.count
        return gathering(IndexMap(indices: indices, sourceCount: scalarCount), shape: outShape, op: "slice")
    }
}

/// Joins tensors along `axis`; all other dimensions must agree.
public func concat(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
    let op = "concat"
    guard let first = tensors.first else { fatalError("\(op): needs at least one tensor") }
    let a = checked { try ShapeRules.normalizedAxes([axis], rank: first.rank, op: op)[0] }
    check {
        for t in tensors {
            var s1 = t.shape, s0 = first.shape
            guard s1.count == s0.count, t.dtype == first.dtype else {
                throw TensorError(op: op, "cannot join \(describe(t.shape)) (\(t.dtype)) with \(describe(first.shape)) (\(first.dtype))")
            }
            s1[a] = 0; s0[a] = 0
            guard s1 == s0 else {
                throw TensorError(op: op, "shapes \(tensors.map { describe($0.shape) }.joined(separator: ", ")) differ outside axis \(a)")
            }
        }
    }
    let sizes = tensors.map { $0.shape[a] }
    var outShape = first.shape
    outShape[a] = sizes.reduce(0, +)
    let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
    func run<T: TensorScalar>(_: T.Type) -> Tensor {
        Tensor.make(outShape, T.self) { out in
            var offset = 0
            for (t, size) in zip(tensors, sizes) {
                let src = t.storage.pointer(as: T.self)
                for o in 0..<outer {
                    (out + (o * outShape[a] + offset) * inner).update(from: src + o * size * inner, count: size * inner)
                }
                offset += size
            }
        }
    }
    let out = first.dtype == .float32 ? run(Float.self) : run(Double.self)
    return record(op, out, inputs: tensors) { g, ctx in
        var start = 0
        return sizes.enumerated().map { i, size in
            defer { start += size }
            return ctx.needsGradient[i] ? g.slice(alongAxis: a, start..<start + size) : nil
        }
    }
}

private struct PoolWindow {
    let h, w, ho, wo, size, stride, padding: Int

    /// For each output, the largest input in its window (the first on ties) and its flat index.
    func select<T: TensorScalar>(_ v: UnsafePointer<T>, planes: Int, into idx: UnsafeMutableBufferPointer<Int32>,
                                 values: UnsafeMutablePointer<T>) {
        Parallel.forRanges(planes, minParallel: planes * h * w >= 65_536 ? 2 : Int.max) { range in
            for plane in range {
                let base = plane * h * w
                let outBase = plane * ho * wo
                if size == 2 && stride == 2 && padding == 0 {
                    // The learners' pooling: four candidates, no bounds to check.
                    for oy in 0..<ho {
                        for ox in 0..<wo {
                            let first = base + 2 * oy * w + 2 * ox
                            var best = first
                            var bestValue = v[first]
                            if v[first + 1] > bestValue { best = first + 1; bestValue = v[best] }
                            if v[first + w] > bestValue { best = first + w; bestValue = v[best] }
                            if v[first + w + 1] > bestValue { best = first + w + 1; bestValue = v[best] }
                            idx[outBase + oy * wo + ox] = Int32(best)
                            values[outBase + oy * wo + ox] = bestValue
                        }
                    }
                    continue
                }
                for oy in 0..<ho {
                    let y0 = Swift.max(oy * stride - padding, 0), y1 = Swift.min(oy * stride - padding + size, h)
                    for ox in 0..<wo {
                        let x0 = Swift.max(ox * stride - padding, 0), x1 = Swift.min(ox * stride - padding + size, w)
                        var best = base + y0 * w + x0
                        var bestValue = v[best]
                        for iy in y0..<y1 {
                            for ix in x0..<x1 where v[base + iy * w + ix] > bestValue {
                                best = base + iy * w + ix
                                bestValue = v[best]
                            }
                        }
                        idx[outBase + oy * wo + ox] = Int32(best)
                        values[outBase + oy * wo + ox] = bestValue
                    }
                }
            }
        }
    }
}
