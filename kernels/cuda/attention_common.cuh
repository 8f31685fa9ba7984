// Device-side pieces shared by the attention kernels (kernels/cuda/attention.cu, the generic kernels and the
// public launchers; kernels/cuda/attention_tiled.cu, the register-tiled kernels for head width 32): the launch
// geometry, the partition map, the gather of a group's tokens into shared memory, the per-block table-gradient
// partial, and the tiled kernels' launchers. Internal to those two files.
#pragma once
#include <cmath>
#include <cstddef>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace cage::CAGE_GPU_NAMESPACE::attention_detail {

constexpr int kForwardThreads = 128;
constexpr int kBackwardThreads = 256;
constexpr int kTiledBackwardThreads = 128;  // the tiled backward's registers limit its block
constexpr int kReduceThreads = 128;
constexpr size_t kDefaultSharedLimit = 48 * 1024;

// The launch geometry in 32-bit fields (every per-image index fits; batch offsets are formed in 64 bits).
struct geometry {
  int H, W, C, heads, D, P, N, G, span, table_rows;  // span = 2P - 1, table_rows = span^2
  int grid;                                          // 0: window, 1: grid
  float scale;
};

inline geometry make_geometry(const relpos_attention_shape& s) {
  geometry g;
  g.H = int(s.H);
  g.W = int(s.W);
  g.C = int(s.C);
  g.heads = int(s.heads);
  g.D = int(s.C / s.heads);
  g.P = int(s.P);
  g.N = g.P * g.P;
  g.G = int((s.H / s.P) * (s.W / s.P));
  g.span = 2 * g.P - 1;
  g.table_rows = g.span * g.span;
  g.grid = s.grid ? 1 : 0;
  g.scale = s.scale;
  return g;
}

// kernels/attention.h relpos_attention_pixel: pixel (y * W + x) of token t of group grp.
__device__ __forceinline__ int token_pixel(const geometry& g, int grp, int t) {
  const int ph = g.H / g.P, pw = g.W / g.P;
  if (!g.grid) return ((grp / pw) * g.P + t / g.P) * g.W + (grp % pw) * g.P + t % g.P;
  return ((t / g.P) * ph + grp / pw) * g.W + (t % g.P) * pw + grp % pw;
}

// Row of the bias table for tokens i (at yi, xi) and j.
__device__ __forceinline__ int bias_row(const geometry& g, int yi, int xi, int j) {
  return (yi - j / g.P + g.P - 1) * g.span + (xi - j % g.P + g.P - 1);
}

// The block's (batch, group, head) and its token pixels, Q, K' = scale * K, V (and dO) rows, the head's bias column.
// k, v: (N, D + 1) tiles; q, go: (N, qs); pix: (N).
__device__ inline void load_group(const geometry& g, const float* qkv, const float* table, const float* gout, int64_t b,
                           int grp, int h, int* pix, float* q, int qs, float* k, float* v, float* go, float* bias) {
  const int DS = g.D + 1;
  for (int t = threadIdx.x; t < g.N; t += blockDim.x) pix[t] = token_pixel(g, grp, t);
  for (int e = threadIdx.x; e < g.table_rows; e += blockDim.x) bias[e] = table[int64_t(e) * g.heads + h];
  __syncthreads();
  const int64_t hw = int64_t(g.H) * g.W, row = 3 * int64_t(g.C);
  const float* img = qkv + b * hw * row + int64_t(h) * g.D;
  for (int e = threadIdx.x; e < g.N * g.D; e += blockDim.x) {
    const int t = e / g.D, d = e % g.D;  // consecutive threads read consecutive channels of one pixel
    const float* x = img + pix[t] * row + d;
    q[t * qs + d] = x[0];
    k[t * DS + d] = x[g.C] * g.scale;  // torchvision scales k, not the logits; so does the CPU oracle
    v[t * DS + d] = x[2 * g.C];
    if (go) go[t * qs + d] = gout[(b * hw + pix[t]) * g.C + int64_t(h) * g.D + d];
  }
  __syncthreads();
}

// This block's table gradient into its slice of partial ((B * G), table_rows, heads): table row
// r = (dy + P - 1) * span + (dx + P - 1) collects dS_ij over the pairs with yi - yj = dy, xi - xj = dx, in a fixed
// order. dS_ij is ds[i * rs + j * cs].
__device__ inline void table_partial(const geometry& g, const float* ds, int rs, int cs, float* partial, int64_t bg,
                                     int h) {
  float* part = partial + bg * int64_t(g.table_rows) * g.heads + h;
  for (int r = threadIdx.x; r < g.table_rows; r += blockDim.x) {
    const int dy = r / g.span - (g.P - 1), dx = r % g.span - (g.P - 1);
    const int y0 = dy > 0 ? dy : 0, y1 = dy < 0 ? g.P + dy : g.P;
    const int x0 = dx > 0 ? dx : 0, x1 = dx < 0 ? g.P + dx : g.P;
    float sum = 0.0f;
    for (int yi = y0; yi < y1; ++yi)
      for (int xi = x0; xi < x1; ++xi) sum += ds[(yi * g.P + xi) * rs + ((yi - dy) * g.P + (xi - dx)) * cs];
    part[int64_t(r) * g.heads] = sum;
  }
}

// The register-tiled kernels apply: head width 32, at most 64 tokens (two key columns per lane).
constexpr int kTiledD = 32;
__host__ __device__ inline int tiled_row_floats(const geometry& g) { return (g.N + 3) / 4 * 4; }  // N in float4s
inline bool use_tiled(const geometry& g) { return g.D == kTiledD && g.N <= 64; }

// Opts the kernel in to `bytes` of dynamic shared memory when that is above the default limit.
template <typename Kernel>
inline cudaError_t allow_shared(Kernel kernel, size_t bytes) {
  if (bytes <= kDefaultSharedLimit) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

// kernels/cuda/attention_tiled.cu: shared bytes and launches of the tiled kernels (blocks = B * G * heads).
size_t tiled_forward_shared_bytes(const geometry& g);
size_t tiled_backward_shared_bytes(const geometry& g);
cudaError_t tiled_forward(const float* qkv, const float* table, float* out, const geometry& g, int64_t blocks,
                          cudaStream_t stream);
cudaError_t tiled_backward(const float* qkv, const float* table, const float* gout, float* gqkv, float* partial,
                           const geometry& g, int64_t blocks, cudaStream_t stream);

}  // namespace cage::CAGE_GPU_NAMESPACE::attention_detail
