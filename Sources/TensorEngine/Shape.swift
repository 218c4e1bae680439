/// Shape arithmetic shared by the ops. All functions throw `TensorError` naming the op.
enum ShapeRules {
    static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    static func broadcast(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            if pa[i] == pb[i] || pb[i] == 1 { out[i] = pa[i] }
            else if pa[i] == 1 { out[i] = pb[i] }
            else {
                throw TensorError(op: op, "shapes \(describe(a)) and \(describe(b)) cannot be broadcast (dimension \(i): \(pa[i]) vs \(pb[i]))")
            }
        }
        return out
    }

    static func normalizedAxes(_ axes: [Int], rank: Int, op: String) throws -> [Int] {
        var result = Set<Int>()
        for axis in axes {
            let a = axis < 0 ? axis + rank : axis
            guard a >= 0 && a < rank else {
                throw TensorError(op: op, "axis \(axis) is out of range for a tensor of rank \(rank)")
            }
            result.insert(a)
        }
        return result.sorted()
    }
}

/// Collapsed strided iteration for up to three operands over one logical shape. Adjacent
/// dimensions are merged whenever every operand is contiguous across them, so the common cases
/// (same shape, bias over channels, scalar) become one or two loops with a contiguous inner run.
struct StridedLayout {
    var shape: [Int]
    var strides: [[Int]]

    /// `operandShapes` are broadcast-compatible with `shape` (right-aligned); a broadcast
    /// dimension gets stride 0.
    init(shape: [Int], operandShapes: [[Int]]) {
        let rank = shape.count
        var strides: [[Int]] = operandShapes.map { s in
            let padded = Array(repeating: 1, count: rank - s.count) + s
            var st = [Int](repeating: 0, count: rank)
            var acc = 1
            for i in stride(from: rank - 1, through: 0, by: -1) {
                st[i] = padded[i] == 1 && shape[i] != 1 ? 0 : acc
                acc *= padded[i]
            }
            return st
        }
        var dims = shape
        // Drop size-1 dimensions, then merge neighbours that are contiguous for every operand.
        var keep = (0..<rank).filter { dims[$0] != 1 }
        if keep.isEmpty { keep = [] }
        dims = keep.map { dims[$0] }
        strides = strides.map { st in keep.map { st[$0] } }
        var mergedDims: [Int] = []
        var mergedStrides: [[Int]] = Array(repeating: [], count: strides.count)
        for i in 0..<dims.count {
            if let lastDim = mergedDims.last,
               strides.allSatisfy({ st in
                   let prevIndex = i - 1
                   return st[prevIndex] == st[i] * dims[i]
               }) {
                mergedDims[mergedDims.count - 1] = lastDim * dims[i]
                for k in 0..<strides.count { mergedStrides[k][mergedStrides[k].count - 1] = strides[k][i] }
            } else {
                mergedDims.append(dims[i])
                for k in 0..<strides.count { mergedStrides[k].append(strides[k][i]) }
            }
        }
        if mergedDims.isEmpty {
            mergedDims = [1]
            mergedStrides = mergedStrides.map { _ in [1] }
        }
        self.shape = mergedDims
        self.strides = mergedStrides
    }

    /// Calls `body(offsets, innerCount, innerStrides)` for each contiguous run of the innermost
    /// dimension, over the outer index range `outer` (a subrange of the product of outer dims).
    func forEachRun(outer: Range<Int>, _ body: ([Int], Int, [Int]) -> Void) {
        let rank = shape.count
        let inner = shape[rank - 1]
        let innerStrides = strides.map { $0[rank - 1] }
        var offsets = [Int](repeating: 0, count: strides.count)
        for o in outer {
            var rem = o
            for k in 0..<offsets.count { offsets[k] = 0 }
            var d = rank - 2
            while d >= 0 {
                let idx = rem % shape[d]
                rem /= shape[d]
                for k in 0..<offsets.count { offsets[k] += idx * strides[k][d] }
                d -= 1
            }
            body(offsets, inner, innerStrides)
        }
    }

    var outerCount: Int { shape.dropLast().reduce(1, *) }
    var innerCount: Int { shape[shape.count - 1] }
}
