// Softmax over the last dimension, forward y = exp(x - max) / sum(exp(x - max)) and backward
// gx = y * (gy - sum(gy * y)), on contiguous (rows, C) float32 tensors.
// Versions: one, a warp per row (4 rows per 128-thread block): each lane strides over the row, the max and the sums
// are warp shuffles, no shared memory. Every C works; very wide rows (C >> 1024) would want a block per row.
// The CPU oracle is kernels/cpu/softmax.cpp.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/softmax.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kWarpsPerBlock = 4;

__global__ void softmax_forward_kernel(const float* x, float* y, int64_t rows, int64_t C) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps leave together
  const int lane = threadIdx.x % 32;
  const float* in = x + row * C;  // (C)
  float* out = y + row * C;       // (C)
  float m = -INFINITY;
  for (int64_t c = lane; c < C; c += 32) m = fmaxf(m, in[c]);
  m = warp_max(m);
  float s = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float e = expf(in[c] - m);
    out[c] = e;
    s += e;
  }
  const float inv = 1.0f / warp_sum(s);
  for (int64_t c = lane; c < C; c += 32) out[c] *= inv;  // each lane rescales only what it wrote
}

__global__ void softmax_backward_kernel(const float* y, const float* gy, float* gx, int64_t rows, int64_t C) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const float* yr = y + row * C;
  const float* gr = gy + row * C;
  float dot = 0.0f;
  for (int64_t c = lane; c < C; c += 32) dot += gr[c] * yr[c];
  dot = warp_sum(dot);
  for (int64_t c = lane; c < C; c += 32) gx[row * C + c] = yr[c] * (gr[c] - dot);
}

unsigned blocks_for(int64_t rows) { return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock); }

}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t C, cudaStream_t stream) {
  if (rows <= 0 || C <= 0) return;
  cage::launch(softmax_forward_kernel, dim3(blocks_for(rows)), dim3(32 * kWarpsPerBlock), 0, stream, x, y, rows, C);
}

void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t C, cudaStream_t stream) {
  if (rows <= 0 || C <= 0) return;
  cage::launch(softmax_backward_kernel, dim3(blocks_for(rows)), dim3(32 * kWarpsPerBlock), 0, stream, y, gy, gx, rows,
               C);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
