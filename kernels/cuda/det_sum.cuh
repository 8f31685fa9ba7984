// Deterministic double-precision sum of n per-element terms in two launches, for the losses and sum_all.
//   pass 1: block b sums the terms of its fixed chunk [b chunk, (b + 1) chunk) (threads stride by kSumThreads,
//           then a warp butterfly and the warps in order) into partial[b];
//   pass 2: one block adds the partials the same way and hands the total to a `finish` functor (thread 0 only).
// The chunk depends on n alone, never on the device, so every GPU and the emulator add in the same order.
// Device-side code of the portable subset: include only from .cu files, after portable.cuh.
#pragma once
#include "kernels/cuda/warp_reduce.cuh"

namespace cage::CAGE_GPU_NAMESPACE::det_sum {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kMaxBlocks = 1024;

// Elements per pass-1 block: a multiple of kThreads, at most kMaxBlocks blocks.
inline int64_t chunk(int64_t n) {
  int64_t c = (n + kMaxBlocks - 1) / kMaxBlocks;
  c = (c + kThreads - 1) / kThreads * kThreads;
  return c < kThreads ? kThreads : c;
}
inline int64_t blocks(int64_t n) { return n <= 0 ? 0 : (n + chunk(n) - 1) / chunk(n); }

// Sum over the block of every thread's v, in a fixed order; the result is valid in thread 0.
__device__ __forceinline__ double block_sum(double v, double* warp_partial) {
  v = warp_sum(v);
  if (threadIdx.x % 32 == 0) warp_partial[threadIdx.x / 32] = v;
  __syncthreads();
  double s = 0;
  if (threadIdx.x == 0)
    for (int w = 0; w < kWarps; ++w) s += warp_partial[w];
  return s;
}

template <typename term_t>
__global__ void partials_kernel(term_t term, int64_t n, int64_t chunk, double* partial) {
  __shared__ double warp_partial[kWarps];
  const int64_t begin = int64_t(blockIdx.x) * chunk;
  const int64_t end = begin + chunk < n ? begin + chunk : n;
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) s += term(i);
  s = block_sum(s, warp_partial);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <typename finish_t>
__global__ void finish_kernel(const double* partial, int64_t count, finish_t finish) {
  __shared__ double warp_partial[kWarps];
  double s = 0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) s += partial[i];
  s = block_sum(s, warp_partial);
  if (threadIdx.x == 0) finish(s);
}

// sum_{i < n} term(i) -> finish(total) on the device; `partial` holds blocks(n) doubles of scratch.
template <typename term_t, typename finish_t>
void run(term_t term, int64_t n, double* partial, finish_t finish, cudaStream_t stream) {
  const int64_t b = blocks(n);
  if (b > 0) cage::launch(partials_kernel<term_t>, dim3(unsigned(b)), dim3(kThreads), 0, stream, term, n, chunk(n), partial);
  cage::launch(finish_kernel<finish_t>, dim3(1), dim3(kThreads), 0, stream, partial, b, finish);
}

}  // namespace cage::CAGE_GPU_NAMESPACE::det_sum
