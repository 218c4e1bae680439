// Times the meta-gradient allreduce of `gtn train` under MPI for a teacher of N floats: the
// rank-order sum MPICommunicator does (MPI_Alltoall, a sum of the slices in rank order,
// MPI_Allgather) and, for comparison, MPI_Allreduce.
//   mpicc -O2 scripts/allreduce-bench.c -o /tmp/allreduce-bench
//   mpirun --allow-run-as-root --bind-to none -np 2 /tmp/allreduce-bench 1300000 6600000
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double rank_order(float *values, int n, int p, float *send, float *received) {
    int slice = (n + p - 1) / p;
    double t = MPI_Wtime();
    memcpy(send, values, sizeof(float) * n);
    memset(send + n, 0, sizeof(float) * (slice * p - n));
    MPI_Alltoall(send, slice, MPI_FLOAT, received, slice, MPI_FLOAT, MPI_COMM_WORLD);
    for (int r = 1; r < p; r++)
        for (int i = 0; i < slice; i++) received[i] += received[r * slice + i];
    MPI_Allgather(received, slice, MPI_FLOAT, send, slice, MPI_FLOAT, MPI_COMM_WORLD);
    memcpy(values, send, sizeof(float) * n);
    return MPI_Wtime() - t;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, p;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p);
    for (int a = 1; a < argc; a++) {
        int n = atoi(argv[a]), slice = (n + p - 1) / p, reps = 10;
        float *values = calloc(n, sizeof(float)), *send = calloc((size_t)slice * p, sizeof(float));
        float *received = calloc((size_t)slice * p, sizeof(float));
        double best = 1e9, bestNative = 1e9, total = 0;
        for (int k = 0; k < reps + 1; k++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t = rank_order(values, n, p, send, received);
            if (k > 0) { total += t; if (t < best) best = t; }
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            t0 = MPI_Wtime() - t0;
            if (k > 0 && t0 < bestNative) bestNative = t0;
        }
        if (rank == 0)
            printf("%d ranks, %d floats (%.1f MB): rank-order sum best %.2f ms, mean %.2f ms; MPI_Allreduce best %.2f ms\n",
                   p, n, n * 4e-6, best * 1e3, total / reps * 1e3, bestNative * 1e3);
        free(values); free(send); free(received);
    }
    MPI_Finalize();
    return 0;
}
