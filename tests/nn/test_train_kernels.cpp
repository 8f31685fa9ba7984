// The training-path CPU kernels whose reduction order is their own, against plain float64 loops on float32 data:
// the GEMM's K split for weight-gradient shapes (and its independence of the thread count), sum_to's blocked
// and fallback patterns, the depthwise convolution's weight gradient (row chunks), stride 1 and 2, and the dense
// convolution's gradients across im2col chunks that cut images.
// Inputs are random; errors are printed next to the tolerances.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/philox.h"
#include "core/thread_pool.h"
#include "kernels/conv.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "support/test_support.h"

namespace cage::test {
namespace {

std::vector<float> random_floats(int64_t n, Philox& rng) {
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(2 * rng.uniform_double() - 1);
  return v;
}

// max |got - want| / (1 + |want|)
double rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  EXPECT_EQ(got.size(), want.size());
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) e = std::max(e, std::abs(got[i] - want[i]) / (1 + std::abs(want[i])));
  return e;
}

TEST(TrainKernels, GemmKSplitMatchesFloat64AndIgnoresThreadCount) {
  Philox rng(7, 0);
  const int64_t M = 33, N = 17, K = 5001, ldc = N + 3;  // K >= 4096 and >= 4 max(M, N): the split path
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        std::vector<float> A = random_floats(M * K, rng), B = random_floats(K * N, rng), C0 = random_floats(M * ldc, rng);
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;
        auto a = [&](int64_t i, int64_t k) { return double(ta ? A[k * lda + i] : A[i * lda + k]); };
        auto b = [&](int64_t k, int64_t j) { return double(tb ? B[j * ldb + k] : B[k * ldb + j]); };
        std::vector<double> want(M * N);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += a(i, k) * b(k, j);
            want[i * N + j] = 0.5 * s + beta * C0[i * ldc + j];
          }
        std::vector<std::vector<float>> results;
        const int saved = num_threads();
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          std::vector<float> C = C0;
          kernels::gemm<float>(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          std::vector<float> got(M * N);
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) got[i * N + j] = C[i * ldc + j];
          for (int64_t i = 0; i < M; ++i)  // the padding columns of C are not touched
            for (int64_t j = N; j < ldc; ++j) ASSERT_EQ(C[i * ldc + j], C0[i * ldc + j]);
          results.push_back(got);
        }
        set_num_threads(saved);
        const double e = rel_err(results[0], want);
        std::printf("gemm K split ta=%d tb=%d beta=%g: max rel err %.3g\n", ta, tb, beta, e);
        EXPECT_LT(e, 2e-5);
        EXPECT_EQ(results[0], results[1]) << "result depends on the thread count";
      }
}

// sum_to of a (shape) tensor to `to`, against a float64 loop over the broadcast index map.
void check_sum_to(const Shape& shape, const Shape& to, Philox& rng) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> g = random_floats(n, rng);
  Tensor out = kernels::sum_to(Tensor::from_vector(g, shape), to);
  ASSERT_EQ(out.shape(), to);
  int64_t m = 1;
  for (int64_t d : to) m *= d;
  std::vector<double> want(static_cast<size_t>(m), 0.0);
  const size_t lead = shape.size() - to.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, off = 0, stride = 1;
    for (size_t k = shape.size(); k-- > 0;) {
      const int64_t idx = rem % shape[k];
      rem /= shape[k];
      if (k >= lead && to[k - lead] != 1) {
        off += idx * stride;
        stride *= to[k - lead];
      }
    }
    want[off] += g[i];
  }
  const double e = rel_err(out.to_vector<float>(), want);
  std::printf("sum_to %s -> %s: max rel err %.3g\n", shape_str(shape).c_str(), shape_str(to).c_str(), e);
  EXPECT_LT(e, 1e-5);
}

TEST(TrainKernels, SumToPatterns) {
  Philox rng(8, 0);
  check_sum_to({3000, 37}, {37}, rng);               // bias: one block of rows (chunked)
  check_sum_to({5, 7, 9, 33}, {1, 1, 33}, rng);        // leading dims, few rows
  check_sum_to({9, 11, 13, 5}, {9, 1, 1, 5}, rng);     // per-image gate: parallel over images
  check_sum_to({2, 400, 3}, {2, 1, 3}, rng);           // few outer slices, many rows
  check_sum_to({6, 200}, {6, 1}, rng);                 // reduce the last dimension
  check_sum_to({4, 5, 6}, {1, 5, 1}, rng);             // reduced on both sides: the serial fallback
  check_sum_to({4, 1, 6}, {6}, rng);
}

// Also under bf16 mixed precision, whose weight gradient sums each output row's products in float first.
TEST(TrainKernels, DepthwiseGradients) {
  Philox rng(9, 0);
  for (int64_t stride : {1, 2, -1, -2}) {
    const bool mixed = stride < 0;
    stride = std::abs(stride);
    if (mixed && !kernels::bf16_gemm_supported()) continue;
    kernels::GemmPrecisionScope precision(mixed ? kernels::GemmPrecision::bf16 : kernels::GemmPrecision::fp32);
    kernels::Conv2dShape s{};
    s.N = 3, s.H = 9, s.W = 11, s.Cin = 37, s.KH = 3, s.KW = 3, s.Cout = 37, s.stride = stride, s.padding = 1;
    s.groups = 37;
    s.Ho = (s.H + 2 * s.padding - s.KH) / stride + 1;
    s.Wo = (s.W + 2 * s.padding - s.KW) / stride + 1;
    const int64_t C = s.Cin;
    std::vector<float> x = random_floats(s.N * s.H * s.W * C, rng), w = random_floats(9 * C, rng),
                       gy = random_floats(s.N * s.Ho * s.Wo * C, rng);
    Tensor gw = Tensor::full({3, 3, 1, C}, NAN), gx = Tensor::full({s.N, s.H, s.W, C}, NAN);
    kernels::depthwise_conv2d_backward(s, Tensor::from_vector(x, {s.N, s.H, s.W, C}), Tensor::from_vector(w, {3, 3, 1, C}),
                                       Tensor::from_vector(gy, {s.N, s.Ho, s.Wo, C}), gx, gw);
    std::vector<double> want(9 * C, 0.0), want_gx(x.size(), 0.0);
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow)
          for (int64_t kh = 0; kh < 3; ++kh)
            for (int64_t kw = 0; kw < 3; ++kw) {
              const int64_t ih = oh * stride - 1 + kh, iw = ow * stride - 1 + kw;
              if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
              for (int64_t c = 0; c < C; ++c) {
                const double go = gy[((n * s.Ho + oh) * s.Wo + ow) * C + c];
                want[(kh * 3 + kw) * C + c] += go * x[((n * s.H + ih) * s.W + iw) * C + c];
                want_gx[((n * s.H + ih) * s.W + iw) * C + c] += go * w[(kh * 3 + kw) * C + c];
              }
            }
    const double e = rel_err(gw.to_vector<float>(), want), ex = rel_err(gx.to_vector<float>(), want_gx);
    std::printf("depthwise stride %ld%s: gw max rel err %.3g, gx %.3g\n", static_cast<long>(stride),
                mixed ? " (bf16 mixed precision)" : "", e, ex);
    EXPECT_LT(e, 1e-5);
    EXPECT_LT(ex, 1e-5);
  }
}

// Dense 3x3 convolution gradients with the im2col chunks (2^19 column elements) cutting images between rows:
// 40 x 64 x 9 columns per output row, so chunks of 22 rows (stride 1) or 45 rows (stride 2, 31 rows per image).
TEST(TrainKernels, ConvGradientsAcrossColumnChunks) {
  Philox rng(10, 0);
  for (int64_t stride : {1, 2}) {
    const int64_t N = 2, H = stride == 1 ? 50 : 61, W = stride == 1 ? 40 : 39, Cin = 64, Cout = 5;
    Shape xs{N, H, W, Cin}, ws{3, 3, Cin, Cout};
    kernels::Conv2dShape s = kernels::conv2d_shape(xs, ws, stride, 1, 1);
    std::vector<float> x = random_floats(N * H * W * Cin, rng), w = random_floats(9 * Cin * Cout, rng),
                       gy = random_floats(N * s.Ho * s.Wo * Cout, rng);
    Tensor gw = Tensor::full(ws, NAN), gx = Tensor::full(xs, NAN);
    kernels::conv2d_backward(s, Tensor::from_vector(x, xs), Tensor::from_vector(w, ws),
                             Tensor::from_vector(gy, {N, s.Ho, s.Wo, Cout}), gx, gw, Tensor());
    std::vector<double> want_gw(w.size(), 0.0), want_gx(x.size(), 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow)
          for (int64_t kh = 0; kh < 3; ++kh)
            for (int64_t kw = 0; kw < 3; ++kw) {
              const int64_t ih = oh * stride - 1 + kh, iw = ow * stride - 1 + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const float* xi = x.data() + ((n * H + ih) * W + iw) * Cin;
              const float* go = gy.data() + ((n * s.Ho + oh) * s.Wo + ow) * Cout;
              for (int64_t ci = 0; ci < Cin; ++ci)
                for (int64_t co = 0; co < Cout; ++co) {
                  const int64_t wi = ((kh * 3 + kw) * Cin + ci) * Cout + co;
                  want_gw[wi] += static_cast<double>(go[co]) * xi[ci];
                  want_gx[((n * H + ih) * W + iw) * Cin + ci] += static_cast<double>(go[co]) * w[wi];
                }
            }
    const double e = rel_err(gw.to_vector<float>(), want_gw), ex = rel_err(gx.to_vector<float>(), want_gx);
    std::printf("conv 3x3 stride %ld: gw max rel err %.3g, gx %.3g\n", static_cast<long>(stride), e, ex);
    // gw: float GEMM sums of N * Ho * Wo = 4000 products (1.0-1.9e-5 measured, with image-sized chunks too)
    EXPECT_LT(e, 5e-5);
    EXPECT_LT(ex, 1e-5);
  }
}

}  // namespace
}  // namespace cage::test
