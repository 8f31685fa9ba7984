// The AVX-512 BF16 GEMM (kernels/gemm_bf16.h) against a double-precision GEMM of the bf16-rounded inputs, at
// odd sizes (row, column and K tails; K odd and across the K blocks), with every epilogue variant and both
// layouts of B. Products of bf16 are exact in fp32, so the only difference allowed is fp32 summation order:
// |C - ref| <= 4 K eps32 sum_k |a_k b_k| (+ the epilogue's own rounding).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/philox.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/gemm_bf16.h"
#include "support/test_support.h"

namespace cage::test {
namespace {

std::vector<float> randn(int64_t n, uint64_t seed) { return test::randn(n, seed, 11); }

struct Case {
  int64_t M, N, K;
  bool trans_b, bias, residual;
  kernels::Act act;
};

TEST(GemmBf16, MatchesDoubleGemmOfRoundedInputs) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  const Case cases[] = {
      {1, 1, 1, false, false, false, kernels::Act::none},     {7, 5, 3, true, true, false, kernels::Act::gelu},
      {33, 31, 100, false, true, true, kernels::Act::none},   {65, 33, 385, true, true, true, kernels::Act::gelu},
      {130, 47, 769, false, false, true, kernels::Act::gelu}, {3, 200, 64, true, true, false, kernels::Act::none},
      {200, 17, 33, false, true, true, kernels::Act::gelu},   {9, 1000, 1001, true, true, true, kernels::Act::none},
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    const int64_t lda = c.K + 3, ldc = c.N + 2, ldr = c.N + 5;
    const int64_t ldb = c.trans_b ? c.K + 1 : c.N + 1;
    std::vector<float> A = randn(c.M * lda, seed++), B = randn((c.trans_b ? c.N : c.K) * ldb, seed++);
    std::vector<float> bias = randn(c.N, seed++), res = randn(c.M * ldr, seed++);
    std::vector<float> C(c.M * ldc, std::numeric_limits<float>::quiet_NaN());
    kernels::PackedBf16 P = kernels::pack_bf16(c.trans_b, c.K, c.N, B.data(), ldb);
    kernels::gemm_bf16_epilogue(c.M, A.data(), lda, P, c.bias ? bias.data() : nullptr, c.act,
                                c.residual ? res.data() : nullptr, ldr, C.data(), ldc);
    std::vector<float> Ar = kernels::round_to_bf16(A.data(), A.size()), Br = kernels::round_to_bf16(B.data(), B.size());
    double worst = 0;  // |C - ref| / bound
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const double p = double(Ar[i * lda + k]) * (c.trans_b ? Br[j * ldb + k] : Br[k * ldb + j]);
          s += p;
          mag += std::fabs(p);
        }
        // The reference epilogue in float32 from the exact sum rounded to float, as the kernel's inputs to it.
        float v = static_cast<float>(s);
        if (c.bias) v += bias[j];
        if (c.act == kernels::Act::gelu) v = kernels::gelu_f32(v);
        if (c.residual) v += res[i * ldr + j];
        const double eps = std::numeric_limits<float>::epsilon();
        // + the bf16 path's GELU: the piecewise cubic of kernels/cpu/bf16_math.h, max |error| 3.2e-6 against erf
        // for |x| <= 12 and 1.6e-6 (1 + |x|) beyond (tests/models/test_bf16_math.cpp).
        const double gelu_err = c.act == kernels::Act::gelu ? 3.3e-6 * (1 + std::fabs(v)) : 0.0;
        const double bound = 4 * c.K * eps * mag * 1.2 + 4 * eps * (std::fabs(v) + 1e-30) + 1e-6 + gelu_err;
        const double err = std::fabs(double(C[i * ldc + j]) - v);
        ASSERT_FALSE(std::isnan(C[i * ldc + j])) << "unwritten element " << i << "," << j;
        worst = std::max(worst, err / bound);
      }
    for (int64_t i = 0; i < c.M; ++i)  // padding between rows stays untouched
      for (int64_t j = c.N; j < ldc; ++j) ASSERT_TRUE(std::isnan(C[i * ldc + j]));
    std::printf("[bf16 gemm] M=%lld N=%lld K=%lld: worst error / bound %.3g\n", (long long)c.M, (long long)c.N,
                (long long)c.K, worst);
    EXPECT_LT(worst, 1.0);
  }
}

TEST(GemmBf16, ColumnScaleOfAEqualsPrescaledA) {
  // k_scale multiplies A's columns in fp32 before the rounding: bit-identical to scaling A beforehand.
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  for (int64_t K : {1, 16, 31, 33, 67, 400}) {
    const int64_t M = 37, N = 45, lda = K + 1;
    std::vector<float> A = randn(M * lda, 100 + K), B = randn(K * N, 200 + K), g = randn(K, 300 + K);
    std::vector<float> As = A, bias = randn(N, 400 + K), res = randn(M * N, 500 + K);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) As[i * lda + k] *= g[k];
    kernels::PackedBf16 P = kernels::pack_bf16(false, K, N, B.data(), N);
    std::vector<float> C1(M * N, std::numeric_limits<float>::quiet_NaN()), C2 = C1;
    kernels::gemm_bf16_epilogue(M, A.data(), lda, P, bias.data(), kernels::Act::gelu, res.data(), N, C1.data(), N,
                                g.data());
    kernels::gemm_bf16_epilogue(M, As.data(), lda, P, bias.data(), kernels::Act::gelu, res.data(), N, C2.data(), N);
    for (int64_t i = 0; i < M * N; ++i) ASSERT_EQ(C1[i], C2[i]) << "K=" << K << " element " << i;
  }
}

TEST(GemmBf16, RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1).
  const float x[] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -2.5f};
  std::vector<float> r = kernels::round_to_bf16(x, 3);
  EXPECT_EQ(r[0], 1.0f);
  EXPECT_EQ(r[1], 1.0f + 4.0f / 256);
  EXPECT_EQ(r[2], -2.5f);
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  // The kernel rounds A the same way: A = x (1 x 3), B = identity-like column picks.
  const float B[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  kernels::PackedBf16 P = kernels::pack_bf16(false, 3, 3, B, 3);
  float C[3];
  kernels::gemm_bf16_epilogue(1, x, 3, P, nullptr, kernels::Act::none, nullptr, 0, C, 3);
  for (int j = 0; j < 3; ++j) EXPECT_EQ(C[j], r[j]);
}

}  // namespace
}  // namespace cage::test
