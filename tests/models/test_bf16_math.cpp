// The bf16 inference path's own GELU and depthwise kernels (kernels/fused_bf16.h): the piecewise-cubic GELU
// (and the piecewise-quartic derivative of bf16 training) against double with std::erf over a dense grid and far
// into the tails, and the depthwise conv + bias +
// GELU (+ pooled means) against a double reference at odd sizes, strides and borders, and the attention with
// bf16 products against double attention of the same bf16-rounded q, scale * k, v; LayerNorm with fp32 row
// statistics against double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/philox.h"
#include "kernels/fused_bf16.h"
#include "kernels/attention.h"
#include "kernels/gemm_bf16.h"

namespace cage::test {
namespace {

// Every float in [-12, 12] with step 2^-17 (3.1M values, all piece boundaries several times over), then powers of
// two and their neighbours out to 2^100 on both sides.
std::vector<float> gelu_grid() {
  std::vector<float> x;
  for (int64_t i = -12 * (1 << 17); i <= 12 * (1 << 17); ++i) x.push_back(std::ldexp(float(i), -17));
  for (int e = -40; e <= 100; ++e)
    for (float m : {1.0f, 1.0f + 0x1p-23f, 1.5f, 1.9999999f})
      for (float s : {1.0f, -1.0f}) x.push_back(s * std::ldexp(m, e));
  return x;
}

double gelu_double(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

TEST(Bf16Math, GeluAgainstDoubleErf) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  std::vector<float> x = gelu_grid();
  x.push_back(std::numeric_limits<float>::max());
  x.push_back(-std::numeric_limits<float>::max());
  std::vector<float> y(x.size());
  kernels::gelu_bf16(x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst_small = 0, worst_rel = 0, at = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = gelu_double(x[i]), err = std::fabs(double(y[i]) - ref);
    ASSERT_TRUE(std::isfinite(y[i])) << "x = " << x[i];
    if (std::fabs(x[i]) <= 12 && err > worst_small) worst_small = err, at = x[i];
    // Beyond the pieces GELU is x or 0: relative to 1 + |x| the error is float rounding.
    worst_rel = std::max(worst_rel, err / (1.0 + std::fabs(double(x[i]))));
  }
  std::printf("[bf16 gelu] max |error| %.3g on |x| <= 12 (at x = %.6g), max |error| / (1 + |x|) %.3g overall\n",
              worst_small, at, worst_rel);
  EXPECT_LT(worst_small, 5e-6);  // measured 3.2e-6
  EXPECT_LT(worst_rel, 2e-6);    // measured 1.6e-6 (at small x), float rounding of x beyond
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN()};
  float out[4];
  kernels::gelu_bf16(specials, out, 4);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(out[3]));
}

double gelu_grad_double(double x) {
  return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
}

// GELU's derivative of bf16 mixed-precision training (gelu_grad_bf16_v through gelu_backward_bf16) on the same grid.
TEST(Bf16Math, GeluGradAgainstDouble) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  const std::vector<float> x = gelu_grid();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> gy(x.size()), gx(x.size());
  for (int64_t i = 0; i < n; ++i) gy[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? -2.5f : 0.125f;  // exact scalings
  kernels::gelu_backward_bf16(x.data(), gy.data(), gx.data(), n);
  double worst = 0, at = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(gx[i]) / gy[i] - gelu_grad_double(x[i]));
    if (err > worst) worst = err, at = x[i];
  }
  std::printf("[bf16 gelu'] max |error| %.3g (at x = %.6g)\n", worst, at);
  EXPECT_LT(worst, 2e-6);  // measured 1.1e-6 (the last piece's constant at |x| = 5.37)
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN()};
  const float ones[] = {1, 1, 1, 1, 1};
  float out[5];
  kernels::gelu_backward_bf16(specials, ones, out, 5);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[1], 0.5f);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_TRUE(std::isnan(out[4]));
}

TEST(Bf16Math, DepthwiseAgainstDouble) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  struct Case {
    int64_t N, H, W, C, K, stride, padding;
  };
  const Case cases[] = {{2, 7, 9, 20, 3, 1, 1},  {1, 8, 8, 48, 3, 2, 1}, {1, 9, 11, 17, 3, 2, 1},
                        {3, 2, 2, 5, 3, 1, 1},   {1, 1, 1, 16, 3, 1, 1}, {1, 12, 13, 33, 5, 1, 2},
                        {1, 6, 14, 32, 3, 1, 0}, {1, 56, 56, 64, 3, 1, 1}};
  uint64_t seed = 7;
  for (const Case& c : cases) {
    Philox g(seed++, 3);
    const int64_t Ho = (c.H + 2 * c.padding - c.K) / c.stride + 1, Wo = (c.W + 2 * c.padding - c.K) / c.stride + 1;
    std::vector<float> x(c.N * c.H * c.W * c.C), w(c.K * c.K * c.C), b(c.C);
    for (auto& v : x) v = static_cast<float>(g.normal());
    for (auto& v : w) v = static_cast<float>(0.5 * g.normal());
    for (auto& v : b) v = static_cast<float>(0.5 * g.normal());
    std::vector<float> y(c.N * Ho * Wo * c.C, std::numeric_limits<float>::quiet_NaN()), pooled(c.N * c.C);
    kernels::depthwise_bias_gelu_bf16(c.N, c.H, c.W, c.C, c.K, c.K, c.stride, c.padding, x.data(), w.data(), b.data(),
                                      y.data(), pooled.data());
    double worst = 0, worst_pool = 0;
    std::vector<double> pool_ref(c.N * c.C, 0.0);
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow)
          for (int64_t ch = 0; ch < c.C; ++ch) {
            double s = b[ch], mag = std::fabs(b[ch]);
            for (int64_t kh = 0; kh < c.K; ++kh)
              for (int64_t kw = 0; kw < c.K; ++kw) {
                const int64_t ih = oh * c.stride - c.padding + kh, iw = ow * c.stride - c.padding + kw;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                const double p = double(x[((n * c.H + ih) * c.W + iw) * c.C + ch]) * w[(kh * c.K + kw) * c.C + ch];
                s += p;
                mag += std::fabs(p);
              }
            const double ref = gelu_double(s);
            pool_ref[n * c.C + ch] += ref / double(Ho * Wo);
            // fp32 summation of up to K*K + 1 terms (|GELU'| <= 1.13), plus the GELU approximation (3.2e-6).
            const double eps = std::numeric_limits<float>::epsilon();
            const double bound = 1.13 * (c.K * c.K + 1) * eps * mag + eps * std::fabs(ref) + 4e-6;
            const float got = y[((n * Ho + oh) * Wo + ow) * c.C + ch];
            ASSERT_FALSE(std::isnan(got)) << "unwritten output";
            worst = std::max(worst, std::fabs(got - ref) / bound);
          }
    for (int64_t i = 0; i < c.N * c.C; ++i)
      worst_pool = std::max(worst_pool, std::fabs(pooled[i] - pool_ref[i]) / (1e-5 * (1 + std::fabs(pool_ref[i]))));
    std::printf("[bf16 depthwise] N=%lld H=%lld W=%lld C=%lld K=%lld stride %lld: worst error / bound %.3g, "
                "pooled %.3g\n",
                (long long)c.N, (long long)c.H, (long long)c.W, (long long)c.C, (long long)c.K, (long long)c.stride,
                worst, worst_pool);
    EXPECT_LT(worst, 1.0);
    EXPECT_LT(worst_pool, 1.0);
  }
}

TEST(Bf16Math, LayerNormAgainstDouble) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  uint64_t seed = 40;
  for (int64_t C : {1, 7, 16, 20, 64, 100, 512}) {
    Philox g(seed++, 9);
    const int64_t rows = 37;
    std::vector<float> x(rows * C), gamma(C), beta(C), y(rows * C, std::numeric_limits<float>::quiet_NaN());
    // rows with a large common offset: the variance comes from a difference of nearby values
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < C; ++c) x[r * C + c] = static_cast<float>(10.0 * (r % 5) + g.normal());
    for (auto& v : gamma) v = static_cast<float>(1.0 + 0.3 * g.normal());
    for (auto& v : beta) v = static_cast<float>(0.3 * g.normal());
    kernels::layer_norm_bf16(rows, C, x.data(), gamma.data(), beta.data(), 1e-5f, y.data());
    double worst = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) mean += x[r * C + c];
      mean /= double(C);
      for (int64_t c = 0; c < C; ++c) var += (x[r * C + c] - mean) * (x[r * C + c] - mean);
      const double rstd = 1.0 / std::sqrt(var / double(C) + 1e-5);
      for (int64_t c = 0; c < C; ++c) {
        const double n = (x[r * C + c] - mean) * rstd, ref = n * gamma[c] + beta[c];
        // float32 roundings of the normalised value and of the mean, whose error (relative to |mean|) the
        // subtraction turns into an absolute one of |mean| rstd eps per element
        const double bound =
            3e-7 * (std::fabs(gamma[c]) * (1 + std::fabs(n) + std::fabs(mean) * rstd) + std::fabs(beta[c]));
        ASSERT_FALSE(std::isnan(y[r * C + c]));
        worst = std::max(worst, std::fabs(y[r * C + c] - ref) / bound);
      }
    }
    std::printf("[bf16 layer norm] C=%lld: worst error / bound %.3g\n", (long long)C, worst);
    EXPECT_LT(worst, 1.0);
  }
}

TEST(Bf16Math, AttentionAgainstDoubleOfRoundedInputs) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  struct Case {
    int64_t B, H, W, C, heads, P;
    kernels::AttentionPartition kind;
  };
  const Case cases[] = {{2, 14, 14, 64, 2, 7, kernels::AttentionPartition::window},
                        {1, 14, 21, 64, 2, 7, kernels::AttentionPartition::grid},
                        {2, 4, 6, 32, 2, 2, kernels::AttentionPartition::grid},
                        {1, 6, 6, 30, 2, 3, kernels::AttentionPartition::window},
                        {1, 8, 8, 40, 1, 4, kernels::AttentionPartition::grid},
                        {1, 18, 9, 140, 2, 9, kernels::AttentionPartition::grid}};
  uint64_t seed = 21;
  for (const Case& c : cases) {
    Philox g(seed++, 5);
    const int64_t N = c.P * c.P, D = c.C / c.heads, G = (c.H / c.P) * (c.W / c.P), span = 2 * c.P - 1;
    std::vector<float> qkv(c.B * c.H * c.W * 3 * c.C), table(span * span * c.heads);
    for (auto& v : qkv) v = static_cast<float>(2.0 * g.normal());
    for (auto& v : table) v = static_cast<float>(g.normal());
    kernels::RelposAttentionParams p;
    p.kind = c.kind, p.partition = c.P, p.heads = c.heads, p.scale = 1.0 / std::sqrt(double(c.C));
    std::vector<float> out(c.B * c.H * c.W * c.C, std::numeric_limits<float>::quiet_NaN());
    kernels::relpos_attention_forward_bf16(c.B, c.H, c.W, c.C, qkv.data(), table.data(), p, out.data());
    const float scale = static_cast<float>(p.scale);
    double worst = 0;
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t grp = 0; grp < G; ++grp)
        for (int64_t h = 0; h < c.heads; ++h) {
          std::vector<int64_t> px(N);
          for (int64_t t = 0; t < N; ++t) px[t] = kernels::relpos_attention_pixel(c.kind, c.H, c.W, c.P, grp, t);
          auto at = [&](int64_t t, int64_t part, int64_t d) {
            return qkv[((b * c.H * c.W) + px[t]) * 3 * c.C + part * c.C + h * D + d];
          };
          auto r16 = [](float v) { return double(kernels::round_to_bf16(&v, 1)[0]); };
          for (int64_t i = 0; i < N; ++i) {
            std::vector<double> s(N);
            double mx = -1e300;
            for (int64_t j = 0; j < N; ++j) {
              double acc = table[((i / c.P - j / c.P + c.P - 1) * span + (i % c.P - j % c.P + c.P - 1)) * c.heads + h];
              for (int64_t d = 0; d < D; ++d) acc += r16(at(i, 0, d)) * r16(at(j, 1, d) * scale);
              s[j] = acc;
              mx = std::max(mx, acc);
            }
            double sum = 0;
            for (auto& v : s) sum += (v = std::exp(v - mx));
            for (int64_t d = 0; d < D; ++d) {
              double ref = 0, mag = 0;
              for (int64_t j = 0; j < N; ++j) {
                ref += s[j] * r16(at(j, 2, d)) / sum;
                mag += s[j] * std::fabs(r16(at(j, 2, d))) / sum;
              }
              // P rounded to bf16 (relative 2^-9 per weight, in numerator and denominator) + fp32 arithmetic.
              const double bound = 0x1p-8 * mag + 1e-5 * (1 + std::fabs(ref));
              const float got = out[((b * c.H * c.W) + px[i]) * c.C + h * D + d];
              ASSERT_FALSE(std::isnan(got)) << "unwritten output";
              worst = std::max(worst, std::fabs(got - ref) / bound);
            }
          }
        }
    std::printf("[bf16 attention] B=%lld H=%lld W=%lld C=%lld heads=%lld P=%lld %s: worst error / bound %.3g\n",
                (long long)c.B, (long long)c.H, (long long)c.W, (long long)c.C, (long long)c.heads, (long long)c.P,
                c.kind == kernels::AttentionPartition::window ? "window" : "grid", worst);
    EXPECT_LT(worst, 1.0);
  }
}

}  // namespace
}  // namespace cage::test
