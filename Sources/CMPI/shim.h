// Swift cannot import MPI's handle macros: in Open MPI they are casts of addresses of global
// objects (MPI_COMM_WORLD is `((MPI_Comm)&ompi_mpi_comm_world)`), in MPICH integer constants of
// typedef'd types. These getters hand them over as ordinary values.
#ifndef GTN_CMPI_SHIM_H
#define GTN_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm gtn_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype gtn_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype gtn_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype gtn_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype gtn_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Op gtn_mpi_sum(void) { return MPI_SUM; }
static inline void *gtn_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int gtn_mpi_success(void) { return MPI_SUCCESS; }
static inline int gtn_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
#endif
