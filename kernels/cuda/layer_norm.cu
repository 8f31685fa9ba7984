// Layer norm over the last dimension of contiguous (rows, C) float32 tensors, forward and backward.
//   forward:  mean = sum(x) / C, invstd = 1 / sqrt(sum((x - mean)^2) / C + eps),
//             y = xhat * w + b, xhat = (x - mean) * invstd
//   backward: gx = invstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)), gxhat = gy * w;
//             gw = sum over rows of gy * xhat, gb = sum over rows of gy.
// Versions: one. Forward and gx: a warp per row (4 rows per 128-thread block), two-pass statistics with warp
// shuffles, mean/invstd saved per row. gw/gb: a column reduction, deterministic (no atomics): a (32, 8) block owns 32
// columns, its 8 row-groups sum strided rows, then shared memory adds the 8 partials in a fixed order. The column
// reduction walks every row in one block per 32 columns; a split over rows with a second pass would use more SMs.
// The CPU oracle is kernels/cpu/norm.cpp.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/layer_norm.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kColumnRowGroups = 8;

__global__ void layer_norm_forward_kernel(const float* x, const float* weight, const float* bias, float eps, float* y,
                                          float* mean, float* invstd, int64_t rows, int64_t C) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps leave together
  const int lane = threadIdx.x % 32;
  const float* in = x + row * C;  // (C)
  float s = 0.0f;
  for (int64_t c = lane; c < C; c += 32) s += in[c];
  const float m = warp_sum(s) / float(C);
  float v = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float d = in[c] - m;
    v += d * d;
  }
  const float is = rsqrtf(warp_sum(v) / float(C) + eps);
  if (lane == 0) {
    mean[row] = m;
    invstd[row] = is;
  }
  float* out = y + row * C;
  for (int64_t c = lane; c < C; c += 32) {
    const float xh = (in[c] - m) * is;
    out[c] = (weight ? xh * weight[c] : xh) + (bias ? bias[c] : 0.0f);
  }
}

__global__ void layer_norm_backward_input_kernel(const float* x, const float* weight, const float* mean,
                                                 const float* invstd, const float* gy, float* gx, int64_t rows,
                                                 int64_t C) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const float* in = x + row * C;
  const float* g = gy + row * C;
  const float m = mean[row], is = invstd[row];
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float gh = g[c] * (weight ? weight[c] : 1.0f);
    s1 += gh;
    s2 += gh * (in[c] - m) * is;
  }
  const float m1 = warp_sum(s1) / float(C), m2 = warp_sum(s2) / float(C);
  for (int64_t c = lane; c < C; c += 32) {
    const float gh = g[c] * (weight ? weight[c] : 1.0f);
    const float xh = (in[c] - m) * is;
    gx[row * C + c] = is * (gh - m1 - xh * m2);
  }
}

__global__ void layer_norm_backward_params_kernel(const float* x, const float* mean, const float* invstd,
                                                  const float* gy, float* gw, float* gb, int64_t rows, int64_t C) {
  __shared__ float partial_w[kColumnRowGroups][32];
  __shared__ float partial_b[kColumnRowGroups][32];
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  float sw = 0.0f, sb = 0.0f;
  if (c < C) {
    for (int64_t r = threadIdx.y; r < rows; r += kColumnRowGroups) {
      const float g = gy[r * C + c];
      sw += g * (x[r * C + c] - mean[r]) * invstd[r];
      sb += g;
    }
  }
  partial_w[threadIdx.y][threadIdx.x] = sw;
  partial_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int k = 1; k < kColumnRowGroups; ++k) {
      sw += partial_w[k][threadIdx.x];
      sb += partial_b[k][threadIdx.x];
    }
    if (gw) gw[c] = sw;
    if (gb) gb[c] = sb;
  }
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock); }

}  // namespace

void layer_norm_forward(const float* x, const float* weight, const float* bias, float eps, float* y, float* mean,
                        float* invstd, int64_t rows, int64_t C, cudaStream_t stream) {
  if (rows <= 0 || C <= 0) return;
  cage::launch(layer_norm_forward_kernel, dim3(row_blocks(rows)), dim3(32 * kWarpsPerBlock), 0, stream, x, weight,
               bias, eps, y, mean, invstd, rows, C);
}

void layer_norm_backward(const float* x, const float* weight, const float* mean, const float* invstd,
                         const float* gy, float* gx, float* gw, float* gb, int64_t rows, int64_t C,
                         cudaStream_t stream) {
  if (C <= 0) return;
  if (gx && rows > 0)
    cage::launch(layer_norm_backward_input_kernel, dim3(row_blocks(rows)), dim3(32 * kWarpsPerBlock), 0, stream, x,
                 weight, mean, invstd, gy, gx, rows, C);
  if (gw || gb)  // rows == 0 still writes zeros, as a sum over no rows
    cage::launch(layer_norm_backward_params_kernel, dim3(static_cast<unsigned>((C + 31) / 32)),
                 dim3(32, kColumnRowGroups), 0, stream, x, mean, invstd, gy, gw, gb, rows, C);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
