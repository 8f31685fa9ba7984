// Emulator test kernels: block reductions through static and dynamic shared memory, __syncthreads and its
// count/and/or forms, a 1024-thread block, 3D index mapping and by-value parameters.
#include "kernels/cuda/portable.cuh"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

__global__ void block_sum_static_kernel(const float* in, float* out, int n) {  // blockDim.x == 256
  __shared__ float partial[256];
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  partial[threadIdx.x] = i < n ? in[i] : 0.0f;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

__global__ void block_sum_dynamic_kernel(const float* in, float* out, int n) {
  CAGE_DYNAMIC_SHARED(float, partial);  // blockDim.x floats
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  partial[threadIdx.x] = i < n ? in[i] : 0.0f;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

__global__ void block_votes_kernel(const float* in, int* out, int n, float threshold) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int p = i < n && in[i] > threshold;
  const int count = __syncthreads_count(p);
  const int all = __syncthreads_and(p);
  const int any = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    out[3 * blockIdx.x + 0] = count;
    out[3 * blockIdx.x + 1] = all;
    out[3 * blockIdx.x + 2] = any;
  }
}

__global__ void big_block_sum_kernel(const int* in, int* out, int* ids) {  // (32, 32) threads
  __shared__ int partial[1024];
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  ids[blockIdx.x * 1024 + t] = t;
  partial[t] = in[blockIdx.x * 1024 + t];
  __syncthreads();
  for (int stride = 512; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

__global__ void index_map_3d_kernel(int* out) {
  const int block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const int thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const int per_block = blockDim.x * blockDim.y * blockDim.z;
  out[block * per_block + thread] = threadIdx.x + 100 * threadIdx.y + 10000 * threadIdx.z + 1000000 * block;
}

struct countdown {
  int n;
};
__global__ void param_copies_kernel(int* out, countdown c) {
  int steps = 0;
  while (c.n > 0) {  // modifies this thread's own copy only
    --c.n;
    ++steps;
    if ((steps & 7) == 0) __syncwarp();  // switch fibers mid-loop
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = steps;
}

}  // namespace

void block_sum_static(const float* in, float* block_sums, int n) {
  cage::launch(block_sum_static_kernel, dim3((n + 255) / 256), dim3(256), 0, 0, in, block_sums, n);
}
void block_sum_dynamic(const float* in, float* block_sums, int n, int threads) {
  cage::launch(block_sum_dynamic_kernel, dim3((n + threads - 1) / threads), dim3(threads), threads * sizeof(float), 0,
               in, block_sums, n);
}
void block_votes(const float* in, int* out, int n, float threshold) {
  cage::launch(block_votes_kernel, dim3((n + 127) / 128), dim3(128), 0, 0, in, out, n, threshold);
}
void big_block_sum(const int* in, int* block_sums, int* ids, int blocks) {
  cage::launch(big_block_sum_kernel, dim3(blocks), dim3(32, 32), 0, 0, in, block_sums, ids);
}
void index_map_3d(int* out) { cage::launch(index_map_3d_kernel, dim3(3, 2, 2), dim3(8, 8, 16), 0, 0, out); }
void param_copies(int* out, int threads, int n) {
  cage::launch(param_copies_kernel, dim3(2), dim3(threads), 0, 0, out, countdown{n});
}

}  // namespace cage_test
