// Host launchers of the emulator's test kernels (tests/emu/kernels/*.cu). The .cu files are built twice: by the host
// compiler into the emulator tests, and by nvcc (when CAGE_CUDA is on) to prove they are valid CUDA. Pointers are
// device pointers; errors are left for cudaGetLastError(), as after a <<<...>>> launch.
#pragma once
#ifdef __CUDACC__
#include <cuda_runtime.h>
#else
#include "kernels/emu/cuda_runtime_emu.h"
#endif

namespace cage_test {

// reduce.cu
void block_sum_static(const float* in, float* block_sums, int n);  // 256 threads per block, one sum per block
void block_sum_dynamic(const float* in, float* block_sums, int n, int threads);  // threads: power of two
// Per block: __syncthreads_count/_and/_or of (in[i] > threshold) -> out[3 * block + 0..2]; 128 threads per block.
void block_votes(const float* in, int* out, int n, float threshold);
// 1024 threads in a (32, 32) block: per-block sum of in[] (ints) and, in ids, each thread's linear index.
void big_block_sum(const int* in, int* block_sums, int* ids, int blocks);
// A (8, 8, 16) block on a (3, 2, 2) grid: out[global linear id] = x + 100 y + 10000 z + 1000000 * linear block id.
void index_map_3d(int* out);
// Each thread counts its by-value parameter down to zero and writes how many steps it took.
void param_copies(int* out, int threads, int n);

// transpose.cu: out (cols, rows) = in (rows, cols)^T through a padded 32 x 33 shared tile.
void transpose(const float* in, float* out, int rows, int cols);

// warp.cu: blocks of 64 threads (two warps). Per thread 9 results: xor-butterfly sum, shfl_down sum (valid in lane
// 0), shfl_up inclusive scan, broadcast of lane 5, width-8 broadcast of segment lane 2, width-16 shfl_down by 3,
// float xor-1 swap (as int), __reduce_add_sync, __match_any_sync on value % 4.
void warp_shuffles(const int* in, int* out, int threads);
// Per thread 5 results: ballot(v > 10), any(v > 10), all(v > 0), ballot over odd lanes only (0 in even lanes),
// all(v > 5) over lanes 0-15 / any(v > 50) over lanes 16-31 in the same divergent branch.
void warp_votes(const int* in, unsigned* out, int threads);
// A 48-thread block (one partial warp): per thread __reduce_add_sync and popc(__ballot_sync) over the live lanes.
void partial_warp(const int* in, int* out);

// atomics.cu
void histogram(const int* in, int n, int* bins, int nbins, int blocks, int threads);
struct atomic_results {
  float fsum;
  int imax, imin, cas_counter, exch_slot;
  unsigned long long usum, exch_sum;
};
void atomic_mix(int n, atomic_results* r);  // r: device memory, zero-initialised except imax/imin
// Blocks of 1 thread note how many blocks are inside at once; each waits (up to spin_limit polls) for a second one.
void concurrency_probe(int blocks, int* active, int* max_active, long long spin_limit);
void append_id(int* log, int* counter, int id, cudaStream_t stream);

// launch_errors.cu: writes v to out[global id]; any configuration, to provoke launch errors.
void launch_fill(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, int* out, int v);
cudaError_t fill_set_max_dynamic_shared(int bytes);
void trap_in_block_one(int* out);        // thread 3 of block 1 traps
void divergent_barrier(int* out);        // odd lanes wait at __syncthreads, even lanes at __syncwarp: deadlock
void mismatched_collective(int* out);    // half a warp in __ballot_sync, the other half in __any_sync

}  // namespace cage_test
