// Dropout and stochastic depth semantics: drop rate, survivor scaling, eval / p = 0 identity, whole-sample
// drops, and masks that depend only on the Philox seed, stream and offset (never on the thread count).
#include <gtest/gtest.h>

#include <cmath>

#include "core/thread_pool.h"
#include "nn/functional.h"
#include "support/test_support.h"

namespace cage::test {
namespace {

// Inputs in [1, 2): a zero in the output can only come from the mask.
Tensor positive(const Shape& shape, uint64_t seed, DType dt = DType::f32) {
  Philox rng(seed);
  return random_tensor(shape, rng, 1, 2, dt);
}

// Fraction of zeros, and whether every non-zero equals x / (1 - p) (to float rounding).
struct MaskStats {
  double zero_fraction = 0;
  int64_t badly_scaled = 0;
};
MaskStats mask_stats(const Tensor& x, const Tensor& y, double p) {
  std::vector<double> a = x.to(DType::f64).to_vector<double>(), b = y.to(DType::f64).to_vector<double>();
  MaskStats s;
  int64_t zeros = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (b[i] == 0) {
      ++zeros;
    } else if (std::fabs(b[i] - a[i] / (1 - p)) > 1e-6 * std::fabs(b[i])) {
      ++s.badly_scaled;
    }
  }
  s.zero_fraction = static_cast<double>(zeros) / static_cast<double>(a.size());
  return s;
}

TEST(Dropout, DropRateAndScaling) {
  const int64_t n = 1 << 20;
  Tensor x = positive({n / 64, 64}, 1);
  for (double p : {0.1, 0.3, 0.75}) {
    Philox rng(42);
    Tensor y = nn::dropout(x, p, true, rng);
    MaskStats s = mask_stats(x, y, p);
    // Binomial: six standard deviations of the observed fraction (~3e-3 at most for n = 2^20).
    double bound = 6 * std::sqrt(p * (1 - p) / static_cast<double>(n));
    EXPECT_NEAR(s.zero_fraction, p, bound) << "p = " << p;
    EXPECT_EQ(s.badly_scaled, 0) << "p = " << p;
  }
}

TEST(Dropout, IdentityInEvalAndForZeroProbability) {
  Tensor x = positive({7, 9, 5}, 2);
  Philox rng(3);
  EXPECT_TRUE(allclose(nn::dropout(x, 0.5, false, rng), x, 0, 0));
  EXPECT_TRUE(allclose(nn::dropout(x, 0.0, true, rng), x, 0, 0));
  EXPECT_TRUE(allclose(nn::stochastic_depth(x, 0.5, false, rng), x, 0, 0));
  EXPECT_TRUE(allclose(nn::stochastic_depth(x, 0.0, true, rng), x, 0, 0));
  // p = 1 drops everything (no division by zero).
  EXPECT_TRUE(allclose(nn::dropout(x, 1.0, true, rng), Tensor::zeros(x.shape()), 0, 0));
  EXPECT_THROW(nn::dropout(x, 1.5, true, rng), Error);
  EXPECT_THROW(nn::dropout(x, -0.1, true, rng), Error);
}

TEST(Dropout, SameSeedSameMaskDifferentSeedDifferentMask) {
  Tensor x = positive({64, 33}, 4);
  Philox a(5), b(5), c(6);
  Tensor ya = nn::dropout(x, 0.5, true, a), yb = nn::dropout(x, 0.5, true, b), yc = nn::dropout(x, 0.5, true, c);
  EXPECT_TRUE(allclose(ya, yb, 0, 0));
  EXPECT_FALSE(allclose(ya, yc, 0, 0));
  // The generator advances: a second call on the same stream draws a new mask, and resuming from the
  // saved offset replays it.
  Philox d(5);
  uint64_t before = d.offset();
  Tensor first = nn::dropout(x, 0.5, true, d);
  uint64_t mid = d.offset();
  EXPECT_GT(mid, before);
  Tensor second = nn::dropout(x, 0.5, true, d);
  EXPECT_FALSE(allclose(first, second, 0, 0));
  Philox e(5);
  e.set_offset(mid);
  EXPECT_TRUE(allclose(nn::dropout(x, 0.5, true, e), second, 0, 0));
}

TEST(Dropout, MaskIndependentOfThreadCount) {
  const int saved = num_threads();
  Tensor x = positive({512, 257}, 8);
  Tensor y[3];
  int counts[3] = {1, 3, 8};
  for (int i = 0; i < 3; ++i) {
    set_num_threads(counts[i]);
    Philox rng(77);
    y[i] = nn::dropout(x, 0.3, true, rng);
  }
  set_num_threads(saved);
  EXPECT_TRUE(allclose(y[1], y[0], 0, 0));
  EXPECT_TRUE(allclose(y[2], y[0], 0, 0));
}

TEST(StochasticDepth, DropsWholeSamples) {
  const int64_t n = 4000;
  const double p = 0.3;
  Tensor x = positive({n, 3, 2, 4}, 9);
  Philox rng(10);
  Tensor y = nn::stochastic_depth(x, p, true, rng);
  ASSERT_EQ(y.shape(), x.shape());
  std::vector<float> a = x.to_vector<float>(), b = y.to_vector<float>();
  const int64_t per = 24;
  int64_t dropped = 0, mixed = 0, badly_scaled = 0;
  for (int64_t s = 0; s < n; ++s) {
    int64_t zeros = 0;
    for (int64_t j = 0; j < per; ++j) {
      float v = b[s * per + j];
      if (v == 0) ++zeros;
      else if (std::fabs(v - a[s * per + j] / (1 - p)) > 1e-6 * std::fabs(v)) ++badly_scaled;
    }
    if (zeros == per) ++dropped;
    else if (zeros != 0) ++mixed;
  }
  EXPECT_EQ(mixed, 0) << "samples partly dropped";
  EXPECT_EQ(badly_scaled, 0);
  EXPECT_NEAR(static_cast<double>(dropped) / n, p, 6 * std::sqrt(p * (1 - p) / n));
}

TEST(StochasticDepth, SeedsAndThreads) {
  const int saved = num_threads();
  Tensor x = positive({256, 4, 4, 3}, 11);
  set_num_threads(1);
  Philox a(3);
  Tensor y1 = nn::stochastic_depth(x, 0.5, true, a);
  set_num_threads(4);
  Philox b(3), c(4);
  Tensor y4 = nn::stochastic_depth(x, 0.5, true, b);
  Tensor other = nn::stochastic_depth(x, 0.5, true, c);
  set_num_threads(saved);
  EXPECT_TRUE(allclose(y4, y1, 0, 0));
  EXPECT_FALSE(allclose(other, y1, 0, 0));
}

}  // namespace
}  // namespace cage::test
