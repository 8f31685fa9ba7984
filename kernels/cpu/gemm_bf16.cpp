// bfloat16 GEMM with fused epilogue on AVX-512 BF16 (see kernels/gemm_bf16.h).
// Blocking: the output is cut into tiles of up to kMC rows x a run of 16-column panels, one tile per task of
// the thread pool. A task rounds its rows of A to bf16 once (whole K, row-major, K padded to even, so a pair
// (k even, k odd) is one 32-bit broadcast), then walks K in blocks of kKC so the B panels being reused
// (kKC x 32 bf16 = 16 KiB) stay in L1, and runs a register-blocked micro kernel of kMR rows x 32 columns:
// 2 x kMR zmm accumulators in fp32, each step one vdpbf16ps (32 multiply-adds per register) per accumulator.
// The epilogue (bias, GELU, residual) runs on the accumulators of the last K block, before the one store.
// Training (gemm_bf16, serial; kernels::gemm<float> splits it over threads): per block of kKC k, op(B) is packed
// once, then op(A) per tile of kMC rows; on large operands a second instantiation of the micro kernel prefetches
// the fp32 operands of the next block while it computes (PfCursor).
#include "kernels/gemm_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "kernels/cpu/bf16_math.h"

// GCC 12 reports the deliberately undefined pass-through operand of the unmasked AVX-512 intrinsics
// (_mm512_undefined_ps inside _mm512_max_ps, _mm512_mul_ps, ...) as maybe-uninitialized once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define CAGE_BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))

namespace cage::kernels {

namespace {

constexpr int kMR = 8;         // rows per micro tile (2 x kMR accumulators + 2 B registers + 1 broadcast)
constexpr int64_t kKC = 384;   // k per block: a 32-column B block of kKC rows is 24 KiB of bf16
constexpr int64_t kMC = 64;    // rows per task

// Rows [0, rows) of A (times k_scale[k] when given, rounded in fp32 first) to bf16, row stride Kp; columns
// K..Kp-1 become 0. Rounding is the hardware's (vcvtne2ps2bf16: nearest even; denormals flush to zero, as
// vdpbf16ps would treat them anyway).
CAGE_BF16_TARGET void convert_rows(int64_t rows, int64_t K, int64_t Kp, const float* A, int64_t lda,
                                   const float* k_scale, uint16_t* out) {
  if (k_scale) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* a = A + r * lda;
      uint16_t* o = out + r * Kp;
      for (int64_t k = 0; k < K; k += 32) {
        const int64_t n = std::min<int64_t>(32, K - k), m = std::min<int64_t>(32, Kp - k);
        const __mmask16 lo = static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
        const __mmask16 hi = static_cast<__mmask16>(n <= 16 ? 0 : n >= 32 ? 0xffff : (1u << (n - 16)) - 1);
        const __m512 x0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(lo, a + k), _mm512_maskz_loadu_ps(lo, k_scale + k));
        const __m512 x1 =
            _mm512_mul_ps(_mm512_maskz_loadu_ps(hi, a + k + 16), _mm512_maskz_loadu_ps(hi, k_scale + k + 16));
        const __mmask32 w = m >= 32 ? 0xffffffffu : (1u << m) - 1;
        _mm512_mask_storeu_epi16(o + k, w, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
      }
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = A + r * lda;
    uint16_t* o = out + r * Kp;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(a + k));
      _mm512_storeu_si512(o + k, (__m512i)v);
    }
    if (k < Kp) {
      const int64_t n = K - k, m = Kp - k;  // n < 32 valid values, m <= 32 written (the pad is a zero)
      const __mmask16 lo = static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
      const __mmask16 hi = static_cast<__mmask16>(n <= 16 ? 0 : (1u << (n - 16)) - 1);
      __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, a + k + 16), _mm512_maskz_loadu_ps(lo, a + k));
      const __mmask32 w = m >= 32 ? 0xffffffffu : (1u << m) - 1;
      _mm512_mask_storeu_epi16(o + k, w, (__m512i)v);
    }
  }
}

// GELU in the bf16 path: the piecewise cubic of kernels/cpu/bf16_math.h (max |error| 3.2e-6, far below the
// bf16 rounding of the GEMM's inputs), so the epilogue costs a fraction of the products even at K = 64.
CAGE_BF16_TARGET inline __m512 gelu_v(__m512 x) { return gelu_bf16_v(x); }

// The epilogue, applied by the micro kernel to its accumulators after the last K block. bias and residual
// point at the tile's first column (null when absent).
struct Epilogue {
  bool on = false;
  const float* bias = nullptr;
  bool gelu = false;
  const float* residual = nullptr;
  int64_t ldr = 0;
};

// A's rows as the micro kernel reads them: the pair (k = 2p, 2p + 1) of row i is the 32 bits at
// base + i * row + p * pair (in bf16 elements). Row-major rounded rows: row = row stride, pair = 2; panels of
// 16 rows packed like B: row = 2, pair = 32.
struct ALayout {
  int64_t row, pair;
};

// The epilogue on all accumulators of a micro tile, then the store to C: acc = alpha * acc + beta * c (beta = 0:
// c is not read), then ep. Every acc element is named by a constant index (folds over t = i * NV + j) and each
// step is one branch-free block, so acc stays in registers.
template <int MR, int NV, int... T>
CAGE_BF16_TARGET inline __attribute__((always_inline)) void finish_all(__m512 (&acc)[MR][NV],
                                                                      std::integer_sequence<int, T...>, float* c,
                                                                      int64_t ldc, const __mmask16* mask, float alpha,
                                                                      float beta, const Epilogue& ep) {
#define CAGE_ACC acc[T / NV][T % NV]
#define CAGE_LOAD(base, ld) _mm512_maskz_loadu_ps(mask[T % NV], (base) + (T / NV) * (ld) + 16 * (T % NV))
  if (alpha != 1.0f) ((CAGE_ACC = _mm512_mul_ps(CAGE_ACC, _mm512_set1_ps(alpha))), ...);
  if (beta == 1.0f)
    ((CAGE_ACC = _mm512_add_ps(CAGE_ACC, CAGE_LOAD(c, ldc))), ...);
  else if (beta != 0.0f)
    ((CAGE_ACC = _mm512_fmadd_ps(CAGE_LOAD(c, ldc), _mm512_set1_ps(beta), CAGE_ACC)), ...);
  if (ep.on) {
    if (ep.bias) ((CAGE_ACC = _mm512_add_ps(CAGE_ACC, CAGE_LOAD(ep.bias, 0))), ...);
    if (ep.gelu) ((CAGE_ACC = gelu_v(CAGE_ACC)), ...);
    if (ep.residual) ((CAGE_ACC = _mm512_add_ps(CAGE_ACC, CAGE_LOAD(ep.residual, ep.ldr))), ...);
  }
  (_mm512_mask_storeu_ps(c + (T / NV) * ldc + 16 * (T % NV), mask[T % NV], CAGE_ACC), ...);
#undef CAGE_LOAD
#undef CAGE_ACC
}

// Software prefetch of the fp32 operands the training GEMM will pack next, issued from inside the micro kernel
// (a few lines per k step) so that reading them from memory overlaps the products instead of following them:
// packing a block that streams from memory ran at memory speed with the vector units idle (up to ~45% of a
// weight gradient's time). Up to three regions of rows (start, bytes between rows, rows, cache lines per row);
// a burst of prefetches before each call instead would fill the load queue and stall the products.
struct PfCursor {
  struct Region {
    const char* p = nullptr;
    int64_t ld = 0, rows = 0, lpr = 0;
  };
  Region r[3];
  int n = 0, cur = 0;
  int64_t col = 0;
  int per_step = 1;  // lines per k step
  void add(const float* base, int64_t ld_floats, int64_t rows, int64_t row_floats) {
    if (rows <= 0 || row_floats <= 0) return;
    const char* b = reinterpret_cast<const char*>(base);
    const bool aligned = reinterpret_cast<uintptr_t>(b) % 64 == 0 && (ld_floats * 4) % 64 == 0;
    r[n++] = {b, ld_floats * 4, rows, (row_floats * 4 + 63) / 64 + (aligned ? 0 : 1)};
  }
  int64_t lines() const {
    int64_t l = 0;
    for (int i = 0; i < n; ++i) l += r[i].rows * r[i].lpr;
    return l;
  }
  inline __attribute__((always_inline)) void issue() {
    if (cur >= n) return;
    Region& g = r[cur];
    _mm_prefetch(g.p + 64 * col, _MM_HINT_T1);
    if (++col == g.lpr) {
      col = 0;
      g.p += g.ld;
      if (--g.rows == 0) ++cur;
    }
  }
};

// c (MR rows, 16 * NV columns of which ncols are stored, row stride ldc) = alpha * a x [b0 b1] + beta * c over
// kpairs pairs of k (beta = 0: c is not read), a (MR rows, layout al) and the B panels b0, b1; then the
// epilogue ep if ep.on. PF: per k step, pf->per_step prefetches from pf.
template <int MR, int NV, bool PF>
CAGE_BF16_TARGET void micro(int64_t kpairs, const uint16_t* a, ALayout al, const uint16_t* b0, const uint16_t* b1,
                            float* c, int64_t ldc, float alpha, float beta, int64_t ncols, const Epilogue& ep,
                            PfCursor* pf) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  [[maybe_unused]] PfCursor cur;  // a local copy: the compiler need not assume c's stores touch it
  if constexpr (PF) cur = *pf;
  for (int64_t p = 0; p < kpairs; ++p) {
    if constexpr (PF)
      for (int q = 0; q < cur.per_step; ++q) cur.issue();
    __m512bh bv[NV];
    bv[0] = (__m512bh)_mm512_load_si512(b0 + p * 32);
    if constexpr (NV > 1) bv[1] = (__m512bh)_mm512_load_si512(b1 + p * 32);
    for (int i = 0; i < MR; ++i) {
      int32_t pair;
      std::memcpy(&pair, a + i * al.row + p * al.pair, 4);
      const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
  __mmask16 mask[NV];
  for (int j = 0; j < NV; ++j) {
    const int64_t n = std::clamp<int64_t>(ncols - 16 * j, 0, 16);
    mask[j] = static_cast<__mmask16>(n == 16 ? 0xffff : (1u << n) - 1);
  }
  // As a loop over (i, j) with the epilogue's branches inside, GCC kept acc in a stack array (zeroed on entry,
  // stored after the K loop, reloaded here): ~1/4 of the products' time at K = 64.
  if constexpr (PF) *pf = cur;
  finish_all<MR, NV>(acc, std::make_integer_sequence<int, MR * NV>{}, c, ldc, mask, alpha, beta, ep);
}

using MicroFn = void (*)(int64_t, const uint16_t*, ALayout, const uint16_t*, const uint16_t*, float*, int64_t, float,
                         float, int64_t, const Epilogue&, PfCursor*);

template <bool PF, int... I>
constexpr std::array<std::array<MicroFn, 2>, kMR> micro_table(std::integer_sequence<int, I...>) {
  return {{{micro<I + 1, 1, PF>, micro<I + 1, 2, PF>}...}};
}
constexpr auto kMicro = micro_table<false>(std::make_integer_sequence<int, kMR>{});
constexpr auto kMicroPf = micro_table<true>(std::make_integer_sequence<int, kMR>{});

// One output tile: rows [r0, r0 + rows), panels [p0, p0 + np). abuf holds the tile's rows of A in bf16.
void tile(int64_t r0, int64_t rows, int64_t p0, int64_t np, const float* A, int64_t lda, const float* k_scale,
          const PackedBf16& B, const float* bias, Act act, const float* residual, int64_t ldr, float* C, int64_t ldc,
          std::vector<uint16_t>& abuf) {
  const int64_t Kp = B.Kp, N = B.N;
  abuf.resize(rows * Kp + 32);
  convert_rows(rows, B.K, Kp, A + r0 * lda, lda, k_scale, abuf.data());
  for (int64_t kb = 0; kb < Kp; kb += kKC) {
    const int64_t kpairs = std::min(kKC, Kp - kb) / 2;
    for (int64_t jp = p0; jp < p0 + np; jp += 2) {
      const int nv = std::min<int64_t>(2, p0 + np - jp);
      const int64_t ncols = std::min<int64_t>(16 * nv, N - 16 * jp);
      const uint16_t* b0 = B.data() + jp * Kp * 16 + kb * 16;
      const uint16_t* b1 = b0 + Kp * 16;
      const bool last = kb + kKC >= Kp;
      for (int64_t i = 0; i < rows; i += kMR) {
        const int mr = static_cast<int>(std::min<int64_t>(kMR, rows - i));
        Epilogue ep;
        if (last) {
          ep.on = true;
          ep.bias = bias ? bias + 16 * jp : nullptr;
          ep.gelu = act == Act::gelu;
          ep.residual = residual ? residual + (r0 + i) * ldr + 16 * jp : nullptr;
          ep.ldr = ldr;
        }
        kMicro[mr - 1][nv - 1](kpairs, abuf.data() + i * Kp + kb, ALayout{Kp, 2}, b0, b1,
                               C + (r0 + i) * ldc + 16 * jp, ldc, 1.0f, kb > 0 ? 1.0f : 0.0f, ncols, ep, nullptr);
      }
    }
  }
}

// Growable scratch whose data() is 64-byte aligned (the micro kernel loads B panels with aligned loads).
struct AlignedBuf {
  std::vector<uint16_t> v;
  uint16_t* get(int64_t n) {
    if (static_cast<int64_t>(v.size()) < n + 32) v.resize(n + 32);
    return v.data() + (64 - reinterpret_cast<uintptr_t>(v.data()) % 64) % 64 / 2;
  }
};

// In-register transpose of a 16 x 16 matrix of 32-bit elements (r[j] element i becomes r[i] element j).
CAGE_BF16_TARGET inline void transpose16(__m512i (&r)[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {  // 2 x 2 blocks of 32-bit elements
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // 4 x 4 blocks
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {  // 128-bit lanes: 8 x 8, then 16 x 16
    t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

// Rows [0, kc) of a k-major matrix (row k at src + k * ld, columns [0, cols) contiguous) to panels of 16 columns
// of bf16 pairs: panel q at dst + q * kcp * 16, pair p at + 32 p, column c at + 2 c (+ 1 for the odd k); zeros
// past kc and cols. Two rows at a time: round both (vcvtne2ps2bf16), then interleave their 16-bit halves.
CAGE_BF16_TARGET void pack_kmajor(const float* src, int64_t ld, int64_t kc, int64_t kcp, int64_t cols,
                                  uint16_t* dst) {
  alignas(64) static constexpr uint16_t kInterleave[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                           21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                           11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(kInterleave);
  const int64_t panels = (cols + 15) / 16;
  for (int64_t p = 0; p < kcp / 2; ++p) {
    const float* r0 = src + 2 * p * ld;
    const bool odd = 2 * p + 1 < kc;
    for (int64_t q = 0; q < panels; ++q) {
      const int64_t n = std::min<int64_t>(16, cols - 16 * q);
      const __mmask16 m = static_cast<__mmask16>(n == 16 ? 0xffff : (1u << n) - 1);
      const __m512 x0 = _mm512_maskz_loadu_ps(m, r0 + 16 * q);
      const __m512 x1 = odd ? _mm512_maskz_loadu_ps(m, r0 + ld + 16 * q) : _mm512_setzero_ps();
      const __m512i v = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
      _mm512_store_si512(dst + q * kcp * 16 + p * 32, v);
    }
  }
}

// The same panels from a k-contiguous matrix (column n of the operand is src + n * ld, k contiguous). Per 16
// columns and 32 k: each column's 32 values rounded to 16 bf16 pairs (one register per column), then a 16 x 16
// transpose of those 32-bit pairs gives the panel's 16 pair rows, stored whole. (It stored each 32-bit pair
// separately before: ~20% of the stage-4 nn::Linear GEMMs, M = 392, went to packing B.)
CAGE_BF16_TARGET void pack_kcontig(const float* src, int64_t ld, int64_t kc, int64_t kcp, int64_t cols,
                                   uint16_t* dst) {
  const int64_t panels = (cols + 15) / 16;
  for (int64_t q = 0; q < panels; ++q) {
    const int64_t nc = std::min<int64_t>(16, cols - 16 * q);
    uint16_t* out = dst + q * kcp * 16;
    for (int64_t k = 0; k < kcp; k += 32) {
      const int64_t c = std::min<int64_t>(32, kc - k);  // valid k (kcp - k may hold one more: the zero pad)
      const __mmask16 lo = static_cast<__mmask16>(c >= 16 ? 0xffff : c <= 0 ? 0 : (1u << c) - 1);
      const __mmask16 hi = static_cast<__mmask16>(c <= 16 ? 0 : c >= 32 ? 0xffff : (1u << (c - 16)) - 1);
      __m512i r[16];
      for (int j = 0; j < 16; ++j) {
        if (j < nc) {
          const float* row = src + (16 * q + j) * ld + k;
          r[j] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, row + 16), _mm512_maskz_loadu_ps(lo, row));
        } else {
          r[j] = _mm512_setzero_si512();
        }
      }
      transpose16(r);
      const int64_t np = std::min<int64_t>(16, (kcp - k) / 2);  // pair rows of this k block
      for (int64_t p = 0; p < np; ++p) _mm512_store_si512(out + (k / 2 + p) * 32, r[p]);
    }
  }
}

}  // namespace

bool bf16_gemm_supported() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  }();
  return ok;
}

PackedBf16 pack_bf16(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb) {
  PackedBf16 p;
  p.K = K;
  p.N = N;
  p.Kp = (K + 1) / 2 * 2;
  const int64_t panels = (N + 15) / 16;
  p.storage.assign(panels * p.Kp * 16 + 32, 0);
  p.offset = (64 - reinterpret_cast<uintptr_t>(p.storage.data()) % 64) % 64 / 2;
  uint16_t* d = p.storage.data() + p.offset;
  for (int64_t q = 0; q < panels; ++q)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < 16 && q * 16 + c < N; ++c) {
        const int64_t col = q * 16 + c;
        const float v = trans_b ? B[col * ldb + k] : B[k * ldb + col];
        d[q * p.Kp * 16 + (k / 2) * 32 + c * 2 + (k & 1)] = float_to_bf16(v);
      }
  return p;
}

void gemm_bf16_epilogue(int64_t M, const float* A, int64_t lda, const PackedBf16& B, const float* bias, Act act,
                        const float* residual, int64_t ldr, float* C, int64_t ldc, const float* k_scale) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 inference needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  const int64_t N = B.N, panels = (N + 15) / 16;
  if (M == 0 || N == 0) return;
  const int threads = num_threads();
  const int64_t row_tiles = (M + kMC - 1) / kMC;
  // Panels per tile: all of them unless that leaves threads idle; then halve (keeping pairs of panels).
  int64_t tp = (panels + 1) / 2 * 2;
  while (tp > 2 && row_tiles * ((panels + tp - 1) / tp) < 4 * threads) tp = (tp / 2 + 1) / 2 * 2;
  const int64_t col_tiles = (panels + tp - 1) / tp, tasks = row_tiles * col_tiles;
  auto body = [&](int64_t t0, int64_t t1) {
    thread_local std::vector<uint16_t> abuf;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t rt = t / col_tiles, ct = t % col_tiles;
      const int64_t r0 = rt * kMC, p0 = ct * tp;
      tile(r0, std::min(kMC, M - r0), p0, std::min(tp, panels - p0), A, lda, k_scale, B, bias, act, residual, ldr, C,
           ldc, abuf);
    }
  };
  if (threads == 1 || 2.0 * M * N * B.K < 1e6) return body(0, tasks);
  parallel_for(0, tasks, 1, body);
}

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 GEMMs need a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t r = 0; r < M; ++r)
      for (int64_t j = 0; j < N; ++j) C[r * ldc + j] = beta == 0.0f ? 0.0f : beta * C[r * ldc + j];
    return;
  }
  thread_local AlignedBuf bbuf, abuf;
  const int64_t panels = (N + 15) / 16;
  const Epilogue none;
  const bool prefetch = (M + N) * K * int64_t(sizeof(float)) >= (int64_t(6) << 20);
  // The fp32 source of the A block (kb, m0) and of the B block kb, as regions of rows for PfCursor::add.
  auto add_a = [&](PfCursor& pf, int64_t kb, int64_t m0) {
    const int64_t kc = std::min(kKC, K - kb), mc = std::min(kMC, M - m0);
    if (ta)
      pf.add(A + kb * lda + m0, lda, kc, mc);
    else
      pf.add(A + m0 * lda + kb, lda, mc, kc);
  };
  auto add_b = [&](PfCursor& pf, int64_t kb) {
    const int64_t kc = std::min(kKC, K - kb);
    if (tb)
      pf.add(B + kb, ldb, N, kc);
    else
      pf.add(B + kb * ldb, ldb, kc, N);
  };
  for (int64_t kb = 0; kb < K; kb += kKC) {
    const int64_t kc = std::min(kKC, K - kb), kcp = (kc + 1) / 2 * 2;
    uint16_t* bp = bbuf.get(panels * kcp * 16);
    if (tb)
      pack_kcontig(B + kb, ldb, kc, kcp, N, bp);
    else
      pack_kmajor(B + kb * ldb, ldb, kc, kcp, N, bp);
    const float bt = kb == 0 ? beta : 1.0f;  // later K blocks add to what the earlier ones stored
    for (int64_t m0 = 0; m0 < M; m0 += kMC) {
      const int64_t mc = std::min(kMC, M - m0);
      uint16_t* ap = abuf.get((mc + 15) / 16 * 16 * kcp);
      if (ta)
        pack_kmajor(A + kb * lda + m0, lda, kc, kcp, mc, ap);
      else
        convert_rows(mc, kc, kcp, A + m0 * lda + kb, lda, nullptr, ap);
      // While this block's products run: the next block's operands, and the rows of C the next tile adds to.
      PfCursor pf;
      if (m0 + kMC < M) {
        add_a(pf, kb, m0 + kMC);
        if (bt != 0.0f) pf.add(C + (m0 + kMC) * ldc, ldc, std::min(kMC, M - m0 - kMC), N);
      } else if (kb + kKC < K) {
        add_b(pf, kb + kKC);
        add_a(pf, kb + kKC, 0);
        pf.add(C, ldc, std::min(kMC, M), N);
      }
      // Not worth its cost (3-19% at Fashion-MNIST's GEMMs) when the operands are small enough to come from the
      // caches (under 6 MiB: a rule of thumb from the shapes measured), when a call of the micro kernel is short
      // (k < 128: its per-call cost; the rows of A are then short and contiguous enough for the hardware
      // prefetcher), or when the next operands are small against the products (wide N).
      const int64_t steps = (mc + kMR - 1) / kMR * ((panels + 1) / 2) * (kcp / 2), lines = pf.lines();
      if (!prefetch || kcp < 128 || 8 * lines < steps) pf.n = 0;
      pf.per_step = static_cast<int>(std::clamp<int64_t>((lines + steps - 1) / steps, 1, 4));
      const ALayout al = ta ? ALayout{2, 32} : ALayout{kcp, 2};
      for (int64_t jp = 0; jp < panels; jp += 2) {
        const int nv = static_cast<int>(std::min<int64_t>(2, panels - jp));
        const int64_t ncols = std::min<int64_t>(16 * nv, N - 16 * jp);
        const uint16_t* b0 = bp + jp * kcp * 16;
        for (int64_t i = 0; i < mc; i += kMR) {
          const int mr = static_cast<int>(std::min<int64_t>(kMR, mc - i));
          const uint16_t* a = ta ? ap + (i / 16) * kcp * 16 + (i % 16) * 2 : ap + i * kcp;
          const auto& micro_fns = pf.cur < pf.n ? kMicroPf : kMicro;
          micro_fns[mr - 1][nv - 1](kcp / 2, a, al, b0, b0 + kcp * 16, C + (m0 + i) * ldc + 16 * jp, ldc, alpha, bt,
                                    ncols, none, &pf);
        }
      }
    }
  }
}

std::vector<float> round_to_bf16(const float* x, int64_t n) {
  std::vector<float> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(float_to_bf16(x[i]));
  return y;
}

}  // namespace cage::kernels
