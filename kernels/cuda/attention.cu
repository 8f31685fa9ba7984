// Fused relative-position window / grid attention of MaxViT, forward and backward (kernels/cuda/attention.cuh).
// One block per (batch, group, head), head fastest (the heads of a group read neighbouring bytes of the same pixels).
// The block gathers its N = P*P tokens straight from the NHWC qkv tensor through the partition map of
// kernels/attention.h (no partition copies), keeps Q, K' = scale * K and V of its head in shared memory (K', V rows
// padded to D + 1 floats: a warp reading 32 different rows then hits 32 different banks) and the head's column of the
// bias table (the bias is gathered by relative position, never expanded to N x N).
//   forward:  a warp per query row i: lane j forms S_ij = bias_ij + q_i . k'_j (accumulated onto the bias, the
//             CPU oracle's order), the row's max and sum are warp shuffles, the probabilities go to a per-warp row
//             buffer and lane d forms O_id = sum_j A_ij V_jd, written at token i's own pixel of out.
//   backward: recomputes A (no attention matrix is saved by the forward). A warp per row i forms A_i, dP_i = dO_i V^T
//             and dS_i = A_i * (dP_i - rowsum(dP_i * A_i)) into two N x N shared tiles; then a thread per (token, d)
//             forms dV = A^T dO, dQ = dS K', dK = scale dS^T Q and writes them to gqkv (overwritten), and a thread per
//             table row sums the block's dS by relative position into its own slice of a scratch buffer. A second
//             kernel sums those partial tables over (batch, group) in a fixed order (a warp per table entry, double
//             accumulation): gtable is deterministic, no float atomics.
// Versions, float32: these generic kernels (any head width and P), and for head width 32 with N <= 64 (MaxViT) the
// register-tiled twins of kernels/cuda/attention_tiled.cu. Shared memory for N = 49, D = 32 (tiled): forward 20,912
// bytes, backward 46,736, under the 48 KB default; larger configurations opt in to the device's maximum through
// cudaFuncSetAttribute. The CPU oracle is kernels/cpu/attention.cpp.
#include "kernels/cuda/attention_common.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

using namespace attention_detail;

// Row i of S = Q K'^T + bias into s[0..N) (lane j owns s[j]), then softmax in place. Returns nothing: every lane's
// own entries hold A_ij. All 32 lanes of the warp must call.
__device__ __forceinline__ void probability_row(const geometry& g, int i, const float* q, const float* k,
                                                const float* bias, float* s) {
  const int DS = g.D + 1, lane = threadIdx.x % 32, yi = i / g.P, xi = i % g.P;
  const float* qi = q + i * DS;
  float m = -INFINITY;
  for (int j = lane; j < g.N; j += 32) {
    const float* kj = k + j * DS;
    float acc = bias[bias_row(g, yi, xi, j)];
    for (int d = 0; d < g.D; ++d) acc = fmaf(qi[d], kj[d], acc);
    s[j] = acc;
    m = fmaxf(m, acc);
  }
  m = warp_max(m);
  float sum = 0.0f;
  for (int j = lane; j < g.N; j += 32) {
    const float e = expf(s[j] - m);
    s[j] = e;
    sum += e;
  }
  const float inv = 1.0f / warp_sum(sum);
  for (int j = lane; j < g.N; j += 32) s[j] *= inv;
}

__global__ void __launch_bounds__(kForwardThreads)
    relpos_attention_forward_kernel(const float* qkv, const float* table, float* out, geometry g) {
  CAGE_DYNAMIC_SHARED(float, smem);
  const int DS = g.D + 1, warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* q = smem;                      // (N, D + 1)
  float* k = q + g.N * DS;              // (N, D + 1), scaled
  float* v = k + g.N * DS;              // (N, D + 1)
  float* bias = v + g.N * DS;           // ((2P-1)^2): this head's column of the table
  float* rows = bias + g.table_rows;    // (warps, N): one probability row per warp
  int* pix = reinterpret_cast<int*>(rows + warps * g.N);  // (N)
  const int h = blockIdx.x % g.heads, grp = (blockIdx.x / g.heads) % g.G;
  const int64_t b = blockIdx.x / g.heads / g.G;
  load_group(g, qkv, table, nullptr, b, grp, h, pix, q, DS, k, v, nullptr, bias);

  float* a = rows + warp * g.N;
  float* o = out + b * int64_t(g.H) * g.W * g.C + int64_t(h) * g.D;
  for (int i = warp; i < g.N; i += warps) {
    probability_row(g, i, q, k, bias, a);
    __syncwarp();  // every lane reads the whole row below
    for (int d = lane; d < g.D; d += 32) {
      float acc = 0.0f;
      for (int j = 0; j < g.N; ++j) acc = fmaf(a[j], v[j * DS + d], acc);
      o[int64_t(pix[i]) * g.C + d] = acc;
    }
    __syncwarp();  // the row buffer is rewritten by the next row
  }
}

__global__ void __launch_bounds__(kBackwardThreads)
    relpos_attention_backward_kernel(const float* qkv, const float* table, const float* gout, float* gqkv,
                                     float* partial, geometry g) {
  CAGE_DYNAMIC_SHARED(float, smem);
  const int DS = g.D + 1, N = g.N, warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* q = smem;                     // (N, D + 1)
  float* k = q + N * DS;               // (N, D + 1), scaled
  float* v = k + N * DS;               // (N, D + 1)
  float* go = v + N * DS;              // (N, D + 1): dO
  float* a = go + N * DS;              // (N, N): probabilities
  float* ds = a + N * N;               // (N, N): dS
  float* bias = ds + N * N;            // ((2P-1)^2)
  int* pix = reinterpret_cast<int*>(bias + g.table_rows);  // (N)
  const int h = blockIdx.x % g.heads, grp = (blockIdx.x / g.heads) % g.G;
  const int64_t bg = blockIdx.x / g.heads, b = bg / g.G;
  load_group(g, qkv, table, gout, b, grp, h, pix, q, DS, k, v, go, bias);

  for (int i = warp; i < N; i += warps) {
    float* ai = a + i * N;
    float* dsi = ds + i * N;
    probability_row(g, i, q, k, bias, ai);
    // dP_ij = dO_i . V_j, then dS_ij = A_ij (dP_ij - sum_j dP_ij A_ij); lane j only touches its own entries
    const float* goi = go + i * DS;
    float r = 0.0f;
    for (int j = lane; j < N; j += 32) {
      const float* vj = v + j * DS;
      float acc = 0.0f;
      for (int d = 0; d < g.D; ++d) acc = fmaf(goi[d], vj[d], acc);
      dsi[j] = acc;
      r = fmaf(acc, ai[j], r);
    }
    r = warp_sum(r);
    for (int j = lane; j < N; j += 32) dsi[j] = ai[j] * (dsi[j] - r);
  }
  __syncthreads();

  if (gqkv) {
    const int64_t hw = int64_t(g.H) * g.W, row = 3 * int64_t(g.C);
    float* gimg = gqkv + b * hw * row + int64_t(h) * g.D;
    for (int e = threadIdx.x; e < N * g.D; e += blockDim.x) {
      const int j = e / g.D, d = e % g.D;  // a warp mostly shares j: A, dS reads are broadcasts
      float dv = 0.0f, dk = 0.0f, dq = 0.0f;
      for (int i = 0; i < N; ++i) {
        dv = fmaf(a[i * N + j], go[i * DS + d], dv);
        dk = fmaf(ds[i * N + j], q[i * DS + d], dk);
        dq = fmaf(ds[j * N + i], k[i * DS + d], dq);  // K' holds the scale already
      }
      float* y = gimg + pix[j] * row + d;
      y[0] = dq;
      y[g.C] = dk * g.scale;
      y[2 * g.C] = dv;
    }
  }

  if (partial) table_partial(g, ds, N, 1, partial, bg, h);
}

// gtable[e] = sum over the `count` partial tables of entry e, a warp per entry: lanes take fixed strides and the
// butterfly is a fixed tree, so the result does not depend on scheduling.
__global__ void __launch_bounds__(kReduceThreads)
    relpos_attention_table_reduce_kernel(const float* partial, float* gtable, int64_t entries, int64_t count) {
  const int64_t e = int64_t(blockIdx.x) * (kReduceThreads / 32) + threadIdx.x / 32;
  if (e >= entries) return;  // whole warps leave together
  const int lane = threadIdx.x % 32;
  double s = 0.0;
  for (int64_t c = lane; c < count; c += 32) s += partial[c * entries + e];
  s = warp_sum(s);
  if (lane == 0) gtable[e] = float(s);
}

}  // namespace

size_t relpos_attention_forward_shared_bytes(const relpos_attention_shape& s) {
  using namespace attention_detail;
  const geometry g = make_geometry(s);
  if (use_tiled(g)) return tiled_forward_shared_bytes(g);
  const size_t floats = size_t(3) * g.N * (g.D + 1) + g.table_rows + size_t(kForwardThreads / 32) * g.N;
  return floats * sizeof(float) + size_t(g.N) * sizeof(int);
}

size_t relpos_attention_backward_shared_bytes(const relpos_attention_shape& s) {
  using namespace attention_detail;
  const geometry g = make_geometry(s);
  if (use_tiled(g)) return tiled_backward_shared_bytes(g);
  const size_t floats = size_t(4) * g.N * (g.D + 1) + size_t(2) * g.N * g.N + g.table_rows;
  return floats * sizeof(float) + size_t(g.N) * sizeof(int);
}

int64_t relpos_attention_backward_scratch(const relpos_attention_shape& s) {
  const int64_t span = 2 * s.P - 1;
  return s.B * (s.H / s.P) * (s.W / s.P) * span * span * s.heads;
}

cudaError_t relpos_attention_forward(const float* qkv, const float* table, float* out, const relpos_attention_shape& s,
                                     cudaStream_t stream) {
  using namespace attention_detail;
  const geometry g = make_geometry(s);
  const int64_t blocks = s.B * g.G * g.heads;
  if (blocks <= 0) return cudaSuccess;
  if (use_tiled(g)) return tiled_forward(qkv, table, out, g, blocks, stream);
  const size_t bytes = relpos_attention_forward_shared_bytes(s);
  if (cudaError_t e = allow_shared(relpos_attention_forward_kernel, bytes); e != cudaSuccess) return e;
  cage::launch(relpos_attention_forward_kernel, dim3(unsigned(blocks)), dim3(kForwardThreads), bytes, stream, qkv,
               table, out, g);
  return cudaSuccess;
}

cudaError_t relpos_attention_backward(const float* qkv, const float* table, const float* gout, float* gqkv,
                                      float* gtable, float* scratch, const relpos_attention_shape& s,
                                      cudaStream_t stream) {
  using namespace attention_detail;
  const geometry g = make_geometry(s);
  const int64_t groups = s.B * g.G, blocks = groups * g.heads;
  if ((!gqkv && !gtable) || blocks <= 0) return cudaSuccess;
  float* partial = gtable ? scratch : nullptr;
  if (use_tiled(g)) {
    if (cudaError_t e = tiled_backward(qkv, table, gout, gqkv, partial, g, blocks, stream); e != cudaSuccess) return e;
  } else {
    const size_t bytes = relpos_attention_backward_shared_bytes(s);
    if (cudaError_t e = allow_shared(relpos_attention_backward_kernel, bytes); e != cudaSuccess) return e;
    cage::launch(relpos_attention_backward_kernel, dim3(unsigned(blocks)), dim3(kBackwardThreads), bytes, stream, qkv,
                 table, gout, gqkv, partial, g);
  }
  if (gtable) {
    const int64_t entries = int64_t(g.table_rows) * g.heads;
    const unsigned reduce_blocks = unsigned((entries + kReduceThreads / 32 - 1) / (kReduceThreads / 32));
    cage::launch(relpos_attention_table_reduce_kernel, dim3(reduce_blocks), dim3(kReduceThreads), 0, stream, partial,
                 gtable, entries, groups);
  }
  return cudaSuccess;
}

}  // namespace cage::CAGE_GPU_NAMESPACE
