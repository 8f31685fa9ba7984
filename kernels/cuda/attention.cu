// Fused relative-position window / grid attention of MaxViT, forward and backward (kernels/cuda/attention.cuh).
// One block per (batch, group, head), head fastest (the heads of a group read neighbouring bytes of the same pixels).
// The block gathers its N = P*P tokens straight from the NHWC qkv tensor through the partition map of
// kernels/attention.h (no partition copies), keeps Q, K' = scale * K and V of its head in shared memory (rows padded
// to D + 1 floats: a warp reading 32 different rows of K' then hits 32 different banks) and the head's column of the
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
// Shared memory, N = 49, D = 32: forward 21,060 bytes, backward 45,952, under the 48 KB default; larger configurations
// opt in to the device's maximum through cudaFuncSetAttribute.
// Versions: one, float32. The CPU oracle is kernels/cpu/attention.cpp.
#include <cmath>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kForwardThreads = 128;
constexpr int kBackwardThreads = 256;
constexpr int kReduceThreads = 128;
constexpr size_t kDefaultSharedLimit = 48 * 1024;

// The launch geometry in 32-bit fields (every per-image index fits; batch offsets are formed in 64 bits).
struct geometry {
  int H, W, C, heads, D, P, N, G, span, table_rows;  // span = 2P - 1, table_rows = span^2
  int grid;                                          // 0: window, 1: grid
  float scale;
};

geometry make_geometry(const relpos_attention_shape& s) {
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
// k, v, go: (N, D + 1) tiles; q: (N, qs); pix: (N).
__device__ void load_group(const geometry& g, const float* qkv, const float* table, const float* gout, int64_t b,
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
    if (go) go[t * DS + d] = gout[(b * hw + pix[t]) * g.C + int64_t(h) * g.D + d];
  }
  __syncthreads();
}

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

// The forward for head width 32 and N <= 32 * kCols tokens (MaxViT: N = 49, kCols = 2). The generic kernel
// reads two shared-memory operands per FMA (bound by shared-memory bandwidth at about 1/8 of the FMA rate); here
// lane j keeps its key rows k'_j and lane d its value column V_:d in registers, and the broadcast query row and
// probability row are read four floats per load, so shared loads fall to 1/8 (logits) and 1/4 (AV) per FMA.
// Same summation order as the generic kernel and the CPU oracle.
constexpr int kTiledD = 32;

__host__ __device__ inline int tiled_row_floats(const geometry& g) { return (g.N + 3) / 4 * 4; }  // N in float4s

template <int kCols>
__global__ void __launch_bounds__(kForwardThreads)
    relpos_attention_forward_tiled_kernel(const float* qkv, const float* table, float* out, geometry g) {
  CAGE_DYNAMIC_SHARED(float, smem);
  constexpr int kD = kTiledD, kJ = 32 * kCols;
  const int DS = kD + 1, N = g.N, NR = tiled_row_floats(g), warps = blockDim.x / 32, warp = threadIdx.x / 32,
            lane = threadIdx.x % 32;
  float* q = smem;                     // (N, 32): rows 16-byte aligned for float4 broadcasts
  float* rows = q + N * kD;            // (warps, NR): one probability row per warp, zero-padded to NR
  float* k = rows + warps * NR;        // (N, 33), scaled
  float* v = k + N * DS;               // (N, 33)
  float* bias = v + N * DS;            // ((2P-1)^2)
  int* pix = reinterpret_cast<int*>(bias + g.table_rows);  // (N)
  const int h = blockIdx.x % g.heads, grp = (blockIdx.x / g.heads) % g.G;
  const int64_t b = blockIdx.x / g.heads / g.G;
  load_group(g, qkv, table, nullptr, b, grp, h, pix, q, kD, k, v, nullptr, bias);

  float kr[kCols][kD];  // k'_j, j = lane + 32 c (zero past N)
  float vr[kJ];         // V_jd, d = lane (zero past N)
#pragma unroll
  for (int c = 0; c < kCols; ++c) {
    const int j = lane + 32 * c;
#pragma unroll
    for (int d = 0; d < kD; ++d) kr[c][d] = j < N ? k[j * DS + d] : 0.0f;
  }
#pragma unroll
  for (int j = 0; j < kJ; ++j) vr[j] = j < N ? v[j * DS + lane] : 0.0f;

  float* a = rows + warp * NR;
  float* o = out + b * int64_t(g.H) * g.W * g.C + int64_t(h) * kD + lane;
  for (int i = warp; i < N; i += warps) {
    const int yi = i / g.P, xi = i % g.P;
    float s[kCols];
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int j = lane + 32 * c;
      s[c] = j < N ? bias[bias_row(g, yi, xi, j)] : 0.0f;
    }
    const float4* qi = reinterpret_cast<const float4*>(q + i * kD);
#pragma unroll
    for (int d4 = 0; d4 < kD / 4; ++d4) {
      const float4 x = qi[d4];
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        s[c] = fmaf(x.x, kr[c][4 * d4], s[c]);
        s[c] = fmaf(x.y, kr[c][4 * d4 + 1], s[c]);
        s[c] = fmaf(x.z, kr[c][4 * d4 + 2], s[c]);
        s[c] = fmaf(x.w, kr[c][4 * d4 + 3], s[c]);
      }
    }
    float m = -INFINITY;
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      if (lane + 32 * c < N) m = fmaxf(m, s[c]);
    m = warp_max(m);
    float sum = 0.0f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      s[c] = lane + 32 * c < N ? expf(s[c] - m) : 0.0f;
      sum += s[c];
    }
    const float inv = 1.0f / warp_sum(sum);
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      if (lane + 32 * c < NR) a[lane + 32 * c] = s[c] * inv;  // zeros past N: the float4 reads below cover NR
    __syncwarp();
    const float4* a4 = reinterpret_cast<const float4*>(a);
    float acc = 0.0f;
#pragma unroll
    for (int j4 = 0; j4 < kJ / 4; ++j4) {
      if (4 * j4 >= N) break;
      const float4 x = a4[j4];
      acc = fmaf(x.x, vr[4 * j4], acc);
      acc = fmaf(x.y, vr[4 * j4 + 1], acc);
      acc = fmaf(x.z, vr[4 * j4 + 2], acc);
      acc = fmaf(x.w, vr[4 * j4 + 3], acc);
    }
    o[int64_t(pix[i]) * g.C] = acc;
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

  if (partial) {
    // Table row r = (dy + P - 1) * span + (dx + P - 1) collects dS_ij over the pairs with yi - yj = dy, xi - xj = dx.
    float* part = partial + bg * int64_t(g.table_rows) * g.heads + h;  // (table_rows, heads) of this (b, group)
    for (int r = threadIdx.x; r < g.table_rows; r += blockDim.x) {
      const int dy = r / g.span - (g.P - 1), dx = r % g.span - (g.P - 1);
      const int y0 = dy > 0 ? dy : 0, y1 = dy < 0 ? g.P + dy : g.P;
      const int x0 = dx > 0 ? dx : 0, x1 = dx < 0 ? g.P + dx : g.P;
      float sum = 0.0f;
      for (int yi = y0; yi < y1; ++yi)
        for (int xi = x0; xi < x1; ++xi) sum += ds[(yi * g.P + xi) * N + (yi - dy) * g.P + (xi - dx)];
      part[int64_t(r) * g.heads] = sum;
    }
  }
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

// Opts the kernel in to `bytes` of dynamic shared memory when that is above the default limit.
template <typename Kernel>
cudaError_t allow_shared(Kernel kernel, size_t bytes) {
  if (bytes <= kDefaultSharedLimit) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

}  // namespace

// The tiled forward applies: head width 32, at most 64 tokens.
bool forward_tiled(const geometry& g) { return g.D == kTiledD && g.N <= 64; }

size_t relpos_attention_forward_shared_bytes(const relpos_attention_shape& s) {
  const geometry g = make_geometry(s);
  if (forward_tiled(g)) {
    const size_t floats = size_t(g.N) * kTiledD + size_t(kForwardThreads / 32) * tiled_row_floats(g) +
                          size_t(2) * g.N * (kTiledD + 1) + g.table_rows;
    return floats * sizeof(float) + size_t(g.N) * sizeof(int);
  }
  const size_t floats = size_t(3) * g.N * (g.D + 1) + g.table_rows + size_t(kForwardThreads / 32) * g.N;
  return floats * sizeof(float) + size_t(g.N) * sizeof(int);
}

size_t relpos_attention_backward_shared_bytes(const relpos_attention_shape& s) {
  const geometry g = make_geometry(s);
  const size_t floats = size_t(4) * g.N * (g.D + 1) + size_t(2) * g.N * g.N + g.table_rows;
  return floats * sizeof(float) + size_t(g.N) * sizeof(int);
}

int64_t relpos_attention_backward_scratch(const relpos_attention_shape& s) {
  const int64_t span = 2 * s.P - 1;
  return s.B * (s.H / s.P) * (s.W / s.P) * span * span * s.heads;
}

cudaError_t relpos_attention_forward(const float* qkv, const float* table, float* out, const relpos_attention_shape& s,
                                     cudaStream_t stream) {
  const geometry g = make_geometry(s);
  const int64_t blocks = s.B * g.G * g.heads;
  if (blocks <= 0) return cudaSuccess;
  const size_t bytes = relpos_attention_forward_shared_bytes(s);
  auto kernel = !forward_tiled(g) ? relpos_attention_forward_kernel
                : g.N <= 32      ? relpos_attention_forward_tiled_kernel<1>
                                 : relpos_attention_forward_tiled_kernel<2>;
  if (cudaError_t e = allow_shared(kernel, bytes); e != cudaSuccess) return e;
  cage::launch(kernel, dim3(unsigned(blocks)), dim3(kForwardThreads), bytes, stream, qkv, table, out, g);
  return cudaSuccess;
}

cudaError_t relpos_attention_backward(const float* qkv, const float* table, const float* gout, float* gqkv,
                                      float* gtable, float* scratch, const relpos_attention_shape& s,
                                      cudaStream_t stream) {
  const geometry g = make_geometry(s);
  const int64_t groups = s.B * g.G, blocks = groups * g.heads;
  if ((!gqkv && !gtable) || blocks <= 0) return cudaSuccess;
  const size_t bytes = relpos_attention_backward_shared_bytes(s);
  if (cudaError_t e = allow_shared(relpos_attention_backward_kernel, bytes); e != cudaSuccess) return e;
  float* partial = gtable ? scratch : nullptr;
  cage::launch(relpos_attention_backward_kernel, dim3(unsigned(blocks)), dim3(kBackwardThreads), bytes, stream, qkv,
               table, gout, gqkv, partial, g);
  if (gtable) {
    const int64_t entries = int64_t(g.table_rows) * g.heads;
    const unsigned reduce_blocks = unsigned((entries + kReduceThreads / 32 - 1) / (kReduceThreads / 32));
    cage::launch(relpos_attention_table_reduce_kernel, dim3(reduce_blocks), dim3(kReduceThreads), 0, stream, partial,
                 gtable, entries, groups);
  }
  return cudaSuccess;
}

}  // namespace cage::CAGE_GPU_NAMESPACE
