// The general bf16 GEMM for training (kernels::gemm_bf16, and kernels::gemm<float> under
// set_gemm_precision(bf16)) against a double-precision GEMM of the bf16-rounded operands: every combination of
// transposes, alpha and beta (beta = 0 must ignore NaN in C), row / column / K tails, K across several blocks, and
// the thread-pool splits of gemm<float> (rows, columns, the K halves of weight-gradient shapes), whose results must
// not depend on the thread count. Products of bf16 are exact in fp32, so the only difference allowed is the fp32
// summation: |C - ref| <= 4 K eps32 sum_k |a_k b_k| + eps32 |beta C0|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "core/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "support/test_support.h"

namespace cage::test {
namespace {

std::vector<float> randn(int64_t n, uint64_t seed) { return test::randn(n, seed, 13); }

struct Shape {
  int64_t M, N, K;
  bool ta, tb;
  float alpha, beta;
};

// Restores fp32 GEMMs and the thread count however a test ends.
struct PrecisionGuard {
  int threads = num_threads();
  ~PrecisionGuard() {
    kernels::set_gemm_precision(kernels::GemmPrecision::fp32);
    set_num_threads(threads);
  }
};

// Runs one GEMM through `run` on strided operands and checks it; returns the worst |C - ref| / bound.
template <typename Run>
double check(const Shape& s, uint64_t seed, Run run) {
  const int64_t a_rows = s.ta ? s.K : s.M, a_cols = s.ta ? s.M : s.K;
  const int64_t b_rows = s.tb ? s.N : s.K, b_cols = s.tb ? s.K : s.N;
  const int64_t lda = a_cols + 3, ldb = b_cols + 1, ldc = s.N + 2;
  const std::vector<float> A = randn(a_rows * lda, seed), B = randn(b_rows * ldb, seed + 1);
  std::vector<float> C0 = randn(s.M * ldc, seed + 2);
  if (s.beta == 0.0f) C0.assign(C0.size(), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> C = C0;
  run(s, A.data(), lda, B.data(), ldb, C.data(), ldc);
  const std::vector<float> Ar = kernels::round_to_bf16(A.data(), A.size());
  const std::vector<float> Br = kernels::round_to_bf16(B.data(), B.size());
  const double eps = std::numeric_limits<float>::epsilon();
  double worst = 0;
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t j = 0; j < s.N; ++j) {
      double sum = 0, mag = 0;
      for (int64_t k = 0; k < s.K; ++k) {
        const double a = s.ta ? Ar[k * lda + i] : Ar[i * lda + k];
        const double b = s.tb ? Br[j * ldb + k] : Br[k * ldb + j];
        sum += a * b;
        mag += std::fabs(a * b);
      }
      const double c0 = s.beta == 0.0f ? 0.0 : double(s.beta) * C0[i * ldc + j];
      const double ref = double(s.alpha) * sum + c0;
      const double bound = 4.0 * s.K * eps * std::fabs(s.alpha) * mag + 2 * eps * std::fabs(c0) + 1e-30;
      const double err = std::fabs(double(C[i * ldc + j]) - ref);
      if (!(err <= bound)) {
        ADD_FAILURE() << "M " << s.M << " N " << s.N << " K " << s.K << " ta " << s.ta << " tb " << s.tb << " at ("
                      << i << ", " << j << "): " << C[i * ldc + j] << " vs " << ref << ", bound " << bound;
        return std::numeric_limits<double>::infinity();
      }
      worst = std::max(worst, err / bound);
    }
  for (int64_t i = 0; i < s.M; ++i)  // the padding columns of C are untouched
    for (int64_t j = s.N; j < ldc; ++j)
      if (std::memcmp(&C[i * ldc + j], &C0[i * ldc + j], 4) != 0) {
        ADD_FAILURE() << "wrote past column N at row " << i;
        return std::numeric_limits<double>::infinity();
      }
  return worst;
}

// kernels::gemm_bf16 called directly on each shape (seeds from `seed` on): the worst error over them.
template <size_t kN>
double worst_of_gemm_bf16(const Shape (&shapes)[kN], uint64_t seed) {
  double worst = 0;
  for (const Shape& s : shapes)
    worst = std::max(worst, check(s, seed += 3, [](const Shape& s, const float* A, int64_t lda, const float* B,
                                                   int64_t ldb, float* C, int64_t ldc) {
                       kernels::gemm_bf16(s.ta, s.tb, s.M, s.N, s.K, s.alpha, A, lda, B, ldb, s.beta, C, ldc);
                     }));
  return worst;
}

TEST(GemmBf16Train, SerialKernelMatchesDoubleGemmOfRoundedInputs) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  const Shape shapes[] = {
      {1, 1, 1, false, false, 1, 0},   {7, 5, 3, true, false, 1, 0},      {33, 31, 100, false, true, 1, 1},
      {65, 33, 385, true, true, 0.5f, 0}, {130, 47, 769, false, false, -2, 0.25f}, {17, 200, 64, true, false, 1, 1},
      {200, 17, 33, false, true, 1, 0},  {9, 100, 1001, true, true, 1, -1},  {64, 16, 384, true, false, 1, 0},
      {16, 64, 2, false, false, 1, 1},
  };
  std::printf("[bf16 gemm] serial: worst |C - ref| / summation bound %.3g\n", worst_of_gemm_bf16(shapes, 100));
}

// Operands of 6 MiB and more: the micro kernel also prefetches the next blocks' fp32 operands (and the rows of C
// a later K block adds to), a separate instantiation; K over several blocks, each transpose, beta != 0.
TEST(GemmBf16Train, LargeOperandsThroughThePrefetchingKernel) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  const Shape shapes[] = {{2000, 40, 900, false, false, 1, 0},
                          {1500, 50, 1100, false, true, 1, 0.5f},
                          {48, 72, 15000, true, false, 1, 0},
                          {70, 90, 11000, true, true, -1, 1}};
  for (const Shape& s : shapes) ASSERT_GE((s.M + s.N) * s.K * 4, int64_t(6) << 20);
  std::printf("[bf16 gemm] large operands: worst |C - ref| / summation bound %.3g\n", worst_of_gemm_bf16(shapes, 900));
}

// kernels::gemm<float> with bf16 precision: the splits over threads, identical bits at 1 and 2 threads.
TEST(GemmBf16Train, GemmUnderBf16PrecisionSplitsOverThreadsIdentically) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  PrecisionGuard guard;
  kernels::set_gemm_precision(kernels::GemmPrecision::bf16);
  // Rows split, columns split (few rows; and N > M, where bf16 splits columns too), the K halves
  // (weight-gradient shape, ta) and K halves with beta = 1.
  const Shape shapes[] = {{300, 70, 130, false, true, 1, 0},
                          {20, 500, 200, false, false, 1, 0},
                          {70, 300, 390, true, true, 1, 0.5f},
                          {40, 24, 5000, true, false, 1, 0},
                          {32, 48, 4100, true, false, 1, 1}};
  uint64_t seed = 500;
  double worst = 0;
  for (const Shape& s : shapes) {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      worst = std::max(worst, check(s, seed, [&](const Shape& s, const float* A, int64_t lda, const float* B,
                                                 int64_t ldb, float* C, int64_t ldc) {
                         kernels::gemm<float>(s.ta, s.tb, s.M, s.N, s.K, s.alpha, A, lda, B, ldb, s.beta, C, ldc);
                         results.emplace_back(C, C + s.M * ldc);
                       }));
    }
    EXPECT_EQ(0, std::memcmp(results[0].data(), results[1].data(), results[0].size() * 4))
        << "M " << s.M << " N " << s.N << " K " << s.K << ": results differ between 1 and 2 threads";
    seed += 3;
  }
  std::printf("[bf16 gemm] through gemm<float>: worst |C - ref| / summation bound %.3g\n", worst);
}

// Under bf16 precision, degenerate products (a vector operand) stay float32: exactly OpenBLAS's result.
TEST(GemmBf16Train, DegenerateProductsStayFloat32) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  PrecisionGuard guard;
  const int64_t M = 1, N = 40, K = 300;
  const std::vector<float> A = randn(M * K, 7), B = randn(K * N, 8);
  std::vector<float> c32(N), c16(N);
  kernels::gemm<float>(false, false, M, N, K, 1, A.data(), K, B.data(), N, 0, c32.data(), N);
  kernels::set_gemm_precision(kernels::GemmPrecision::bf16);
  EXPECT_EQ(kernels::gemm_precision(), kernels::GemmPrecision::bf16);
  kernels::gemm<float>(false, false, M, N, K, 1, A.data(), K, B.data(), N, 0, c16.data(), N);
  EXPECT_EQ(0, std::memcmp(c32.data(), c16.data(), N * 4));
  // ... while a real product is computed on rounded operands (differs from fp32 for random data).
  const int64_t M2 = 32;
  const std::vector<float> A2 = randn(M2 * K, 9);
  std::vector<float> d16(M2 * N), d32(M2 * N);
  kernels::gemm<float>(false, false, M2, N, K, 1, A2.data(), K, B.data(), N, 0, d16.data(), N);
  kernels::set_gemm_precision(kernels::GemmPrecision::fp32);
  kernels::gemm<float>(false, false, M2, N, K, 1, A2.data(), K, B.data(), N, 0, d32.data(), N);
  EXPECT_NE(0, std::memcmp(d32.data(), d16.data(), d16.size() * 4));
}

}  // namespace
}  // namespace cage::test
