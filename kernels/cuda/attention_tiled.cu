// Register-tiled attention kernels for head width 32 (MaxViT's), forward and backward; the same computation and
// summation order as the generic kernels of kernels/cuda/attention.cu (which describes the algorithm), with the
// operands a lane reuses held in registers. The generic kernels read two shared-memory operands per FMA, which bounds
// them by shared-memory bandwidth at about 1/8 of the FMA rate; here most products read one float4 broadcast per four
// FMAs. Templated on kCols, the key columns per lane (N <= 32 kCols): 1 for P <= 5, 2 for P = 6..8.
#include "kernels/cuda/attention_common.cuh"

namespace cage::CAGE_GPU_NAMESPACE::attention_detail {
namespace {

// The softmax of one row spread over a warp: s[c] holds the logit of token lane + 32 c (those past N are ignored).
// On return s[c] = exp(s[c] - row max), 0 past N; returns 1 / the row's sum. All 32 lanes must call.
template <int kCols>
__device__ __forceinline__ float exp_row(float (&s)[kCols], int lane, int N) {
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
  return 1.0f / warp_sum(sum);
}

// acc + x.x k[0] + x.y k[1] + x.z k[2] + x.w k[3], one fused multiply-add at a time in that order.
__device__ __forceinline__ float fma4(float4 x, const float* k, float acc) {
  acc = fmaf(x.x, k[0], acc);
  acc = fmaf(x.y, k[1], acc);
  acc = fmaf(x.z, k[2], acc);
  return fmaf(x.w, k[3], acc);
}

// sum_i row_i col_i over i < N in order, row a 16-byte-aligned shared row zero-padded to a multiple of 4 and col
// held in registers (zero past N): one float4 broadcast per four FMAs.
template <int kJ>
__device__ __forceinline__ float dot_row4(const float* row, const float (&col)[kJ], int N) {
  const float4* r4 = reinterpret_cast<const float4*>(row);
  float acc = 0.0f;
#pragma unroll
  for (int i4 = 0; i4 < kJ / 4; ++i4) {
    if (4 * i4 >= N) break;
    const float4 x = r4[i4];
    acc = fma4(x, col + 4 * i4, acc);
  }
  return acc;
}

// Forward: lane j keeps its key rows k'_j and lane d its value column V_:d in registers; the broadcast query row and
// probability row are read four floats per load, so shared loads fall to 1/8 (logits, kCols = 2) and 1/4 (AV) per
// FMA. 163-168 registers for kCols = 2 (three 128-thread blocks per SM by registers), no spills.
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
        s[c] = fma4(x, kr[c] + 4 * d4, s[c]);
      }
    }
    const float inv = exp_row(s, lane, N);
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      if (lane + 32 * c < NR) a[lane + 32 * c] = s[c] * inv;  // zeros past N: the float4 reads below cover NR
    __syncwarp();
    o[int64_t(pix[i]) * g.C] = dot_row4(a, vr, N);
    __syncwarp();  // the row buffer is rewritten by the next row
  }
}

// The backward for head width 32 and N <= 32 * kCols tokens, 128 threads (its registers limit the block).
// Phase 1, a warp per row i: lane j keeps k'_j and V_j in registers and forms S_ij and dP_ij from float4 broadcasts of
// q_i and dO_i, then A_ij and dS_ij, stored transposed (A^T, dS^T: (N, NR), zero-padded columns) so that phase 2
// reads their rows as float4 broadcasts. Phase 2, a warp per token j, lane d keeps one column in registers at a time:
// dV_jd = sum_i A^T_ji dO_id, dK_jd = scale sum_i dS^T_ji Q_id (float4 rows), dQ_jd = sum_i dS^T_ij K'_id (scalar).
// Shared memory for N = 49: 46,736 bytes.
template <int kCols>
__global__ void __launch_bounds__(kTiledBackwardThreads)
    relpos_attention_backward_tiled_kernel(const float* qkv, const float* table, const float* gout, float* gqkv,
                                           float* partial, geometry g) {
  CAGE_DYNAMIC_SHARED(float, smem);
  constexpr int kD = kTiledD, kJ = 32 * kCols;
  const int DS = kD + 1, N = g.N, NR = tiled_row_floats(g), warps = blockDim.x / 32, warp = threadIdx.x / 32,
            lane = threadIdx.x % 32;
  float* q = smem;               // (N, 32)
  float* go = q + N * kD;        // (N, 32): dO
  float* at = go + N * kD;       // (N, NR): A^T
  float* dst = at + N * NR;      // (N, NR): dS^T
  float* k = dst + N * NR;       // (N, 33), scaled
  float* v = k + N * DS;         // (N, 33)
  float* bias = v + N * DS;      // ((2P-1)^2)
  int* pix = reinterpret_cast<int*>(bias + g.table_rows);  // (N)
  const int h = blockIdx.x % g.heads, grp = (blockIdx.x / g.heads) % g.G;
  const int64_t bg = blockIdx.x / g.heads, b = bg / g.G;
  for (int e = threadIdx.x; e < N * (NR - N); e += blockDim.x) {  // the padding columns, read as zeros in phase 2
    const int j = e / (NR - N), i = N + e % (NR - N);
    at[j * NR + i] = 0.0f;
    dst[j * NR + i] = 0.0f;
  }
  load_group(g, qkv, table, gout, b, grp, h, pix, q, kD, k, v, go, bias);

  {
    float kr[kCols][kD], vr[kCols][kD];  // k'_j, V_j for j = lane + 32 c (zero past N)
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int j = lane + 32 * c;
#pragma unroll
      for (int d = 0; d < kD; ++d) {
        kr[c][d] = j < N ? k[j * DS + d] : 0.0f;
        vr[c][d] = j < N ? v[j * DS + d] : 0.0f;
      }
    }
    for (int i = warp; i < N; i += warps) {
      const int yi = i / g.P, xi = i % g.P;
      float s[kCols], dp[kCols];
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const int j = lane + 32 * c;
        s[c] = j < N ? bias[bias_row(g, yi, xi, j)] : 0.0f;
        dp[c] = 0.0f;
      }
      const float4* qi = reinterpret_cast<const float4*>(q + i * kD);
      const float4* goi = reinterpret_cast<const float4*>(go + i * kD);
#pragma unroll
      for (int d4 = 0; d4 < kD / 4; ++d4) {
        const float4 x = qi[d4], y = goi[d4];
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          s[c] = fma4(x, kr[c] + 4 * d4, s[c]);
          dp[c] = fma4(y, vr[c] + 4 * d4, dp[c]);
        }
      }
      const float inv = exp_row(s, lane, N);
      float r = 0.0f;
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        s[c] *= inv;  // A_ij
        r = fmaf(dp[c], s[c], r);
      }
      r = warp_sum(r);
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const int j = lane + 32 * c;
        if (j < N) {
          at[j * NR + i] = s[c];
          dst[j * NR + i] = s[c] * (dp[c] - r);
        }
      }
    }
  }
  __syncthreads();

  if (gqkv) {
    const int64_t row = 3 * int64_t(g.C);
    float* gimg = gqkv + b * int64_t(g.H) * g.W * row + int64_t(h) * kD + lane;
    float col[kJ];  // one column of dO, Q or K' (zero past N)
    // dV = A^T dO
#pragma unroll
    for (int i = 0; i < kJ; ++i) col[i] = i < N ? go[i * kD + lane] : 0.0f;
    for (int j = warp; j < N; j += warps) gimg[pix[j] * row + 2 * g.C] = dot_row4(at + j * NR, col, N);
    // dK = scale dS^T Q
#pragma unroll
    for (int i = 0; i < kJ; ++i) col[i] = i < N ? q[i * kD + lane] : 0.0f;
    for (int j = warp; j < N; j += warps) gimg[pix[j] * row + g.C] = dot_row4(dst + j * NR, col, N) * g.scale;
    // dQ = dS K' (K' holds the scale already); dS_ji = dS^T_ij, a column of the stored tile
#pragma unroll
    for (int i = 0; i < kJ; ++i) col[i] = i < N ? k[i * DS + lane] : 0.0f;
    for (int j = warp; j < N; j += warps) {
      float acc = 0.0f;
#pragma unroll
      for (int i = 0; i < kJ; ++i) {
        if (i >= N) break;
        acc = fmaf(dst[i * NR + j], col[i], acc);
      }
      gimg[pix[j] * row] = acc;
    }
  }

  if (partial) table_partial(g, dst, 1, NR, partial, bg, h);
}

}  // namespace

size_t tiled_forward_shared_bytes(const geometry& g) {
  const size_t floats = size_t(g.N) * kTiledD + size_t(kForwardThreads / 32) * tiled_row_floats(g) +
                        size_t(2) * g.N * (kTiledD + 1) + g.table_rows;
  return floats * sizeof(float) + size_t(g.N) * sizeof(int);
}

size_t tiled_backward_shared_bytes(const geometry& g) {
  const size_t floats = size_t(2) * g.N * kTiledD + size_t(2) * g.N * tiled_row_floats(g) +
                        size_t(2) * g.N * (kTiledD + 1) + g.table_rows;
  return floats * sizeof(float) + size_t(g.N) * sizeof(int);
}

cudaError_t tiled_forward(const float* qkv, const float* table, float* out, const geometry& g, int64_t blocks,
                          cudaStream_t stream) {
  const size_t bytes = tiled_forward_shared_bytes(g);
  auto kernel = g.N <= 32 ? relpos_attention_forward_tiled_kernel<1> : relpos_attention_forward_tiled_kernel<2>;
  if (cudaError_t e = allow_shared(kernel, bytes); e != cudaSuccess) return e;
  cage::launch(kernel, dim3(unsigned(blocks)), dim3(kForwardThreads), bytes, stream, qkv, table, out, g);
  return cudaSuccess;
}

cudaError_t tiled_backward(const float* qkv, const float* table, const float* gout, float* gqkv, float* partial,
                           const geometry& g, int64_t blocks, cudaStream_t stream) {
  const size_t bytes = tiled_backward_shared_bytes(g);
  auto kernel = g.N <= 32 ? relpos_attention_backward_tiled_kernel<1> : relpos_attention_backward_tiled_kernel<2>;
  if (cudaError_t e = allow_shared(kernel, bytes); e != cudaSuccess) return e;
  cage::launch(kernel, dim3(unsigned(blocks)), dim3(kTiledBackwardThreads), bytes, stream, qkv, table, gout, gqkv,
               partial, g);
  return cudaSuccess;
}

}  // namespace cage::CAGE_GPU_NAMESPACE::attention_detail
