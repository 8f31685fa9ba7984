// Relative-position attention forward of the bf16 inference path (kernels/fused_bf16.h), AVX-512 BF16.
// Same task split and token maps as kernels/cpu/attention.cpp (one task per batch, group, head; tokens read and
// written through relpos_attention_pixel), but the two N x N x D products run on vdpbf16ps, whose operands are
// 32-bit words holding a pair of bf16 along the product's k:
//   S = bias + Q (K scale)^T: A = Q rows (pairs of d), B = K^T as words kt[p][j] = (k[j][2p], k[j][2p+1]);
//   O = P V / rowsum(P):     A = P rows (pairs of tokens), B = words vw[p][d] = (v[2p][d], v[2p+1][d]).
// The softmax works on the fp32 logits; P = exp(s - max) is rounded to bf16 unnormalised (values in (0, 1])
// and the 1 / rowsum scales O in fp32 on the way out. Padded columns (tokens N..NP-1, d D..) are zero words.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/bf16_math.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm_bf16.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 on the AVX-512 intrinsics' undefined operands

namespace cage::kernels {

namespace {

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// c (MR rows, 16 NV columns, row stride ldc) = init (same shape, row stride ldi; zero when null) + a b over kpairs
// word pairs: a's row i is words a[i * lda + p], b's words for column block j are b[p * ldb + 16 j ..].
template <int MR, int NV>
CAGE_BF16_TARGET void mm_tile(int64_t kpairs, const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb,
                              const float* init, int64_t ldi, float* c, int64_t ldc) {
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
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i * lda + p]));
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(c + i * ldc + 16 * j, acc[i][j]);
}

constexpr int kMR = 4, kNV = 4;  // 16 accumulators
using TileFn = void (*)(int64_t, const uint32_t*, int64_t, const uint32_t*, int64_t, const float*, int64_t, float*,
                        int64_t);
template <int... I>
constexpr std::array<std::array<TileFn, kNV>, kMR> tile_table(std::integer_sequence<int, I...>) {
  return {{{mm_tile<I + 1, 1>, mm_tile<I + 1, 2>, mm_tile<I + 1, 3>, mm_tile<I + 1, 4>}...}};
}
constexpr auto kTile = tile_table(std::make_integer_sequence<int, kMR>{});

// c (m, 16 nv) = init + a b, in tiles of up to kMR rows x kNV vectors.
void mm(int64_t m, int64_t nv, int64_t kpairs, const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb,
        const float* init, int64_t ldi, float* c, int64_t ldc) {
  for (int64_t j = 0; j < nv; j += kNV) {
    const int64_t w = std::min<int64_t>(kNV, nv - j);
    for (int64_t i = 0; i < m; i += kMR) {
      const int64_t r = std::min<int64_t>(kMR, m - i);
      kTile[r - 1][w - 1](kpairs, a + i * lda, lda, b + 16 * j, ldb, init ? init + i * ldi + 16 * j : nullptr, ldi,
                          c + i * ldc + 16 * j, ldc);
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
CAGE_BF16_TARGET void to_bf16(const float* x, int64_t n, float mul, uint16_t* dst) {
  const __m512 s = _mm512_set1_ps(mul);
  for (int64_t k = 0; k < n; k += 32) {
    __mmask16 words;
    const __m512i v = scaled_words(x + k, n - k, s, &words);
    _mm512_mask_storeu_epi32(dst + k, words, v);
  }
}

// Token j's k (n floats) times mul, as bf16 words into column j of kt (row stride ld words): a masked scatter
// of 16 words at a time (a scalar loop of 4-byte copies was 1/6 of this file's time).
CAGE_BF16_TARGET void k_column(const float* x, int64_t n, float mul, uint32_t* col, int64_t ld) {
  const __m512 s = _mm512_set1_ps(mul);
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(ld)));
  for (int64_t k = 0; k < n; k += 32) {
    __mmask16 words;
    const __m512i v = scaled_words(x + k, n - k, s, &words);
    _mm512_mask_i32scatter_epi32(col + k / 2 * ld, words, idx, v, 4);
  }
}

// Words (a[d], b[d]) for d in [0, n) (b null: zeros) at dst.
CAGE_BF16_TARGET void pair_words(const float* a, const float* b, int64_t n, uint32_t* dst) {
  for (int64_t d = 0; d < n; d += 16) {
    const __mmask16 m = static_cast<__mmask16>(n - d >= 16 ? 0xffff : (1u << (n - d)) - 1);
    const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, a + d)));
    __m512i w = lo;
    if (b) {
      const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, b + d)));
      w = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
    }
    _mm512_mask_storeu_epi32(dst + d, m, w);
  }
}

// Row i of S (nv vectors, first n columns valid) -> P row as bf16 (np2 values, zero past n) and 1 / rowsum.
CAGE_BF16_TARGET float softmax_to_bf16(const float* s, int64_t n, int64_t nv, uint16_t* prow, int64_t np2) {
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

struct Scratch {
  std::vector<uint16_t> q;   // (N, Dp) bf16: row i = words of q[i]
  std::vector<uint32_t> kt;  // (Dp / 2, NP) words
  std::vector<uint32_t> vw;  // (NP2 / 2, DV) words
  std::vector<float> s;      // (N, NP) logits
  std::vector<uint16_t> p;   // (N, NP2) bf16 probabilities
  std::vector<float> o, inv;  // (N, DV) output rows, (N) 1 / rowsum
};

}  // namespace

void relpos_attention_forward_bf16(int64_t B, int64_t H, int64_t W, int64_t C, const float* qkv, const float* table,
                                   const RelposAttentionParams& prm, float* out) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 inference needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  const int64_t P = prm.partition, N = P * P, heads = prm.heads, D = C / heads, G = (H / P) * (W / P);
  const int64_t Dp = round_up(D, 2), NP = round_up(N, 16), NP2 = round_up(N, 32), DV = round_up(D, 16);
  const float scale = static_cast<float>(prm.scale);
  std::vector<int64_t> pix(G * N);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < N; ++t) pix[g * N + t] = relpos_attention_pixel(prm.kind, H, W, P, g, t);
  // Every head's bias expanded once per call, (heads, N, NP), zero in the padded columns.
  std::vector<float> bias(heads * N * NP, 0.0f);
  const int64_t span = 2 * P - 1;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j)
        bias[(h * N + i) * NP + j] =
            table[((i / P - j / P + P - 1) * span + (i % P - j % P + P - 1)) * heads + h];
  parallel_for(0, B * G * heads, 1, [&](int64_t first, int64_t last) {
    Scratch t;
    t.q.assign(N * Dp, 0), t.kt.assign(Dp / 2 * NP, 0), t.vw.assign(NP2 / 2 * DV, 0);
    t.s.assign(N * NP, 0.0f), t.p.assign(N * NP2, 0), t.o.assign(N * DV, 0.0f), t.inv.assign(N, 0.0f);
    for (int64_t id = first; id < last; ++id) {
      // head fastest: the heads of one group read neighbouring bytes of the same pixels one after another
      const int64_t b = id / (G * heads), grp = id / heads % G, h = id % heads;
      const int64_t* px = pix.data() + grp * N;
      const float* img = qkv + b * H * W * 3 * C;
      for (int64_t j = 0; j < N; ++j) {
        const float* row = img + px[j] * 3 * C + h * D;
        to_bf16(row, D, 1.0f, t.q.data() + j * Dp);
        k_column(row + C, D, scale, t.kt.data() + j, NP);  // k scaled before the rounding, as torchvision does
      }
      for (int64_t j = 0; j < N; j += 2)
        pair_words(img + px[j] * 3 * C + 2 * C + h * D, j + 1 < N ? img + px[j + 1] * 3 * C + 2 * C + h * D : nullptr,
                   D, t.vw.data() + j / 2 * DV);
      mm(N, NP / 16, Dp / 2, reinterpret_cast<const uint32_t*>(t.q.data()), Dp / 2, t.kt.data(), NP,
         bias.data() + h * N * NP, NP, t.s.data(), NP);
      for (int64_t i = 0; i < N; ++i) t.inv[i] = softmax_to_bf16(t.s.data() + i * NP, N, NP / 16, t.p.data() + i * NP2, NP2);
      mm(N, DV / 16, (N + 1) / 2, reinterpret_cast<const uint32_t*>(t.p.data()), NP2 / 2, t.vw.data(), DV, nullptr, 0,
         t.o.data(), DV);
      float* dst = out + b * H * W * C + h * D;
      for (int64_t i = 0; i < N; ++i) {
        const float* o = t.o.data() + i * DV;
        float* y = dst + px[i] * C;
        for (int64_t d = 0; d < D; ++d) y[d] = o[d] * t.inv[i];
      }
    }
  });
}

}  // namespace cage::kernels
