// CPU relative-position attention (kernels/attention.h): one task per (batch, group, head). A task gathers
// its N tokens (N = P*P, 49 for MaxViT) through the partition index map into small row-major tiles, forms
// the logits in an N x N scratch starting from the head's bias, applies the softmax and multiplies by V; the
// rows go back to their own NHWC pixels.
// The backward recomputes the probabilities instead of keeping them from the forward: kept, they would be
// B * H * W * heads * N values per layer (N / 3D, about half of qkv itself, at every attention layer), and
// the recompute is one of the backward's five N x N x D products.
// Products use one register-blocked micro-kernel. Measured against OpenBLAS called per tile (single
// thread, 49 x 49 x 32): OpenBLAS is 1.2x faster on QK^T (no padding of 49 columns to 64) and 1.1x on AV,
// but on the whole op within ~10%, inside this machine's noise. The micro-kernel stays: f32 and f64 share
// it, and OpenBLAS called from inside the pool's workers would start its own threads on larger tiles.
// A software prefetch of the next task's scattered rows was tried and made no measurable difference.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/dispatch.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace cage::kernels {

namespace {

struct Geometry {
  AttentionPartition kind;
  int64_t B, H, W, C, heads, D, P, N, G;
  int64_t tasks() const { return B * G * heads; }
};

Geometry geometry(const Tensor& qkv, const RelposAttentionParams& p) {
  Geometry g;
  g.kind = p.kind;
  g.B = qkv.size(0);
  g.H = qkv.size(1);
  g.W = qkv.size(2);
  g.C = qkv.size(3) / 3;
  g.heads = p.heads;
  g.D = g.C / g.heads;
  g.P = p.partition;
  g.N = g.P * g.P;
  g.G = (g.H / g.P) * (g.W / g.P);
  return g;
}

void check_cpu(const Tensor& t, const char* what, DType dtype) {
  CAGE_CHECK(t.device() == Device::cpu, "relpos_attention: ", what, " on ", device_name(t.device()), " (CPU kernel)");
  CAGE_CHECK(t.is_contiguous(), "relpos_attention: ", what, " must be contiguous, got strides ",
             shape_str(t.strides()));
  CAGE_CHECK(t.dtype() == dtype, "relpos_attention: ", what, " is ", dtype_name(t.dtype()), ", qkv is ",
             dtype_name(dtype));
}

// exp for the softmax, on arguments <= 0 (the row maximum is subtracted): vectorisable for float;
// double keeps libm's exp, the gradient-check precision.
inline float softmax_exp(float x) { return exp_nonpositive(x); }
inline double softmax_exp(double x) { return std::exp(x); }

// Mixed-precision training (GemmPrecision::bf16) routes float32 attention to the bf16 kernels
// (kernels/fused_bf16.h), as gemm<float> routes to gemm_bf16.
bool use_bf16(const Tensor& qkv) {
  return qkv.dtype() == DType::f32 && gemm_precision() == GemmPrecision::bf16 && bf16_gemm_supported();
}

// Row reductions in 16 independent lanes: one serial chain over 49 elements is latency-bound. Rows shorter
// than the lanes (N = 4 tokens for partition 2, the Fashion-MNIST model) take a plain loop: the same result bit
// for bit (the lanes would hold one element each, the others 0, added in lane order), without the 16-term tail
// reduction that dominated their softmax.
constexpr int kLanes = 16;

template <typename T>
inline T lane_max(int64_t n, const T* x) {
  if (n < kLanes) {
    T m = x[0];
    for (int64_t j = 1; j < n; ++j) m = std::max(m, x[j]);
    return m;
  }
  T acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = x[0];
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = std::max(acc[l], x[j + l]);
  for (int l = 0; j < n; ++j, ++l) acc[l] = std::max(acc[l], x[j]);
  T m = acc[0];
  for (int l = 1; l < kLanes; ++l) m = std::max(m, acc[l]);
  return m;
}

template <typename T>
inline T lane_dot(int64_t n, const T* x, const T* y) {
  if (n < kLanes) {
    T s = 0;
    for (int64_t j = 0; j < n; ++j) s += std::fma(x[j], y[j], T(0));  // the lane's rounding: x * y, once
    return s;
  }
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = std::fma(x[j + l], y[j + l], acc[l]);
  for (int l = 0; j < n; ++j, ++l) acc[l] = std::fma(x[j], y[j], acc[l]);
  T s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

template <typename T>
inline T lane_sum(int64_t n, const T* x) {
  if (n < kLanes) {
    T s = 0;
    for (int64_t j = 0; j < n; ++j) s += x[j];
    return s;
  }
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[j + l];
  for (int l = 0; j < n; ++j, ++l) acc[l] += x[j];
  T s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

template <typename T>
inline void softmax_row(int64_t n, T* s) {
  T m = lane_max(n, s);
  for (int64_t j = 0; j < n; ++j) s[j] = softmax_exp(s[j] - m);
  T inv = T(1) / lane_sum(n, s);
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
}

// ---- small products ----
// A block is up to 8 rows x 2 vectors of 64 bytes: 16 vector accumulators stay in registers and each
// loaded B vector serves 8 rows. Measured on the 49-token products: 8 rows run 1.3-1.8x faster than 4, and
// blocks one vector wide are not kept in registers by GCC 12 (10x slower).
template <typename T>
constexpr int64_t kBlockCols = 128 / sizeof(T);
constexpr int kBlockRows = 8;

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

template <typename T, int MR>
inline void gemm_rows(int64_t n, int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B, int64_t ldb, T* C,
                      int64_t ldc, bool accumulate) {
  constexpr int64_t NB = kBlockCols<T>;
  for (int64_t cb = 0; cb < n; cb += NB) {
    T acc[MR][NB];
    for (int r = 0; r < MR; ++r)
      for (int64_t l = 0; l < NB; ++l) acc[r][l] = accumulate ? C[r * ldc + cb + l] : T(0);
    for (int64_t p = 0; p < k; ++p) {
      const T* b = B + p * ldb + cb;
      for (int r = 0; r < MR; ++r) {
        T a = A[r * rsa + p * csa];
        for (int64_t l = 0; l < NB; ++l) acc[r][l] = std::fma(a, b[l], acc[r][l]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int64_t l = 0; l < NB; ++l) C[r * ldc + cb + l] = acc[r][l];
  }
}

// C (m, n) = A (m, k) B (k, n), plus C when accumulating. A's element (i, p) is A[i * rsa + p * csa], so a
// transposed A costs nothing; B and C are row-major and n is a multiple of kBlockCols.
template <typename T>
void small_gemm(int64_t m, int64_t n, int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B, int64_t ldb, T* C,
                int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + kBlockRows <= m; i += kBlockRows)
    gemm_rows<T, kBlockRows>(n, k, A + i * rsa, rsa, csa, B, ldb, C + i * ldc, ldc, accumulate);
  // The remaining 0..7 rows as 4 + 2 + 1.
  if ((m - i) & 4) {
    gemm_rows<T, 4>(n, k, A + i * rsa, rsa, csa, B, ldb, C + i * ldc, ldc, accumulate);
    i += 4;
  }
  if ((m - i) & 2) {
    gemm_rows<T, 2>(n, k, A + i * rsa, rsa, csa, B, ldb, C + i * ldc, ldc, accumulate);
    i += 2;
  }
  if ((m - i) & 1) gemm_rows<T, 1>(n, k, A + i * rsa, rsa, csa, B, ldb, C + i * ldc, ldc, accumulate);
}

// ---- per-task tiles ----
// Token tiles are (N, DP) and transposed ones (D, NP), DP and NP padded to whole blocks. Padding is zero
// from allocation and never written, and padded output columns are never read back.
template <typename T>
struct Tiles {
  int64_t NP, DP;
  std::vector<T> q, k, kt, v, vt, go, s, ds, o, dq, dk, dv;
  Tiles(const Geometry& g, bool backward)
      : NP(round_up(g.N, kBlockCols<T>)), DP(round_up(g.D, kBlockCols<T>)) {
    q.resize(g.N * DP), k.resize(g.N * DP), kt.resize(g.D * NP), v.resize(g.N * DP), s.resize(g.N * NP);
    o.resize(g.N * DP);
    if (backward) {
      vt.resize(g.D * NP), go.resize(g.N * DP), ds.resize(g.N * NP);
      dq.resize(g.N * DP), dk.resize(g.N * DP), dv.resize(g.N * DP);
    }
  }
};

// dst (N, DP) rows: D values at src + pix[j] * row_stride, times mul.
template <typename T>
void gather(const Geometry& g, int64_t DP, const T* src, int64_t row_stride, const int64_t* pix, T mul, T* dst) {
  for (int64_t j = 0; j < g.N; ++j) {
    const T* x = src + pix[j] * row_stride;
    for (int64_t d = 0; d < g.D; ++d) dst[j * DP + d] = x[d] * mul;
  }
}

template <typename T>
void scatter(const Geometry& g, int64_t DP, const T* rows, T mul, T* dst, int64_t row_stride, const int64_t* pix) {
  for (int64_t j = 0; j < g.N; ++j) {
    T* y = dst + pix[j] * row_stride;
    for (int64_t d = 0; d < g.D; ++d) y[d] = rows[j * DP + d] * mul;
  }
}

template <typename T>
void transpose(const Geometry& g, int64_t DP, int64_t NP, const T* rows, T* cols) {
  for (int64_t j = 0; j < g.N; ++j)
    for (int64_t d = 0; d < g.D; ++d) cols[d * NP + j] = rows[j * DP + d];
}

// One (batch, group, head): s = softmax(q k'^T + bias) in tiles.s, with k' = scale * k as torchvision
// rounds it (k is scaled, not the logits). Leaves q, k', v gathered and k'^T in the tiles.
template <typename T>
void probabilities(const Geometry& g, Tiles<T>& t, const T* img, const int64_t* pix, int64_t h, const T* bias,
                   T scale) {
  int64_t row = 3 * g.C, NP = t.NP, DP = t.DP;
  gather(g, DP, img + h * g.D, row, pix, T(1), t.q.data());
  gather(g, DP, img + g.C + h * g.D, row, pix, scale, t.k.data());
  gather(g, DP, img + 2 * g.C + h * g.D, row, pix, T(1), t.v.data());
  transpose(g, DP, NP, t.k.data(), t.kt.data());
  std::memcpy(t.s.data(), bias, sizeof(T) * g.N * NP);
  small_gemm(g.N, NP, g.D, t.q.data(), DP, 1, t.kt.data(), NP, t.s.data(), NP, true);
  for (int64_t i = 0; i < g.N; ++i) softmax_row(g.N, t.s.data() + i * NP);
}

// Pixel (y * W + x) of every token of every group: (G, N).
std::vector<int64_t> token_pixels(const Geometry& g) {
  std::vector<int64_t> pix(g.G * g.N);
  for (int64_t grp = 0; grp < g.G; ++grp)
    for (int64_t t = 0; t < g.N; ++t) pix[grp * g.N + t] = relpos_attention_pixel(g.kind, g.H, g.W, g.P, grp, t);
  return pix;
}

// Row of the bias table for the token pair (i, j): (N, N).
std::vector<int32_t> bias_index(const Geometry& g) {
  std::vector<int32_t> idx(g.N * g.N);
  int64_t span = 2 * g.P - 1;
  for (int64_t i = 0; i < g.N; ++i)
    for (int64_t j = 0; j < g.N; ++j)
      idx[i * g.N + j] = static_cast<int32_t>((i / g.P - j / g.P + g.P - 1) * span + (i % g.P - j % g.P + g.P - 1));
  return idx;
}

// Every head's bias expanded once per call, (heads, N, NP), so a task's logits start from a plain copy.
template <typename T>
std::vector<T> expand_bias(const Geometry& g, int64_t NP, const T* table, const std::vector<int32_t>& idx) {
  std::vector<T> bias(g.heads * g.N * NP, T(0));
  for (int64_t h = 0; h < g.heads; ++h)
    for (int64_t i = 0; i < g.N; ++i)
      for (int64_t j = 0; j < g.N; ++j) bias[(h * g.N + i) * NP + j] = table[idx[i * g.N + j] * g.heads + h];
  return bias;
}

// Task id -> (batch, group, head), head fastest: the heads of one group read neighbouring bytes of the
// same pixels one after another.
struct TaskIndex {
  int64_t b, grp, h;
  TaskIndex(const Geometry& g, int64_t id) : b(id / (g.G * g.heads)), grp(id / g.heads % g.G), h(id % g.heads) {}
};

template <typename T>
void forward_impl(const Tensor& qkv, const Tensor& table, const Geometry& g, T scale, const Tensor& out) {
  const T* x = qkv.data<T>();
  T* o = out.data<T>();
  const int64_t NP = round_up(g.N, kBlockCols<T>), hw = g.H * g.W;
  std::vector<int64_t> pix = token_pixels(g);
  std::vector<T> bias = expand_bias(g, NP, table.data<T>(), bias_index(g));
  parallel_for(0, g.tasks(), 1, [&](int64_t first, int64_t last) {
    Tiles<T> t(g, false);
    for (int64_t id = first; id < last; ++id) {
      TaskIndex k(g, id);
      const int64_t* p = pix.data() + k.grp * g.N;
      probabilities(g, t, x + k.b * hw * 3 * g.C, p, k.h, bias.data() + k.h * g.N * NP, scale);
      small_gemm(g.N, t.DP, g.N, t.s.data(), NP, 1, t.v.data(), t.DP, t.o.data(), t.DP, false);
      scatter(g, t.DP, t.o.data(), T(1), o + k.b * hw * g.C + k.h * g.D, g.C, p);
    }
  });
}

template <typename T>
void backward_impl(const Tensor& qkv, const Tensor& table, const Tensor& gout, const Geometry& g, T scale,
                   const Tensor& gqkv, const Tensor& gtable) {
  const T* x = qkv.data<T>();
  const T* go = gout.data<T>();
  T* gx = gqkv.defined() ? gqkv.data<T>() : nullptr;
  const int64_t N = g.N, NP = round_up(N, kBlockCols<T>), hw = g.H * g.W, C = g.C, D = g.D;
  std::vector<int64_t> pix = token_pixels(g);
  std::vector<int32_t> idx = bias_index(g);
  std::vector<T> bias = expand_bias(g, NP, table.data<T>(), idx);
  // Table gradients go to one partial table per chunk of tasks, summed in chunk order afterwards: no two
  // threads write the same entry, and the chunking (so the result) does not depend on the thread count.
  const int64_t table_size = table.numel(), chunks = std::min<int64_t>(g.tasks(), 64);
  std::vector<double> partial(gtable.defined() ? chunks * table_size : 0, 0.0);
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    Tiles<T> t(g, true);
    const int64_t DP = t.DP;
    for (int64_t c = c0; c < c1; ++c) {
      double* part = partial.empty() ? nullptr : partial.data() + c * table_size;
      const int64_t first = g.tasks() * c / chunks, last = g.tasks() * (c + 1) / chunks;
      for (int64_t id = first; id < last; ++id) {
        TaskIndex k(g, id);
        const int64_t h = k.h, *p = pix.data() + k.grp * N;
        probabilities(g, t, x + k.b * hw * 3 * C, p, h, bias.data() + h * N * NP, scale);
        gather(g, DP, go + k.b * hw * C + h * D, C, p, T(1), t.go.data());
        transpose(g, DP, NP, t.v.data(), t.vt.data());
        // dP = dO V^T, then dS = A * (dP - rowsum(dP * A)) in place
        small_gemm(N, NP, D, t.go.data(), DP, 1, t.vt.data(), NP, t.ds.data(), NP, false);
        for (int64_t i = 0; i < N; ++i) {
          const T* a = t.s.data() + i * NP;
          T* ds = t.ds.data() + i * NP;
          T r = lane_dot(N, ds, a);
          for (int64_t j = 0; j < N; ++j) ds[j] = a[j] * (ds[j] - r);
          if (part)
            for (int64_t j = 0; j < N; ++j) part[idx[i * N + j] * g.heads + h] += ds[j];
        }
        if (!gx) continue;
        // dV = A^T dO, dQ = dS k' (k' already holds the scale), dK = scale dS^T Q
        small_gemm(N, DP, N, t.s.data(), 1, NP, t.go.data(), DP, t.dv.data(), DP, false);
        small_gemm(N, DP, N, t.ds.data(), NP, 1, t.k.data(), DP, t.dq.data(), DP, false);
        small_gemm(N, DP, N, t.ds.data(), 1, NP, t.q.data(), DP, t.dk.data(), DP, false);
        T* gimg = gx + k.b * hw * 3 * C;
        scatter(g, DP, t.dq.data(), T(1), gimg + h * D, 3 * C, p);
        scatter(g, DP, t.dk.data(), scale, gimg + C + h * D, 3 * C, p);
        scatter(g, DP, t.dv.data(), T(1), gimg + 2 * C + h * D, 3 * C, p);
      }
    }
  });
  if (gtable.defined()) {
    T* gt = gtable.data<T>();
    for (int64_t e = 0; e < table_size; ++e) {
      double s = 0;
      for (int64_t c = 0; c < chunks; ++c) s += partial[c * table_size + e];
      gt[e] = static_cast<T>(s);
    }
  }
}

}  // namespace

void relpos_attention_check(const Tensor& qkv, const Tensor& table, const RelposAttentionParams& p) {
  CAGE_CHECK(qkv.defined() && table.defined(), "relpos_attention: undefined input");
  CAGE_CHECK(qkv.dim() == 4, "relpos_attention: qkv must be (B, H, W, 3C), got ", shape_str(qkv.shape()));
  CAGE_CHECK(qkv.size(3) % 3 == 0, "relpos_attention: qkv's last dimension ", qkv.size(3), " is not 3C");
  CAGE_CHECK(p.heads >= 1 && p.partition >= 1, "relpos_attention: heads ", p.heads, " and partition ", p.partition,
             " must be positive");
  int64_t C = qkv.size(3) / 3, H = qkv.size(1), W = qkv.size(2), P = p.partition;
  CAGE_CHECK(C % p.heads == 0, "relpos_attention: width C = ", C, " is not divisible by ", p.heads, " heads");
  CAGE_CHECK(H % P == 0 && W % P == 0, "relpos_attention: ",
             p.kind == AttentionPartition::window ? "window" : "grid", " partition ", P, " does not divide H x W = ",
             H, " x ", W);
  CAGE_CHECK(dtype_is_floating(qkv.dtype()), "relpos_attention: qkv is ", dtype_name(qkv.dtype()));
  CAGE_CHECK(table.dtype() == qkv.dtype(), "relpos_attention: bias table is ", dtype_name(table.dtype()),
             ", qkv is ", dtype_name(qkv.dtype()));
  Shape want{(2 * P - 1) * (2 * P - 1), p.heads};
  CAGE_CHECK(table.shape() == want, "relpos_attention: bias table must be ", shape_str(want), " for partition ", P,
             " and ", p.heads, " heads, got ", shape_str(table.shape()));
}

void relpos_attention_forward(const Tensor& qkv, const Tensor& table, const RelposAttentionParams& p,
                              const Tensor& out) {
  relpos_attention_check(qkv, table, p);
  CAGE_GPU_DISPATCH(qkv.device(), relpos_attention_forward, qkv, table, p, out);
  check_cpu(qkv, "qkv", qkv.dtype());
  check_cpu(table, "bias table", qkv.dtype());
  check_cpu(out, "out", qkv.dtype());
  Geometry g = geometry(qkv, p);
  Shape want{g.B, g.H, g.W, g.C};
  CAGE_CHECK(out.shape() == want, "relpos_attention: out must be ", shape_str(want), ", got ", shape_str(out.shape()));
  if (use_bf16(qkv))
    return relpos_attention_forward_bf16(g.B, g.H, g.W, g.C, qkv.data<float>(), table.data<float>(), p,
                                         out.data<float>());
  CAGE_DISPATCH_FLOAT(qkv.dtype(), "relpos_attention_forward", [&] {
    forward_impl<scalar_t>(qkv, table, g, static_cast<scalar_t>(p.scale), out);
  });
}

void relpos_attention_backward(const Tensor& qkv, const Tensor& table, const Tensor& gout,
                               const RelposAttentionParams& p, const Tensor& gqkv, const Tensor& gtable) {
  relpos_attention_check(qkv, table, p);
  CAGE_GPU_DISPATCH(qkv.device(), relpos_attention_backward, qkv, table, gout, p, gqkv, gtable);
  check_cpu(qkv, "qkv", qkv.dtype());
  check_cpu(table, "bias table", qkv.dtype());
  check_cpu(gout, "output gradient", qkv.dtype());
  Geometry g = geometry(qkv, p);
  Shape want{g.B, g.H, g.W, g.C};
  CAGE_CHECK(gout.shape() == want, "relpos_attention: output gradient must be ", shape_str(want), ", got ",
             shape_str(gout.shape()));
  if (gqkv.defined()) {
    check_cpu(gqkv, "qkv gradient", qkv.dtype());
    CAGE_CHECK(gqkv.shape() == qkv.shape(), "relpos_attention: qkv gradient shape ", shape_str(gqkv.shape()));
  }
  if (gtable.defined()) {
    check_cpu(gtable, "bias table gradient", qkv.dtype());
    CAGE_CHECK(gtable.shape() == table.shape(), "relpos_attention: table gradient shape ", shape_str(gtable.shape()));
  }
  if (use_bf16(qkv))
    return relpos_attention_backward_bf16(g.B, g.H, g.W, g.C, qkv.data<float>(), table.data<float>(),
                                          gout.data<float>(), p, gqkv.defined() ? gqkv.data<float>() : nullptr,
                                          gtable.defined() ? gtable.data<float>() : nullptr);
  CAGE_DISPATCH_FLOAT(qkv.dtype(), "relpos_attention_backward", [&] {
    backward_impl<scalar_t>(qkv, table, gout, g, static_cast<scalar_t>(p.scale), gqkv, gtable);
  });
}

}  // namespace cage::kernels
