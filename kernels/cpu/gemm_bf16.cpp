// bfloat16 GEMM with fused epilogue on AVX-512 BF16 (see kernels/gemm_bf16.h).
// Blocking: the output is cut into tiles of up to kMC rows x a run of 16-column panels, one tile per task of
// the thread pool. A task rounds its rows of A to bf16 once (whole K, row-major, K padded to even, so a pair
// (k even, k odd) is one 32-bit broadcast), then walks K in blocks of kKC so the B panels being reused
// (kKC x 32 bf16 = 16 KiB) stay in L1, and runs a register-blocked micro kernel of kMR rows x 32 columns:
// 2 x kMR zmm accumulators in fp32, each step one vdpbf16ps (32 multiply-adds per register) per accumulator.
// The epilogue (bias, GELU, residual) runs on the accumulators of the last K block, before the one store.
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

// The epilogue on all accumulators of a micro tile, then the store to C. Every acc element is named by a
// constant index (folds over t = i * NV + j) and each step is one branch-free block, so acc stays in registers.
template <int MR, int NV, int... T>
CAGE_BF16_TARGET inline __attribute__((always_inline)) void finish_all(__m512 (&acc)[MR][NV],
                                                                      std::integer_sequence<int, T...>, float* c,
                                                                      int64_t ldc, const __mmask16* mask,
                                                                      bool accumulate, const Epilogue& ep) {
#define CAGE_ACC acc[T / NV][T % NV]
#define CAGE_LOAD(base, ld) _mm512_maskz_loadu_ps(mask[T % NV], (base) + (T / NV) * (ld) + 16 * (T % NV))
  if (accumulate) ((CAGE_ACC = _mm512_add_ps(CAGE_ACC, CAGE_LOAD(c, ldc))), ...);
  if (ep.on) {
    if (ep.bias) ((CAGE_ACC = _mm512_add_ps(CAGE_ACC, CAGE_LOAD(ep.bias, 0))), ...);
    if (ep.gelu) ((CAGE_ACC = gelu_v(CAGE_ACC)), ...);
    if (ep.residual) ((CAGE_ACC = _mm512_add_ps(CAGE_ACC, CAGE_LOAD(ep.residual, ep.ldr))), ...);
  }
  (_mm512_mask_storeu_ps(c + (T / NV) * ldc + 16 * (T % NV), mask[T % NV], CAGE_ACC), ...);
#undef CAGE_LOAD
#undef CAGE_ACC
}

// c (MR rows, 16 * NV columns of which ncols are stored, row stride ldc) (+)= a (MR rows, row stride Kp
// bf16) x the B panels b0, b1 over kpairs pairs of k; then the epilogue ep if ep.on.
template <int MR, int NV>
CAGE_BF16_TARGET void micro(int64_t kpairs, const uint16_t* a, int64_t Kp, const uint16_t* b0, const uint16_t* b1,
                            float* c, int64_t ldc, bool accumulate, int64_t ncols, const Epilogue& ep) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kpairs; ++p) {
    __m512bh bv[NV];
    bv[0] = (__m512bh)_mm512_load_si512(b0 + p * 32);
    if constexpr (NV > 1) bv[1] = (__m512bh)_mm512_load_si512(b1 + p * 32);
    for (int i = 0; i < MR; ++i) {
      int32_t pair;
      std::memcpy(&pair, a + i * Kp + 2 * p, 4);
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
  finish_all<MR, NV>(acc, std::make_integer_sequence<int, MR * NV>{}, c, ldc, mask, accumulate, ep);
}

using MicroFn = void (*)(int64_t, const uint16_t*, int64_t, const uint16_t*, const uint16_t*, float*, int64_t, bool,
                         int64_t, const Epilogue&);

template <int... I>
constexpr std::array<std::array<MicroFn, 2>, kMR> micro_table(std::integer_sequence<int, I...>) {
  return {{{micro<I + 1, 1>, micro<I + 1, 2>}...}};
}
constexpr auto kMicro = micro_table(std::make_integer_sequence<int, kMR>{});

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
        kMicro[mr - 1][nv - 1](kpairs, abuf.data() + i * Kp + kb, Kp, b0, b1, C + (r0 + i) * ldc + 16 * jp, ldc,
                               kb > 0, ncols, ep);
      }
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

std::vector<float> round_to_bf16(const float* x, int64_t n) {
  std::vector<float> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(float_to_bf16(x[i]));
  return y;
}

}  // namespace cage::kernels
