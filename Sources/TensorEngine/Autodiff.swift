import Foundation

/// What a vector-Jacobian product gets besides the output gradient.
struct VJPContext {
    /// The op's output, rebuilt with its node so a derivative that uses it stays differentiable.
    /// Only ops recorded with `savingOutput: true` may read it; for the others the engine does
    /// not keep the values alive.
    let output: Tensor
    /// Which inputs need a gradient; the VJP may return nil for the others.
    let needsGradient: [Bool]
}

/// The VJP of an op: maps the output gradient to one gradient per input (nil: none needed).
/// It is written with differentiable ops, so running it while recording builds a graph of the
/// derivative that can itself be differentiated (reverse over reverse).
typealias VJP = (_ gradient: Tensor, _ context: VJPContext) -> [Tensor?]

/// One node of the graph: the op that produced a tensor, its inputs, and its derivative.
/// Graphs are freed by reference counting as soon as no tensor refers to them.
final class GradNode: @unchecked Sendable {
    let op: String
    let shape: [Int]
    private(set) var inputs: [Tensor]
    private(set) var vjp: VJP?
    private(set) var savedOutput: Storage?
    private(set) var released = false

    init(leafShape: [Int]) {
        op = "leaf"
        shape = leafShape
        inputs = []
        vjp = nil
    }

    init(op: String, shape: [Int], inputs: [Tensor], savedOutput: Storage?, vjp: @escaping VJP) {
        self.op = op
        self.shape = shape
        self.inputs = inputs
        self.savedOutput = savedOutput
        self.vjp = vjp
    }

    var isLeaf: Bool { op == "leaf" }

    /// Drops what the backward pass needed, as PyTorch does without `retain_graph`.
    func release() {
        guard !isLeaf else { return }
        inputs = []
        vjp = nil
        savedOutput = nil
        released = true
    }
}

// MARK: - Recording

/// Per-thread engine state: the switch for graph recording, so parallel no-grad work
/// (evaluation, NAS) on other threads does not interfere with training, and the profiler's
/// nesting flag.
final class ThreadState {
    var disabledDepth = 0
    var insideProfiledOp = false
}

private let recordingKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { pointer in
        guard let pointer else { return }
        Unmanaged<ThreadState>.fromOpaque(pointer).release()
    }
    return key
}()

func threadState() -> ThreadState {
    if let p = pthread_getspecific(recordingKey) {
        return Unmanaged<ThreadState>.fromOpaque(p).takeUnretainedValue()
    }
    let state = ThreadState()
    pthread_setspecific(recordingKey, Unmanaged.passRetained(state).toOpaque())
    return state
}

/// Whether ops on this thread currently record the graph.
public var isRecordingGradients: Bool { threadState().disabledDepth == 0 }

/// Runs `body` without recording any graph (like `torch.no_grad()`): results are plain tensors.
public func withoutGradientRecording<R>(_ body: () throws -> R) rethrows -> R {
    let state = threadState()
    state.disabledDepth += 1
    defer { state.disabledDepth -= 1 }
    return try body()
}

/// Runs `body` with recording on, even inside `withoutGradientRecording`.
func withGradientRecording<R>(_ body: () throws -> R) rethrows -> R {
    let state = threadState()
    let saved = state.disabledDepth
    state.disabledDepth = 0
    defer { state.disabledDepth = saved }
    return try body()
}

/// Attaches a graph node to `output` when recording and any input requires a gradient.
func record(_ op: String, _ output: Tensor, inputs: [Tensor], savingOutput: Bool = false,
            vjp: @escaping VJP) -> Tensor {
    FiniteCheck.inspect(op, output, inputs: inputs)
    guard isRecordingGradients, inputs.contains(where: { $0.node != nil }) else { return output }
    let node = GradNode(op: op, shape: output.shape, inputs: inputs,
                        savedOutput: savingOutput ? output.storage : nil, vjp: vjp)
    return Tensor(shape: output.shape, storage: output.storage, node: node)
}

// MARK: - Reverse mode

/// Reverse-mode gradients of `output` with respect to `inputs`.
///
/// - Parameters:
///   - seed: the gradient of some scalar with respect to `output`; required when `output` is not
///     a scalar (one element).
///   - createGraph: record the backward computation, so the returned gradients can be
///     differentiated again (PyTorch's `create_graph=True`).
///   - retainGraph: keep the graph for another call; defaults to `createGraph`.
/// - Returns: one gradient per input, zeros for an input that `output` does not depend on.
public func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil,
                      createGraph: Bool = false, retainGraph: Bool? = nil) throws -> [Tensor] {
    let op = "gradients(of:wrt:)"
    if let seed {
        guard seed.shape == output.shape else {
            throw TensorError(op: op, "seed of shape \(describe(seed.shape)) does not match output of shape \(describe(output.shape))")
        }
    } else if output.scalarCount != 1 {
        throw TensorError(op: op, "output of shape \(describe(output.shape)) is not a scalar; pass a seed of that shape")
    }
    for (i, x) in inputs.enumerated() where x.node == nil {
        throw TensorError(op: op, "input \(i) of shape \(describe(x.shape)) does not require a gradient; mark it with requiringGradient()")
    }
    guard let root = output.node else {
        return inputs.map { Tensor.zeros($0.shape, dtype: $0.dtype) }
    }

    let targets = Set(inputs.map { ObjectIdentifier($0.node!) })
    let order = try relevantNodesInTopologicalOrder(from: root, targets: targets)
    let relevant = Set(order.map(ObjectIdentifier.init))

    var grads: [ObjectIdentifier: Tensor] = [:]
    grads[ObjectIdentifier(root)] = seed ?? Tensor(filling: 1, shape: output.shape, dtype: output.dtype)
    // Nodes whose gradient is a sum this call allocated. Without a graph to record, later
    // contributions are added into it in place: no VJP has seen the buffer yet (a node's
    // contributions all arrive before it is processed), and in the meta-gradient's backward
    // pass these sums are a large share of the memory traffic (parameter-sized adds per step).
    var ownedSums = Set<ObjectIdentifier>()

    let run = { (body: () throws -> Void) throws in
        if createGraph { try withGradientRecording(body) } else { try withoutGradientRecording(body) }
    }
    try run {
        for node in order.reversed() where !node.isLeaf {
            guard let g = grads[ObjectIdentifier(node)], let vjp = node.vjp else { continue }
            if !targets.contains(ObjectIdentifier(node)) { grads[ObjectIdentifier(node)] = nil }
            let needs = node.inputs.map { $0.node.map { relevant.contains(ObjectIdentifier($0)) } ?? false }
            // Without a saved output the gradient's storage stands in; such VJPs never read it.
            let out = Tensor(shape: node.shape,
                             storage: node.savedOutput ?? g.storage,
                             node: createGraph ? node : nil)
            let inputGrads = vjp(createGraph ? g : g.detached(), VJPContext(output: out, needsGradient: needs))
            for (i, input) in node.inputs.enumerated() where needs[i] {
                guard let ig = inputGrads[i], let inputNode = input.node else { continue }
                guard ig.shape == input.shape else {
                    throw TensorError(op: node.op, "internal: gradient of shape \(describe(ig.shape)) for input of shape \(describe(input.shape))")
                }
                let key = ObjectIdentifier(inputNode)
                guard let existing = grads[key] else {
                    grads[key] = ig
                    continue
                }
                if ownedSums.contains(key) {
                    existing.accumulateInPlace(ig)
                } else {
                    grads[key] = existing + ig
                    if !createGraph { ownedSums.insert(key) }
                }
            }
        }
    }
    if !(retainGraph ?? createGraph) {
        for node in order { node.release() }
    }
    return inputs.map { x in
        grads[ObjectIdentifier(x.node!)] ?? Tensor.zeros(x.shape, dtype: x.dtype)
    }
}

/// Convenience for a scalar loss: gradients with respect to each of `inputs`.
public func gradients(of loss: Tensor, wrt inputs: Tensor..., createGraph: Bool = false) throws -> [Tensor] {
    try gradients(of: loss, wrt: inputs, createGraph: createGraph)
}

/// Nodes from which a target is reachable, ordered so that every node comes after its inputs.
private func relevantNodesInTopologicalOrder(from root: GradNode, targets: Set<ObjectIdentifier>) throws -> [GradNode] {
    var reaches: [ObjectIdentifier: Bool] = [:]
    var order: [GradNode] = []
    // Iterative post-order DFS: graphs of unrolled training are thousands of nodes deep.
    var stack: [(GradNode, Int)] = [(root, 0)]
    var visiting = Set<ObjectIdentifier>()
    visiting.insert(ObjectIdentifier(root))
    while let (node, next) = stack.last {
        if node.released {
            throw TensorError(op: node.op, "the graph through this op (output \(describe(node.shape))) was freed by an earlier gradients call; pass retainGraph: true to differentiate it twice")
        }
        if next < node.inputs.count {
            stack[stack.count - 1].1 += 1
            guard let child = node.inputs[next].node else { continue }
            let id = ObjectIdentifier(child)
            if reaches[id] == nil && !visiting.contains(id) {
                visiting.insert(id)
                stack.append((child, 0))
            }
            continue
        }
        stack.removeLast()
        let id = ObjectIdentifier(node)
        let hit = targets.contains(id) || node.inputs.contains { input in
            input.node.map { reaches[ObjectIdentifier($0)] == true } ?? false
        }
        reaches[id] = hit
        if hit { order.append(node) }
    }
    return order
}
