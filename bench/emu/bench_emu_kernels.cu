// Kernels for the emulator's launch-cost benchmark: no barrier, one barrier, a shared-memory tree reduction
// (8 barriers), and a warp-shuffle reduction (5 collectives per warp).
#include "kernels/cuda/portable.cuh"
#include "bench/emu/bench_emu_kernels.h"

namespace cage_bench {
namespace {

__global__ void empty_kernel(float* out) {
  if (threadIdx.x == 0 && blockIdx.x == 0) out[0] = 1.0f;
}

__global__ void one_barrier_kernel(float* out) {
  __shared__ float s[1024];
  s[threadIdx.x] = float(threadIdx.x);
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

__global__ void tree_reduce_kernel(const float* in, float* out) {  // 256 threads
  __shared__ float partial[256];
  partial[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  for (int stride = 128; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

__global__ void shuffle_reduce_kernel(const float* in, float* out) {
  float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = v;
}

}  // namespace

void launch_bench_kernel(bench_kernel k, int blocks, int threads, const float* in, float* out) {
  switch (k) {
    case bench_kernel::empty: cage::launch(empty_kernel, dim3(blocks), dim3(threads), 0, 0, out); break;
    case bench_kernel::one_barrier: cage::launch(one_barrier_kernel, dim3(blocks), dim3(threads), 0, 0, out); break;
    case bench_kernel::tree_reduce: cage::launch(tree_reduce_kernel, dim3(blocks), dim3(256), 0, 0, in, out); break;
    case bench_kernel::shuffle_reduce:
      cage::launch(shuffle_reduce_kernel, dim3(blocks), dim3(threads), 0, 0, in, out);
      break;
  }
}

}  // namespace cage_bench
