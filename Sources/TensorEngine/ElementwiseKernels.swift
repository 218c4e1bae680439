import Support

/// A scalar function of two arguments, as a type so that generic kernels specialise and inline it.
protocol BinaryFunction {
    static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T
}

enum AddFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a + b } }
enum SubtractFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a - b } }
enum MultiplyFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a * b } }
enum DivideFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a / b } }

/// A scalar function (possibly with parameters) as a value whose type the map kernels specialise
/// on, so it inlines into their loops; a closure would cost an indirect call per element.
protocol ElementFunction {
    func callAsFunction<T: TensorScalar>(_ x: T) -> T
}

/// The two-argument counterpart of `ElementFunction`.
protocol ElementPairFunction {
    func callAsFunction<T: TensorScalar>(_ x: T, _ y: T) -> T
}

enum ElementwiseKernels {
    /// out = f(a, b) with broadcasting to `shape`.
    static func binary<F: BinaryFunction, T: TensorScalar>(_: F.Type, _: T.Type, _ a: Tensor, _ b: Tensor, shape: [Int]) -> Tensor {
        let layout = StridedLayout(shape: shape, operandShapes: [shape, a.shape, b.shape])
        let pa = UnsafePointer(a.storage.pointer(as: T.self))
        let pb = UnsafePointer(b.storage.pointer(as: T.self))
        return Tensor.make(shape, T.self) { po in
            forEachRun(layout) { offsets, n, strides in
                let o = po + offsets[0], x = pa + offsets[1], y = pb + offsets[2]
                switch (strides[1], strides[2]) {
                case (1, 1): for i in 0..<n { o[i] = F.apply(x[i], y[i]) }
                case (1, 0): let s = y[0]; for i in 0..<n { o[i] = F.apply(x[i], s) }
                case (0, 1): let s = x[0]; for i in 0..<n { o[i] = F.apply(s, y[i]) }
                default:
                    let sx = strides[1], sy = strides[2]
                    for i in 0..<n { o[i] = F.apply(x[i * sx], y[i * sy]) }
                }
            }
        }
    }

    /// o[i] += x[i].
    static func addInPlace<T: TensorScalar>(_ o: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, count: Int) {
        Parallel.forRanges(count) { r in
            for i in r { o[i] += x[i] }
        }
    }

    /// Elementwise map of one tensor.
    static func map<F: ElementFunction, T: TensorScalar>(_ x: Tensor, _: T.Type, _ f: F) -> Tensor {
        let px = UnsafePointer(x.storage.pointer(as: T.self))
        return Tensor.make(x.shape, T.self) { po in
            Parallel.forRanges(x.scalarCount) { r in
                for i in r { po[i] = f(px[i]) }
            }
        }
    }

    /// Elementwise map of two same-shaped tensors.
    static func map2<F: ElementPairFunction, T: TensorScalar>(_ x: Tensor, _ y: Tensor, _: T.Type, _ f: F) -> Tensor {
        let px = UnsafePointer(x.storage.pointer(as: T.self))
        let py = UnsafePointer(y.storage.pointer(as: T.self))
        return Tensor.make(x.shape, T.self) { po in
            Parallel.forRanges(x.scalarCount) { r in
                for i in r { po[i] = f(px[i], py[i]) }
            }
        }
    }

    /// Runs over a layout, splitting the work over threads when it is large.
    static func forEachRun(_ layout: StridedLayout, _ body: ([Int], Int, [Int]) -> Void) {
        let outer = layout.outerCount, inner = layout.innerCount
        if outer * inner < 65_536 || Parallel.threadCount < 2 {
            layout.forEachRun(outer: 0..<outer, body)
        } else if outer >= Parallel.threadCount {
            Parallel.forRanges(outer, minParallel: 0) { r in layout.forEachRun(outer: r, body) }
        } else {
            // Few long runs: split each run into pieces.
            let pieces = Parallel.threadCount
            layout.forEachRun(outer: 0..<outer) { offsets, n, strides in
                Parallel.forEachChunk(pieces) { p in
                    let lo = n * p / pieces, hi = n * (p + 1) / pieces
                    let shifted = zip(offsets, strides).map { $0 + lo * $1 }
                    body(shifted, hi - lo, strides)
                }
            }
        }
    }

    /// Σ p[0..<n] with two vector accumulators: a single scalar accumulator would wait on each
    /// addition's latency, as the compiler may not reorder floating-point sums itself.
    @inline(__always)
    static func contiguousSum<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int) -> T {
        var a0 = SIMD8<T>(repeating: 0), a1 = SIMD8<T>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            a0 += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<T>.self)
            a1 += UnsafeRawPointer(p + i + 8).loadUnaligned(as: SIMD8<T>.self)
            i += 16
        }
        var acc = (a0 + a1).sum()
        while i < n { acc += p[i]; i += 1 }
        return acc
    }

    /// Sums `x` into `outShape` (same rank, each dimension equal or 1).
    static func sum<T: TensorScalar>(_ x: Tensor, _: T.Type, to outShape: [Int]) -> Tensor {
        let layout = StridedLayout(shape: x.shape, operandShapes: [outShape, x.shape])
        let px = UnsafePointer(x.storage.pointer(as: T.self))
        let outCount = ShapeRules.count(outShape)
        let accumulate = { (po: UnsafeMutablePointer<T>, outer: Range<Int>) in
            layout.forEachRun(outer: outer) { offsets, n, strides in
                let o = po + offsets[0], s = px + offsets[1]
                let sx = strides[1]
                if strides[0] == 0 {
                    var acc: T = 0
                    if sx == 1 { acc = contiguousSum(s, n) } else { for i in 0..<n { acc += s[i * sx] } }
                    o[0] += acc
                } else {
                    let so = strides[0]
                    for i in 0..<n { o[i * so] += s[i * sx] }
                }
            }
        }
        let outer = layout.outerCount
        let groups = x.scalarCount >= 65_536 ? Swift.min(Parallel.reductionGroups, outer) : 1
        return Tensor.make(outShape, T.self, zeroed: true) { po in
            guard groups > 1 else {
                accumulate(po, 0..<outer)
                return
            }
            // Each group of runs sums into its own partial output, and the partials are added in
            // group order: the same rounding on any number of threads.
            let partials = UnsafeMutablePointer<T>.allocate(capacity: outCount * groups)
            partials.initialize(repeating: 0, count: outCount * groups)
            defer { partials.deallocate() }
            Parallel.forEachGroup(outer, groups: groups) { group, runs in
                accumulate(partials + group * outCount, runs)
            }
            addPartials(partials, size: outCount, groups: groups, into: po)
        }
    }

    /// out[0..<size] = the sum of `groups` partials laid out `size` apart in `partials`, added in
    /// group order (the first copied, the others added to it), so a reduction's total rounds the
    /// same however its groups were run. `out` may be `partials` itself.
    static func addPartials<T: TensorScalar>(_ partials: UnsafePointer<T>, size: Int, groups: Int, into out: UnsafeMutablePointer<T>) {
        if UnsafePointer(out) != partials { out.update(from: partials, count: size) }
        for group in 1..<Swift.max(groups, 1) {
            let q = partials + group * size
            for i in 0..<size { out[i] += q[i] }
        }
    }
}
