// Kernels of the AddressSanitizer probe: one writes one element past the end of its buffer; the others are correct
// and exercise fiber switches (barriers, shuffles) and the failure path (a trap unwinds fiber stacks).
#include "kernels/cuda/portable.cuh"
#include "emu/asan/asan_kernels.h"

namespace cage_test {
namespace {

__global__ void write_one_past_end_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;  // BUG ON PURPOSE: i == n is out of bounds (check_asan.sh looks for this line)
}

__global__ void dynamic_shared_overflow_kernel(float* out) {
  CAGE_DYNAMIC_SHARED(float, s);  // blockDim.x floats
  s[threadIdx.x + 1] = 1.0f;      // SHARED BUG ON PURPOSE: the last thread writes one past the end
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void clean_reduce_kernel(const float* in, float* out, int n) {  // 128 threads
  __shared__ float partial[128];
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  partial[threadIdx.x] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (int w = 0; w < 4; ++w) s += partial[32 * w];
    out[blockIdx.x] = s;
  }
}

__global__ void trap_kernel() {
  __syncthreads();
  if (threadIdx.x == 7) __trap();
  __syncthreads();
}

}  // namespace

void write_one_past_end(float* out, int n) {
  cage::launch(write_one_past_end_kernel, dim3((n + 255) / 256 + 1), dim3(256), 0, 0, out, n);
}
void dynamic_shared_overflow(float* out) {
  cage::launch(dynamic_shared_overflow_kernel, dim3(2), dim3(64), 64 * sizeof(float), 0, out);
}
void clean_reduce(const float* in, float* block_sums, int n) {
  cage::launch(clean_reduce_kernel, dim3((n + 127) / 128), dim3(128), 0, 0, in, block_sums, n);
}
void trap_after_barrier() { cage::launch(trap_kernel, dim3(3), dim3(64), 0, 0); }

}  // namespace cage_test
