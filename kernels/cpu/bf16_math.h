// Element-wise math for the bf16 paths (inference, and bf16 mixed-precision training's GELU), in AVX-512
// (compiled only inside functions that carry CAGE_BF16_TARGET; callers check bf16_gemm_supported() first).
//   gelu_bf16_v: GELU (erf form) on 16 floats as 16 cubic pieces picked by a register permute: no exp, no
//                division, ~15 instructions against ~33 for the exp + Abramowitz-Stegun erf of
//                kernels/cpu/vec_math.h. Max |error| 3.2e-6 for |x| <= 12 (printed by scripts/gelu_bf16_fit.py and
//                re-measured against double erf by the test Bf16Math.GeluAgainstDoubleErf); for larger |x| the
//                result is x or 0 to within float rounding. Only for the bf16 path: its GEMMs round their
//                inputs to bf16 (relative error up to 2^-9 = 2e-3), three orders of magnitude above this. The
//                fp32 path keeps the exact-to-1e-7 GELU of vec_math.h.
//   gelu_grad_bf16_v: GELU's derivative Phi(x) + x phi(x) on the same 16 pieces, quartic: max |error| 1.1e-6 for
//                all x (scripts/gelu_bf16_fit.py; test Bf16Math.GeluGradAgainstDouble). For bf16 mixed-precision
//                training's backward, where the gradient it scales is rounded to bf16 by the next GEMM.
//   exp_nonpositive_v: exp(x) for x <= 0, the Cephes polynomial of vec_math.h's exp_nonpositive (~1 ulp).
#pragma once
#include <immintrin.h>

#include <cstdint>

#ifndef CAGE_BF16_TARGET
#define CAGE_BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
#endif

namespace cage::kernels {

// The piece of a = |x| for gelu_bf16_v and gelu_grad_bf16_v: u = min(a * 2.7, 15), i = round(u) (left in the low
// mantissa bits of u + 1.5 * 2^23, which is all vpermps reads of an index), returns t = u - i in [-1/2, 1/2].
CAGE_BF16_TARGET inline __m512 gelu_piece(__m512 a, __m512i& i) {
  const __m512 u = _mm512_min_ps(_mm512_mul_ps(a, _mm512_set1_ps(2.7f)), _mm512_set1_ps(15.0f));
  const __m512 m = _mm512_add_ps(u, _mm512_set1_ps(12582912.0f));
  i = _mm512_castps_si512(m);
  return _mm512_sub_ps(u, _mm512_sub_ps(m, _mm512_set1_ps(12582912.0f)));
}

// GELU(x) = x / 2 + |x| * h(|x|) with h(a) = erf(a / sqrt 2) / 2. With u = min(|x| * 2.7, 15) and i = round(u),
// h = c0[i] + t (c1[i] + t (c2[i] + t c3[i])), t = u - i in [-1/2, 1/2]: Chebyshev interpolants of h on each piece
// (scripts/gelu_bf16_fit.py 2.7). Piece 15 (|x| >= 5.37) is h = 1/2 exactly, so large x give x or 0 with no
// drift. The rounding of u to an integer adds and removes 1.5 * 2^23, which leaves i in the low mantissa bits:
// vpermps reads only the low 4 bits of each index.
CAGE_BF16_TARGET inline __m512 gelu_bf16_v(__m512 x) {
  const __m512 c0 = _mm512_setr_ps(0.0f, 0.144444317f, 0.270571321f, 0.366737157f, 0.430759877f, 0.467976779f,
                                   0.486866742f, 0.495238036f, 0.498477042f, 0.499571204f, 0.499893874f, 0.499976933f,
                                   0.499995589f, 0.499999255f, 0.499999881f, 0.5f);
  const __m512 c1 = _mm512_setr_ps(0.147755861f, 0.137961566f, 0.112304792f, 0.0797011927f, 0.0493125096f,
                                   0.0265995543f, 0.0125087947f, 0.00512836687f, 0.00183300511f, 0.000571172626f,
                                   0.000155162968f, 3.67471293e-05f, 7.58701162e-06f, 1.3656113e-06f, 2.14283759e-07f,
                                   0.0f);
  const __m512 c2 = _mm512_setr_ps(0.0f, -0.00938536227f, -0.0152978329f, -0.0163168218f, -0.0134975081f,
                                   -0.00913286395f, -0.00517600449f, -0.00248833909f, -0.00102242129f,
                                   -0.000360802253f, -0.000109716035f, -2.88177835e-05f, -6.54936093e-06f,
                                   -1.28961585e-06f, -2.20237425e-07f, 0.0f);
  const __m512 c3 = _mm512_setr_ps(-0.00336074643f, -0.00270963018f, -0.00115868915f, 0.000418453419f,
                                   0.00133668061f, 0.00147128862f, 0.00112515315f, 0.000672402908f, 0.00032797418f,
                                   0.000133383102f, 4.57835486e-05f, 1.33662343e-05f, 3.3362594e-06f, 7.14608746e-07f,
                                   1.31710891e-07f, 0.0f);
  const __m512 a = _mm512_abs_ps(x);
  // With a NaN, vminps in gelu_piece returns its second operand (15), and the NaN comes back through a below.
  __m512i i;
  const __m512 t = gelu_piece(a, i);
  __m512 h = _mm512_fmadd_ps(_mm512_permutexvar_ps(i, c3), t, _mm512_permutexvar_ps(i, c2));
  h = _mm512_fmadd_ps(h, t, _mm512_permutexvar_ps(i, c1));
  h = _mm512_fmadd_ps(h, t, _mm512_permutexvar_ps(i, c0));
  return _mm512_fmadd_ps(a, h, _mm512_mul_ps(x, _mm512_set1_ps(0.5f)));
}

// GELU'(x) = 1/2 + sign(x) k(|x|) with k(a) = erf(a / sqrt 2) / 2 + a phi(a) >= 0, in the pieces of gelu_bf16_v
// (quartic: k's higher derivatives are larger than h's). Piece 15 (|x| >= 5.37) is k = 1/2: the derivative is
// within 1.2e-6 of 0 or 1 there. A NaN x gives NaN (the index clamp would otherwise make it 1/2 + 1/2).
CAGE_BF16_TARGET inline __m512 gelu_grad_bf16_v(__m512 x) {
  const __m512 c0 = _mm512_setr_ps(0.0f, 0.282408655f, 0.495184273f, 0.605842471f, 0.628009617f, 0.600973248f,
                                   0.561918437f, 0.531136155f, 0.513141036f, 0.504711866f, 0.501445591f, 0.500381231f,
                                   0.500086665f, 0.500017047f, 0.500002921f, 0.5f);
  const __m512 c1 = _mm512_setr_ps(0.295504719f, 0.256994307f, 0.162990108f, 0.061011076f, -0.00960126426f,
                                   -0.0380191915f, -0.036755491f, -0.0242154785f, -0.0124273449f, -0.00520449737f,
                                   -0.0018182348f, -0.000536444189f, -0.000134681366f, -2.89201835e-05f,
                                   -5.33031016e-06f, 0.0f);
  const __m512 c2 = _mm512_setr_ps(0.0f, -0.0365506373f, -0.0531674437f, -0.0453511663f, -0.0244227257f,
                                   -0.00520586455f, 0.00482971454f, 0.00670106569f, 0.00480699027f, 0.00250745565f,
                                   0.00103429484f, 0.000349339884f, 9.83946884e-05f, 2.33646351e-05f, 4.71096973e-06f,
                                   0.0f);
  const __m512 c3 = _mm512_setr_ps(-0.0133826258f, -0.00957115646f, -0.00121058186f, 0.00559394481f, 0.00731429923f,
                                   0.00500203436f, 0.001789551f, -0.000225897573f, -0.000810803846f, -0.000647196022f,
                                   -0.000343008141f, -0.000139016527f, -4.53197717e-05f, -1.2181772e-05f,
                                   -2.73861997e-06f, 0.0f);
  const __m512 c4 = _mm512_setr_ps(0.0f, 0.00176972861f, 0.00214407151f, 0.00111166341f, -0.000196875713f,
                                   -0.000821958878f, -0.000699581637f, -0.000304271583f, -1.93319174e-05f,
                                   7.64522847e-05f, 6.70752852e-05f, 3.52944517e-05f, 1.3761266e-05f, 4.24701875e-06f,
                                   1.06967354e-06f, 0.0f);
  __m512i i;
  const __m512 t = gelu_piece(_mm512_abs_ps(x), i);
  __m512 k = _mm512_fmadd_ps(_mm512_permutexvar_ps(i, c4), t, _mm512_permutexvar_ps(i, c3));
  k = _mm512_fmadd_ps(k, t, _mm512_permutexvar_ps(i, c2));
  k = _mm512_fmadd_ps(k, t, _mm512_permutexvar_ps(i, c1));
  k = _mm512_fmadd_ps(k, t, _mm512_permutexvar_ps(i, c0));
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
  const __m512 signed_k = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(k), sign));
  const __m512 g = _mm512_add_ps(_mm512_set1_ps(0.5f), signed_k);
  return _mm512_mask_mov_ps(g, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

CAGE_BF16_TARGET inline __m512 exp_nonpositive_v(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);  // ln 2 in two parts: exact reduction
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

}  // namespace cage::kernels
