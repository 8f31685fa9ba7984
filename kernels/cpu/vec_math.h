// float32 exp and erf written so GCC vectorises the loops that call them (libm's expf/erff are scalar
// calls, and GELU's erf alone took 40% of a training step). Both need IEEE arithmetic as the build keeps it.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace cage::kernels {

// exp(x) for x <= 0: Cephes' expf polynomial, about 1 ulp. Results below exp(-87) flush to ~1.6e-38.
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  // Round to nearest by adding and removing 1.5 * 2^23 (exact in IEEE arithmetic): std::floor blocks the
  // vectoriser.
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = std::fma(n, -0.693359375f, x);  // ln 2 split in two so the reduction is exact
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r + 1.0f);
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

// erf(z) given e = exp(-z*z): Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), the formula PyTorch's own
// vectorised CPU erf uses, so GELU here rounds like PyTorch's float32 GELU.
inline float erf_with_exp(float z, float e) {
  float a = std::fabs(z);
  float t = 1.0f / std::fma(0.3275911f, a, 1.0f);
  float r = std::fma(1.061405429f, t, -1.453152027f);
  r = std::fma(r, t, 1.421413741f);
  r = std::fma(r, t, -0.284496736f);
  r = std::fma(r, t, 0.254829592f);
  float y = std::fma(-e * t, r, 1.0f);
  return std::copysign(y, z);
}

// GELU (erf form) in float32, vectorisable; shared by the element-wise kernel and the fused epilogues so
// both round alike.
inline float gelu_f32(float x) {
  float e = exp_nonpositive(-0.5f * x * x);
  return 0.5f * x * (1.0f + erf_with_exp(x * 0.70710678118654752f, e));
}

// d gelu / dx = Phi(x) + x phi(x) in float32, vectorisable; shared by the element-wise backward and the fused
// BatchNorm + GELU backward so both round alike.
inline float gelu_grad_f32(float x) {
  float e = exp_nonpositive(-0.5f * x * x);
  float cdf = 0.5f * (1.0f + erf_with_exp(x * 0.70710678118654752f, e));
  return cdf + x * e * 0.3989422804014327f;  // 1/sqrt(2 pi)
}

// The float64 versions (libm), for gradient checks.
inline double gelu_f64(double x) { return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752440)); }
inline double gelu_grad_f64(double x) {
  double cdf = 0.5 * (1.0 + std::erf(x * 0.70710678118654752440));
  return cdf + x * std::exp(-0.5 * x * x) * 0.3989422804014327;
}

}  // namespace cage::kernels
