// Tile helpers shared by the bf16 attention kernels (kernels/cpu/attention_bf16.cpp, forward;
// kernels/cpu/attention_bf16_backward.cpp, backward), AVX-512 BF16 only: the callers check bf16_gemm_supported().
// The N x N x D products run on vdpbf16ps, whose operands are 32-bit words holding a pair of bf16 along the
// product's k. One product c = init + a b:
//   a: word (row i, pair p) at a[i * lda + p * ldp]; scalar broadcasts, so any strides (ldp = 1: row-major pairs,
//      lda = 1: the pair-interleaved transpose of interleave_rows below);
//   b: 16 words per column block, row p (pair p of k) at b[p * ldb ..].
// Every value is rounded to bf16 by the conversions here (nearest even), always after the fp32 multiply by a
// scale, so the forward and the backward, built from the same helpers, see the same bf16 operands bit for bit.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu/bf16_math.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 on the AVX-512 intrinsics' undefined operands

namespace cage::kernels::attn_bf16 {

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Pixel of every token of every group, (G, N), as relpos_attention_pixel maps them.
inline std::vector<int64_t> token_pixels(AttentionPartition kind, int64_t H, int64_t W, int64_t P) {
  const int64_t N = P * P, G = (H / P) * (W / P);
  std::vector<int64_t> pix(G * N);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < N; ++t) pix[g * N + t] = relpos_attention_pixel(kind, H, W, P, g, t);
  return pix;
}

// Row of the bias table for the token pair (i, j), (N, N).
inline int64_t bias_row(int64_t P, int64_t i, int64_t j) {
  return (i / P - j / P + P - 1) * (2 * P - 1) + (i % P - j % P + P - 1);
}

// Every head's bias expanded once per call, (heads, N, NP), zero in the padded columns: a task's logits start
// from it as the product's init.
inline std::vector<float> expand_bias(int64_t P, int64_t heads, int64_t NP, const float* table) {
  const int64_t N = P * P;
  std::vector<float> bias(heads * N * NP, 0.0f);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j) bias[(h * N + i) * NP + j] = table[bias_row(P, i, j) * heads + h];
  return bias;
}

// c (MR rows, 16 NV columns, row stride ldc) = init (same shape, row stride ldi; zero when null) + a b over kpairs.
template <int MR, int NV>
CAGE_BF16_TARGET void mm_tile(int64_t kpairs, const uint32_t* a, int64_t lda, int64_t ldp, const uint32_t* b,
                              int64_t ldb, const float* init, int64_t ldi, float* c, int64_t ldc) {
  __m512 acc[MR][NV];
  if (init) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_loadu_ps(init + i * ldi + 16 * j);
  } else {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < kpairs; ++p) {
    __m512bh bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = (__m512bh)_mm512_loadu_si512(b + p * ldb + 16 * j);
    for (int i = 0; i < MR; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i * lda + p * ldp]));
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(c + i * ldc + 16 * j, acc[i][j]);
}

inline constexpr int kMR = 4, kNV = 4;  // 16 accumulators
using TileFn = void (*)(int64_t, const uint32_t*, int64_t, int64_t, const uint32_t*, int64_t, const float*, int64_t,
                        float*, int64_t);
template <int... I>
constexpr std::array<std::array<TileFn, kNV>, kMR> tile_table(std::integer_sequence<int, I...>) {
  return {{{mm_tile<I + 1, 1>, mm_tile<I + 1, 2>, mm_tile<I + 1, 3>, mm_tile<I + 1, 4>}...}};
}
inline constexpr auto kTile = tile_table(std::make_integer_sequence<int, kMR>{});

// c (m, 16 nv) = init + a b, in tiles of up to kMR rows x kNV vectors. Each element's sum runs over p in order,
// whatever the tiling.
inline void mm(int64_t m, int64_t nv, int64_t kpairs, const uint32_t* a, int64_t lda, int64_t ldp, const uint32_t* b,
               int64_t ldb, const float* init, int64_t ldi, float* c, int64_t ldc) {
  for (int64_t j = 0; j < nv; j += kNV) {
    const int64_t w = std::min<int64_t>(kNV, nv - j);
    for (int64_t i = 0; i < m; i += kMR) {
      const int64_t r = std::min<int64_t>(kMR, m - i);
      kTile[r - 1][w - 1](kpairs, a + i * lda, lda, ldp, b + 16 * j, ldb, init ? init + i * ldi + 16 * j : nullptr,
                          ldi, c + i * ldc + 16 * j, ldc);
    }
  }
}

// The next min(32, r) floats of x times s as bf16 (pairs of consecutive floats = one 32-bit word, zeros past r),
// and the mask of the words that hold data.
CAGE_BF16_TARGET inline __m512i scaled_words(const float* x, int64_t r, __m512 s, __mmask16* words) {
  const __mmask16 lo = static_cast<__mmask16>(r >= 16 ? 0xffff : (1u << r) - 1);
  const __mmask16 hi = static_cast<__mmask16>(r <= 16 ? 0 : r >= 32 ? 0xffff : (1u << (r - 16)) - 1);
  const int64_t w = std::min<int64_t>(16, (r + 1) / 2);
  *words = static_cast<__mmask16>(w >= 16 ? 0xffff : (1u << w) - 1);
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(_mm512_maskz_loadu_ps(hi, x + 16), s),
                                      _mm512_mul_ps(_mm512_maskz_loadu_ps(lo, x), s));
}

// n floats times mul to bf16 at dst (n rounded up to even, the pad a zero).
CAGE_BF16_TARGET inline void to_bf16(const float* x, int64_t n, float mul, uint16_t* dst) {
  const __m512 s = _mm512_set1_ps(mul);
  for (int64_t k = 0; k < n; k += 32) {
    __mmask16 words;
    const __m512i v = scaled_words(x + k, n - k, s, &words);
    _mm512_mask_storeu_epi32(dst + k, words, v);
  }
}

// Token j's row (n floats) times mul, as bf16 words into column j of a (n / 2, ld) word matrix: a masked scatter
// of 16 words at a time (a scalar loop of 4-byte copies was 1/6 of the forward's time).
CAGE_BF16_TARGET inline void k_column(const float* x, int64_t n, float mul, uint32_t* col, int64_t ld) {
  const __m512 s = _mm512_set1_ps(mul);
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(ld)));
  for (int64_t k = 0; k < n; k += 32) {
    __mmask16 words;
    const __m512i v = scaled_words(x + k, n - k, s, &words);
    _mm512_mask_i32scatter_epi32(col + k / 2 * ld, words, idx, v, 4);
  }
}

// Words (a[d] * ma, b[d] * mb) for d in [0, n) (b null: zeros) at dst.
CAGE_BF16_TARGET inline void pair_words(const float* a, float ma, const float* b, float mb, int64_t n,
                                        uint32_t* dst) {
  for (int64_t d = 0; d < n; d += 16) {
    const __mmask16 m = static_cast<__mmask16>(n - d >= 16 ? 0xffff : (1u << (n - d)) - 1);
    const __m512 xa = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + d), _mm512_set1_ps(ma));
    const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(xa));
    __m512i w = lo;
    if (b) {
      const __m512 xb = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, b + d), _mm512_set1_ps(mb));
      const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(xb));
      w = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
    }
    _mm512_mask_storeu_epi32(dst + d, m, w);
  }
}

// Two bf16 rows (n values, a multiple of 32; r1 null: zeros) -> n words (r0[j], r1[j]): rows 2p and 2p + 1 of
// X become row p of X's pair-interleaved transpose, the a operand of X^T b with lda = 1, ldp = n.
CAGE_BF16_TARGET inline void interleave_rows(const uint16_t* r0, const uint16_t* r1, int64_t n, uint32_t* dst) {
  alignas(64) static constexpr int16_t lo[32] = {0,  32, 1,  33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                                 8,  40, 9,  41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static constexpr int16_t hi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                                 24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i il = _mm512_load_si512(lo), ih = _mm512_load_si512(hi);
  for (int64_t c = 0; c < n; c += 32) {
    const __m512i x0 = _mm512_loadu_si512(r0 + c);
    const __m512i x1 = r1 ? _mm512_loadu_si512(r1 + c) : _mm512_setzero_si512();
    _mm512_storeu_si512(dst + c, _mm512_permutex2var_epi16(x0, il, x1));
    _mm512_storeu_si512(dst + c + 16, _mm512_permutex2var_epi16(x0, ih, x1));
  }
}

// 16 bf16 at x as floats.
CAGE_BF16_TARGET inline __m512 load_bf16(const uint16_t* x) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))), 16));
}

// Row i of S (nv vectors, first n columns valid) -> P row as bf16 (np2 values, zero past n) and 1 / rowsum.
CAGE_BF16_TARGET inline float softmax_to_bf16(const float* s, int64_t n, int64_t nv, uint16_t* prow, int64_t np2) {
  __m512 mx = _mm512_set1_ps(-3.0e38f);
  for (int64_t j = 0; j < nv; ++j) {
    const int64_t r = n - 16 * j;
    const __mmask16 m = static_cast<__mmask16>(r >= 16 ? 0xffff : r <= 0 ? 0 : (1u << r) - 1);
    mx = _mm512_mask_max_ps(mx, m, mx, _mm512_loadu_ps(s + 16 * j));
  }
  const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < np2 / 16; j += 2) {
    __m512 e[2];
    for (int h = 0; h < 2; ++h) {
      const int64_t r = n - 16 * (j + h);
      const __mmask16 m = static_cast<__mmask16>(r >= 16 ? 0xffff : r <= 0 ? 0 : (1u << r) - 1);
      e[h] = m ? _mm512_maskz_mov_ps(m, exp_nonpositive_v(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + 16 * (j + h)),
                                                                         vmax)))
               : _mm512_setzero_ps();
    }
    // Sum what P V will see: the rounded probabilities, so that O = P V / rowsum stays a weighted mean.
    const __m512bh pb = _mm512_cvtne2ps_pbh(e[1], e[0]);
    _mm512_storeu_si512(prow + 16 * j, (__m512i)pb);
    const __m512i w = (__m512i)pb;
    sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));               // even elements
    sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(-65536))));  // odd
  }
  return 1.0f / _mm512_reduce_add_ps(sum);
}

}  // namespace cage::kernels::attn_bf16
