// Emulator test kernels: a fill kernel for every launch configuration (valid or not), and kernels that fail while
// running: a trap, a barrier that half the threads never reach, and a warp whose halves meet in different collectives
// (the last two are undefined behaviour in CUDA; the emulator reports them).
#include "kernels/cuda/portable.cuh"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

__global__ void fill_kernel(int* out, int v) {
  const int block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const int thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  out[block * (blockDim.x * blockDim.y * blockDim.z) + thread] = v;
}

__global__ void trap_kernel(int* out) {
  if (blockIdx.x == 1 && threadIdx.x == 3) __trap();
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x & 1)
    __syncthreads();
  else
    __syncwarp();
  out[threadIdx.x] = 1;
}

__global__ void mismatched_collective_kernel(int* out) {
  int r;
  if (threadIdx.x < 16)
    r = int(__ballot_sync(0xffffffffu, 1));
  else
    r = __any_sync(0xffffffffu, 1);
  out[threadIdx.x] = r;
}

}  // namespace

void launch_fill(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, int* out, int v) {
  cage::launch(fill_kernel, grid, block, shared_bytes, stream, out, v);
}
cudaError_t fill_set_max_dynamic_shared(int bytes) {
  return cudaFuncSetAttribute(fill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}
void trap_in_block_one(int* out) { cage::launch(trap_kernel, dim3(4), dim3(64), 0, 0, out); }
void divergent_barrier(int* out) { cage::launch(divergent_barrier_kernel, dim3(1), dim3(64), 0, 0, out); }
void mismatched_collective(int* out) { cage::launch(mismatched_collective_kernel, dim3(1), dim3(32), 0, 0, out); }

}  // namespace cage_test
