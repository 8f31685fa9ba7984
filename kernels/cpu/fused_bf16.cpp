// The bf16 inference path's depthwise, GELU and LayerNorm kernels (kernels/fused_bf16.h) in AVX-512; its
// attention is in kernels/cpu/attention_bf16.cpp.
// Depthwise: the fp32 kernel (kernels/cpu/fused.cpp) keeps each output pixel's channels in memory and adds one
// tap at a time (a load and a store of the output per tap); here a task takes one output row, and for four
// pixels at a time and 16 channels the accumulators stay in registers over all taps, each weight load serving
// the four pixels. Border pixels (whose window leaves the image horizontally) go one at a time with the taps
// clipped. Summation order per output value is the fp32 kernel's: bias, then taps in (kh, kw) order, by FMA.
// LayerNorm: per row, the mean and then the centred sum of squares in 16 fp32 lanes, one more pass to write.
#include "kernels/fused_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/bf16_math.h"
#include "kernels/fused.h"
#include "kernels/gemm_bf16.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 on the AVX-512 intrinsics' undefined operands

namespace cage::kernels {

namespace {

struct DwRow {
  const float* x;  // the image's input (H, W, C)
  int64_t W, C, KW, stride, padding;
  int64_t ih0, kh0, kh1;  // first input row of the window, valid taps [kh0, kh1)
  const float* w;         // (KH, KW, C)
  const float* bias;
};

// NP output pixels from ow0 on, taps kw in [kw0, kw1) for all of them; out is pixel ow0's output row, sums the
// row's channel sums (accumulated).
template <int NP>
CAGE_BF16_TARGET void dw_pixels(const DwRow& r, int64_t ow0, int64_t kw0, int64_t kw1, float* out, float* sums) {
  const int64_t C = r.C;
  for (int64_t c = 0; c < C; c += 16) {
    const __mmask16 m = static_cast<__mmask16>(C - c >= 16 ? 0xffff : (1u << (C - c)) - 1);
    __m512 acc[NP];
    const __m512 b = _mm512_maskz_loadu_ps(m, r.bias + c);
    for (int p = 0; p < NP; ++p) acc[p] = b;
    for (int64_t kh = r.kh0; kh < r.kh1; ++kh) {
      const float* row = r.x + (r.ih0 + kh) * r.W * C + c;
      const float* wk = r.w + kh * r.KW * C + c;
      for (int64_t kw = kw0; kw < kw1; ++kw) {
        const __m512 wv = _mm512_maskz_loadu_ps(m, wk + kw * C);
        const float* in = row + (ow0 * r.stride - r.padding + kw) * C;
        for (int p = 0; p < NP; ++p)
          acc[p] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, in + p * r.stride * C), wv, acc[p]);
      }
    }
    __m512 s = _mm512_setzero_ps();
    for (int p = 0; p < NP; ++p) {
      const __m512 v = gelu_bf16_v(acc[p]);
      _mm512_mask_storeu_ps(out + p * C + c, m, v);
      s = _mm512_add_ps(s, v);
    }
    if (sums) _mm512_mask_storeu_ps(sums + c, m, _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, sums + c)));
  }
}

CAGE_BF16_TARGET void gelu_span(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, gelu_bf16_v(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, gelu_bf16_v(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

CAGE_BF16_TARGET void gelu_backward_span(const float* x, const float* gy, float* gx, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(gx + i, _mm512_mul_ps(_mm512_loadu_ps(gy + i), gelu_grad_bf16_v(_mm512_loadu_ps(x + i))));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 g = gelu_grad_bf16_v(_mm512_maskz_loadu_ps(m, x + i));
    _mm512_mask_storeu_ps(gx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gy + i), g));
  }
}

// Rows of C values: y = GELU(z), z = fma(x, a, shift) per column.
CAGE_BF16_TARGET void affine_gelu_rows(int64_t rows, int64_t C, const float* x, const float* a, const float* shift,
                                       float* y) {
  const __mmask16 tail = static_cast<__mmask16>(C % 16 == 0 ? 0 : (1u << (C % 16)) - 1);
  const int64_t full = C / 16 * 16;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* o = y + r * C;
    for (int64_t c = 0; c < full; c += 16) {
      const __m512 z = _mm512_fmadd_ps(_mm512_loadu_ps(xr + c), _mm512_loadu_ps(a + c), _mm512_loadu_ps(shift + c));
      _mm512_storeu_ps(o + c, gelu_bf16_v(z));
    }
    if (tail) {
      const __m512 z = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, xr + full), _mm512_maskz_loadu_ps(tail, a + full),
                                       _mm512_maskz_loadu_ps(tail, shift + full));
      _mm512_mask_storeu_ps(o + full, tail, gelu_bf16_v(z));
    }
  }
}

// One row: gz = gy * GELU'(z) with z as affine_gelu_rows forms it (stored unless gz is null); sums[c] += gz,
// sums[C + c] += gz * xhat, xhat = (x - mean) * invstd. Columns [c, c + 16) under mask m.
CAGE_BF16_TARGET inline void gelu_grad_sums_block(__mmask16 m, int64_t c, int64_t C, const float* x, const float* gy,
                                                  const float* a, const float* shift, const float* mean,
                                                  const float* invstd, float* gz, float* sums) {
  const __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
  const __m512 z = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, a + c), _mm512_maskz_loadu_ps(m, shift + c));
  const __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gy + c), gelu_grad_bf16_v(z));
  if (gz) _mm512_mask_storeu_ps(gz + c, m, g);
  const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(xv, _mm512_maskz_loadu_ps(m, mean + c)),
                                    _mm512_maskz_loadu_ps(m, invstd + c));
  _mm512_mask_storeu_ps(sums + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + c), g));
  _mm512_mask_storeu_ps(sums + C + c, m, _mm512_fmadd_ps(g, xhat, _mm512_maskz_loadu_ps(m, sums + C + c)));
}

CAGE_BF16_TARGET void gelu_grad_sums_row(int64_t C, const float* x, const float* gy, const float* a,
                                         const float* shift, const float* mean, const float* invstd, float* gz,
                                         float* sums) {
  const int64_t full = C / 16 * 16;
  for (int64_t c = 0; c < full; c += 16) gelu_grad_sums_block(0xffff, c, C, x, gy, a, shift, mean, invstd, gz, sums);
  if (full < C) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (C - full)) - 1);
    gelu_grad_sums_block(tail, full, C, x, gy, a, shift, mean, invstd, gz, sums);
  }
}

// Rows of BatchNorm + GELU's input gradient with gz recomputed: gx = k (gz - m1 - xhat m2), gz = gy GELU'(z),
// z = fma(x, a, shift), xhat = (x - mu) is, all per column.
CAGE_BF16_TARGET void bn_gelu_input_grad_rows(int64_t rows, int64_t C, const float* x, const float* gy,
                                              const BnGeluInputCoefs& q, float* gx) {
  const int64_t full = C / 16 * 16;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 m = c < full ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (C - c)) - 1);
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + r * C + c);
      const __m512 z = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, q.a + c), _mm512_maskz_loadu_ps(m, q.shift + c));
      const __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gy + r * C + c), gelu_grad_bf16_v(z));
      const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(xv, _mm512_maskz_loadu_ps(m, q.mu + c)),
                                        _mm512_maskz_loadu_ps(m, q.is + c));
      const __m512 d = _mm512_fnmadd_ps(xhat, _mm512_maskz_loadu_ps(m, q.m2 + c),
                                        _mm512_sub_ps(g, _mm512_maskz_loadu_ps(m, q.m1 + c)));
      _mm512_mask_storeu_ps(gx + r * C + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, q.k + c), d));
    }
}

CAGE_BF16_TARGET void layer_norm_rows(int64_t r0, int64_t r1, int64_t C, const float* x, const float* gamma,
                                      const float* beta, float eps, float* y) {
  const __mmask16 tail = static_cast<__mmask16>(C % 16 == 0 ? 0xffff : (1u << (C % 16)) - 1);
  const int64_t full = C / 16 * 16;
  for (int64_t r = r0; r < r1; ++r) {
    const float* a = x + r * C;
    float* o = y + r * C;
    __m512 s = _mm512_setzero_ps();
    for (int64_t c = 0; c < full; c += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(a + c));
    if (full < C) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail, a + full));
    const __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / static_cast<float>(C));
    __m512 q = _mm512_setzero_ps();
    for (int64_t c = 0; c < full; c += 16) {
      const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + c), mean);
      q = _mm512_fmadd_ps(d, d, q);
    }
    if (full < C) {
      const __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, a + full), mean);
      q = _mm512_fmadd_ps(d, d, q);
    }
    const __m512 rstd = _mm512_set1_ps(1.0f / std::sqrt(_mm512_reduce_add_ps(q) / static_cast<float>(C) + eps));
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 m = c < full ? static_cast<__mmask16>(0xffff) : tail;
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + c), mean), rstd);
      _mm512_mask_storeu_ps(o + c, m,
                            _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, gamma + c), _mm512_maskz_loadu_ps(m, beta + c)));
    }
  }
}

}  // namespace

void depthwise_bias_gelu_bf16(int64_t N, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, int64_t stride,
                              int64_t padding, const float* x, const float* w, const float* bias, float* y,
                              float* pooled) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 inference needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  const int64_t Ho = (H + 2 * padding - KH) / stride + 1, Wo = (W + 2 * padding - KW) / stride + 1;
  // Output columns whose whole window lies inside the image: [lo, hi).
  const int64_t lo = std::min(Wo, (padding + stride - 1) / stride);
  const int64_t hi = W - KW + padding < 0 ? lo : std::max(lo, std::min(Wo, (W - KW + padding) / stride + 1));
  std::vector<float> row_sums(pooled ? N * Ho * C : 0);
  parallel_for(0, N * Ho, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t rr = r0; rr < r1; ++rr) {
      const int64_t n = rr / Ho, oh = rr % Ho;
      DwRow r{x + n * H * W * C, W, C, KW, stride, padding, oh * stride - padding, 0, KH, w, bias};
      r.kh0 = std::max<int64_t>(0, -r.ih0);
      r.kh1 = std::min<int64_t>(KH, H - r.ih0);
      float* out = y + rr * Wo * C;
      float* sums = pooled ? row_sums.data() + rr * C : nullptr;
      if (sums) std::fill(sums, sums + C, 0.0f);
      auto border = [&](int64_t ow) {
        const int64_t iw = ow * stride - padding;
        dw_pixels<1>(r, ow, std::max<int64_t>(0, -iw), std::min<int64_t>(KW, W - iw), out + ow * C, sums);
      };
      for (int64_t ow = 0; ow < lo; ++ow) border(ow);
      int64_t ow = lo;
      for (; ow + 4 <= hi; ow += 4) dw_pixels<4>(r, ow, 0, KW, out + ow * C, sums);
      for (; ow < hi; ++ow) dw_pixels<1>(r, ow, 0, KW, out + ow * C, sums);
      for (; ow < Wo; ++ow) border(ow);
    }
  });
  if (!pooled) return;
  pool_row_sums(N, Ho, Wo, C, row_sums.data(), pooled);
}

void layer_norm_bf16(int64_t rows, int64_t C, const float* x, const float* gamma, const float* beta, float eps,
                     float* y) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 inference needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)),
               [&](int64_t r0, int64_t r1) { layer_norm_rows(r0, r1, C, x, gamma, beta, eps, y); });
}

void gelu_bf16(const float* x, float* y, int64_t n) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 inference needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  parallel_for(0, n, 1 << 14, [&](int64_t a, int64_t b) { gelu_span(x + a, y + a, b - a); });
}

void gelu_backward_bf16(const float* x, const float* gy, float* gx, int64_t n) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 GELU needs a CPU with AVX-512 BF16 (avx512_bf16)");
  parallel_for(0, n, 1 << 14, [&](int64_t a, int64_t b) { gelu_backward_span(x + a, gy + a, gx + a, b - a); });
}

void affine_gelu_rows_bf16(int64_t rows, int64_t C, const float* x, const float* a, const float* shift, float* y) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 GELU needs a CPU with AVX-512 BF16 (avx512_bf16)");
  affine_gelu_rows(rows, C, x, a, shift, y);
}

void bn_gelu_input_grad_rows_bf16(int64_t rows, int64_t C, const float* x, const float* gy,
                                  const BnGeluInputCoefs& q, float* gx) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 GELU needs a CPU with AVX-512 BF16 (avx512_bf16)");
  bn_gelu_input_grad_rows(rows, C, x, gy, q, gx);
}

void affine_gelu_grad_sums_row_bf16(int64_t C, const float* x, const float* gy, const float* a, const float* shift,
                                    const float* mean, const float* invstd, float* gz, float* sums) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 GELU needs a CPU with AVX-512 BF16 (avx512_bf16)");
  gelu_grad_sums_row(C, x, gy, a, shift, mean, invstd, gz, sums);
}

}  // namespace cage::kernels
