import ArgumentParser
import Foundation
import GTN
#if MPI
import MPICommunicator
#endif

/// The processes a command runs as: MPI's ranks when started by `mpirun`/`srun` in a build with
/// the `MPI` trait, else this process alone.
enum Ranks {
    /// The number of ranks the launcher started, from its environment (before MPI starts): Open
    /// MPI's, MPICH/Hydra's or PMI's variables, else 1.
    static let launched: Int = {
        let environment = ProcessInfo.processInfo.environment
        for name in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
            if let value = environment[name].flatMap({ Int($0) }), value > 0 { return value }
        }
        return 1
    }()

    /// The world communicator; non-zero ranks print nothing.
    static func world() throws -> any Communicator {
        #if MPI
        guard launched > 1 else { return SingleProcess() }
        let world = try MPICommunicator()
        Terminal.isSilent = world.rank != 0
        return world
        #else
        if launched > 1 {
            throw ValidationError("started as one of \(launched) MPI ranks, but this gtn was built without MPI: build it with `swift build -c release --traits MPI` (each rank would otherwise train alone)")
        }
        return SingleProcess()
        #endif
    }

    /// Runs `body` on every rank. With several ranks, an error on any of them prints its reason
    /// (with the rank) and ends every rank (MPI_Abort), so no rank waits in a collective; a
    /// normal end, or an `ExitCode` (a signal's), finalizes MPI first.
    static func run(_ command: String, _ body: (any Communicator) throws -> Void) throws {
        let world = try world()
        guard world.size > 1 else { return try body(world) }
        do {
            try body(world)
        } catch let exit as ExitCode {
            finalize(world)
            throw exit
        } catch {
            world.abort("error: gtn \(command), rank \(world.rank) of \(world.size): \(error)", code: 1)
        }
        finalize(world)
    }

    private static func finalize(_ world: any Communicator) {
        #if MPI
        (world as? MPICommunicator)?.finalize()
        #endif
    }
}
