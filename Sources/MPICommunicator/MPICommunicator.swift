// Built only with the `MPI` package trait (`swift build --traits MPI`); without it this module is
// empty and nothing of MPI is needed.
#if MPI
import CMPI
import Foundation
import GTN

public struct MPIError: Error, CustomStringConvertible {
    public let description: String
}

/// `MPI_COMM_WORLD` as a `Communicator`. MPI is called only from the thread that created it
/// (`MPI_THREAD_FUNNELED`): the training loop's, never the kernels' worker threads.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let world: MPI_Comm

    /// Initialises MPI; call once per process, and `finalize()` before a normal exit.
    public init() throws {
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, gtn_mpi_thread_funneled(), &provided) == gtn_mpi_success() else {
            throw MPIError(description: "MPI_Init_thread failed")
        }
        world = gtn_mpi_comm_world()
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &s)
        rank = Int(r)
        size = Int(s)
    }

    public func finalize() { MPI_Finalize() }

    /// MPI's default error handler already aborts the job on a failed call; this names the call
    /// for the handlers that return instead.
    private func check(_ code: Int32, _ call: String) throws {
        guard code == gtn_mpi_success() else {
            throw MPIError(description: "\(call) failed on rank \(rank) of \(size) (MPI error \(code))")
        }
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        var count = UInt64(bytes.count)
        try check(MPI_Bcast(&count, 1, gtn_mpi_uint64(), Int32(root), world), "MPI_Bcast")
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(count)) }
        let piece = 1 << 30
        try bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = min(piece, buffer.count - offset)
                try check(MPI_Bcast(buffer.baseAddress! + offset, Int32(n), gtn_mpi_byte(), Int32(root), world), "MPI_Bcast")
                offset += n
            }
        }
    }

    public func broadcast(_ values: inout [Double], root: Int) throws {
        let count = values.count
        try values.withUnsafeMutableBytes { buffer in
            try check(MPI_Bcast(buffer.baseAddress, Int32(count), gtn_mpi_double(), Int32(root), world), "MPI_Bcast")
        }
    }

    public func allreduceSum(_ values: inout [Float]) throws { try sumInRankOrder(&values, type: gtn_mpi_float()) }
    public func allreduceSum(_ values: inout [Double]) throws { try sumInRankOrder(&values, type: gtn_mpi_double()) }

    /// A reduce-scatter and an allgather, as a ring allreduce moves (2(p−1)/p of the buffer in and
    /// out of each rank), but with each slice summed in rank order by the rank that owns it: the
    /// same bits on every run, whatever MPI's own `MPI_Allreduce` algorithm would choose.
    private func sumInRankOrder<T: BinaryFloatingPoint>(_ values: inout [T], type: MPI_Datatype) throws {
        let n = values.count, p = size
        let slice = (n + p - 1) / p
        guard slice > 0 else { return }
        precondition(slice <= Int(Int32.max), "allreduceSum: \(n) values are more than one call can move")
        var send = values + [T](repeating: 0, count: slice * p - n)
        var received = [T](repeating: 0, count: slice * p)
        try send.withUnsafeBytes { s in
            try received.withUnsafeMutableBytes { r in
                try check(MPI_Alltoall(s.baseAddress, Int32(slice), type, r.baseAddress, Int32(slice), type, world), "MPI_Alltoall")
            }
        }
        var mine = Array(received[0..<slice])
        received.withUnsafeBufferPointer { r in
            mine.withUnsafeMutableBufferPointer { m in
                for source in 1..<p {
                    for i in 0..<slice { m[i] += r[source * slice + i] }
                }
            }
        }
        try mine.withUnsafeBytes { m in
            try send.withUnsafeMutableBytes { all in
                try check(MPI_Allgather(m.baseAddress, Int32(slice), type, all.baseAddress, Int32(slice), type, world), "MPI_Allgather")
            }
        }
        values = Array(send[0..<n])
    }

    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        MPI_Abort(world, code)
        exit(code)
    }
}
#endif
