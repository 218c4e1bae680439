import Foundation
import Support

/// The processes that train one run together (MPI ranks, or just this process): what
/// `MetaTrainer.step(communicator:)`, `TrainingRun.shared(by:…)` and distributed evaluations
/// need of them. Every rank must call each collective in the same order with the same sizes.
///
/// `allreduceSum` sums in rank order (rank 0's values, plus rank 1's, …) whatever the transport,
/// so a run gives the same bits every time it runs on the same number of ranks.
public protocol Communicator: AnyObject {
    /// This process's index, 0 ..< size; rank 0 writes the run's files.
    var rank: Int { get }
    var size: Int { get }
    /// Replaces every rank's `bytes` with `root`'s (whose length the others need not know).
    func broadcast(_ bytes: inout [UInt8], root: Int) throws
    /// Replaces every rank's `values` with `root`'s; every rank passes the same count.
    func broadcast(_ values: inout [Double], root: Int) throws
    /// Every rank's `values` become the element-wise sum over ranks, added in rank order.
    func allreduceSum(_ values: inout [Float]) throws
    func allreduceSum(_ values: inout [Double]) throws
    /// Ends every rank's process now with `code`, after writing `message` to standard error;
    /// for a failure on one rank, so that no other rank waits forever in a collective.
    func abort(_ message: String, code: Int32) -> Never
}

/// One process alone: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {}
    public func broadcast(_ values: inout [Double], root: Int) throws {}
    public func allreduceSum(_ values: inout [Float]) throws {}
    public func allreduceSum(_ values: inout [Double]) throws {}
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        exit(code)
    }
}

extension Communicator {
    /// The items of `0..<count` this rank takes: k = rank, rank + size, … (rank 0 always has item 0).
    public func share(of count: Int) -> StrideTo<Int> { stride(from: rank, to: count, by: size) }

    /// Rank 0's value of a Codable, on every rank.
    public func broadcastJSON<T: Codable>(_ value: T?, root: Int = 0) throws -> T {
        var bytes = rank == root ? [UInt8](try JSONEncoder().encode(value)) : []
        try broadcast(&bytes, root: root)
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }

    /// Every rank's bytes, on rank 0 in rank order (empty arrays on the others).
    public func gatherToRoot(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var all: [[UInt8]] = []
        for r in 0..<size {
            var part = r == rank ? bytes : []
            try broadcast(&part, root: r)
            if rank == 0 { all.append(part) }
        }
        return all
    }
}

/// Ranks run as threads of one process, for tests of the distributed code paths without MPI:
/// `LocalGroup.run(size) { communicator in … }` runs the body once per rank, side by side.
public final class LocalGroup: @unchecked Sendable {
    private let size: Int
    private let condition = NSCondition()
    /// Exchange number → what each rank deposited, and how many ranks have read it.
    private var deposits: [Int: (values: [Any?], readers: Int)] = [:]

    private init(size: Int) { self.size = size }

    /// Runs `body` on `size` threads, one per rank, and returns their results in rank order.
    public static func run<T>(_ size: Int, _ body: @escaping (any Communicator) throws -> T) throws -> [T] {
        let group = LocalGroup(size: size)
        let results = Locked<[Result<T, Error>?]>(Array(repeating: nil, count: size))
        let done = DispatchGroup()
        let box = UncheckedBox(body)
        for r in 0..<size {
            done.enter()
            let thread = Thread {
                let outcome = Result { try box.value(Member(group: group, rank: r)) }
                results.withLock { $0[r] = outcome }
                done.leave()
            }
            thread.stackSize = 64 << 20
            thread.start()
        }
        done.wait()
        return try results.withLock { $0 }.map { try $0!.get() }
    }

    /// Deposits `value` as exchange number `index`, waits for every rank's, and returns them in rank order.
    fileprivate func exchange(_ value: Any, rank: Int, index: Int) -> [Any] {
        condition.lock()
        defer { condition.unlock() }
        var entry = deposits[index] ?? (Array(repeating: nil, count: size), 0)
        entry.values[rank] = value
        deposits[index] = entry
        condition.broadcast()
        while deposits[index]!.values.contains(where: { $0 == nil }) { condition.wait() }
        let all = deposits[index]!.values.map { $0! }
        deposits[index]!.readers += 1
        if deposits[index]!.readers == size { deposits[index] = nil }
        return all
    }

    private struct UncheckedBox<Value>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    private final class Member: Communicator {
        let group: LocalGroup
        let rank: Int
        private var exchanges = 0
        var size: Int { group.size }
        init(group: LocalGroup, rank: Int) {
            self.group = group
            self.rank = rank
        }
        private func exchange(_ value: Any) -> [Any] {
            defer { exchanges += 1 }
            return group.exchange(value, rank: rank, index: exchanges)
        }
        func broadcast(_ bytes: inout [UInt8], root: Int) throws { bytes = exchange(bytes)[root] as! [UInt8] }
        func broadcast(_ values: inout [Double], root: Int) throws { values = exchange(values)[root] as! [Double] }
        func allreduceSum(_ values: inout [Float]) throws { values = sum(exchange(values).map { $0 as! [Float] }) }
        func allreduceSum(_ values: inout [Double]) throws { values = sum(exchange(values).map { $0 as! [Double] }) }
        func abort(_ message: String, code: Int32) -> Never { fatalError("LocalGroup rank \(rank) aborted: \(message)") }
        private func sum<T: FloatingPoint>(_ parts: [[T]]) -> [T] {
            parts.dropFirst().reduce(parts[0]) { acc, part in
                precondition(acc.count == part.count, "allreduceSum: ranks passed \(acc.count) and \(part.count) values")
                return zip(acc, part).map { $0 + $1 }
            }
        }
    }
}
