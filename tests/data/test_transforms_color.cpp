// Colour transforms and the pipeline without torch: the samplers' distributions (ColorJitter factor ranges and
// the uniformity of its 24 orders, RandomErasing's box area / aspect / probability, RandomGrayscale's p), the
// determinism of everything random under one Philox stream, and basic invariants of the adjustments. Pipeline
// specs are in test_pipeline.cpp; pixel parity with torchvision in tests/torch/test_transforms_color_torch.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/pipeline.h"
#include "data/transforms_color.h"
#include "data/transforms_geometric.h"

namespace cage::data {
namespace {

// Gradients with a hard-edged box and a little noise, so every transform has something to change.
Image test_image(int64_t h, int64_t w, uint64_t seed = 1) {
  Image img(h, w, 3);
  Philox rng(seed, 99);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = img.row(y) + x * 3;
      bool box = y > h / 4 && y < h / 2 && x > w / 3 && x < 2 * w / 3;
      int noise = static_cast<int>(rng.next_u32() % 9) - 4;
      p[0] = static_cast<uint8_t>(std::clamp(box ? 240 : static_cast<int>(255 * x / w) + noise, 0, 255));
      p[1] = static_cast<uint8_t>(std::clamp(box ? 20 : static_cast<int>(255 * y / h) + noise, 0, 255));
      p[2] = static_cast<uint8_t>(std::clamp(128 + static_cast<int>(100 * std::sin(x * 0.2 + y * 0.1)), 0, 255));
    }
  return img;
}

TEST(ColorJitterSampler, FactorsCoverTheirRangesAndAreFloat32) {
  ColorJitter jitter(0.2, 0.2, 0.2, 0.1);
  Philox rng(11);
  const int n = 20000;
  double lo[4] = {9, 9, 9, 9}, hi[4] = {-9, -9, -9, -9}, sum[4] = {0, 0, 0, 0};
  for (int k = 0; k < n; ++k) {
    ColorJitterParams p = jitter.sample(rng);
    double v[4] = {*p.brightness, *p.contrast, *p.saturation, *p.hue};
    for (int f = 0; f < 4; ++f) {
      EXPECT_EQ(static_cast<double>(static_cast<float>(v[f])), v[f]) << "factor " << f << " is not a float32 value";
      lo[f] = std::min(lo[f], v[f]);
      hi[f] = std::max(hi[f], v[f]);
      sum[f] += v[f];
    }
  }
  for (int f = 0; f < 3; ++f) {
    EXPECT_GE(lo[f], 0.8f) << f;
    EXPECT_LE(hi[f], 1.2f) << f;
    EXPECT_LT(lo[f], 0.801) << f;  // the ends are reached: a uniform over the whole range
    EXPECT_GT(hi[f], 1.199) << f;
    EXPECT_NEAR(sum[f] / n, 1.0, 0.003) << f;  // sd of the mean: 0.4 / sqrt(12 n) = 0.0008
  }
  EXPECT_GE(lo[3], -0.1f);
  EXPECT_LE(hi[3], 0.1f);
  EXPECT_LT(lo[3], -0.099);
  EXPECT_GT(hi[3], 0.099);
  EXPECT_NEAR(sum[3] / n, 0.0, 0.0015);
}

TEST(ColorJitterSampler, RangesFollowTorchvision) {
  ColorJitter big(1.5, 0.9, 0, 0.5);
  ASSERT_TRUE(big.brightness() && big.contrast() && big.hue());
  EXPECT_EQ(*big.brightness(), std::make_pair(0.0, 2.5));  // max(0, 1 - b)
  EXPECT_NEAR(big.contrast()->first, 0.1, 1e-12);
  EXPECT_EQ(*big.hue(), std::make_pair(-0.5, 0.5));
  EXPECT_FALSE(big.saturation());  // 0 turns the adjustment off: no factor, no draw
  Philox rng(3);
  ColorJitterParams p = big.sample(rng);
  EXPECT_FALSE(p.saturation);
  EXPECT_EQ(rng.offset(), 3u + 3u * 2u);  // 3 index draws for the order + 3 uniform doubles (2 draws each)
  EXPECT_THROW(ColorJitter(-0.1, 0, 0, 0), Error);
  EXPECT_THROW(ColorJitter(0, 0, 0, 0.6), Error);
}

TEST(ColorJitterSampler, OrderIsAUniformPermutation) {
  ColorJitter jitter(0.2, 0.2, 0.2, 0.1);
  Philox rng(12);
  const int n = 24000;
  std::map<std::array<int, 4>, int> counts;
  for (int k = 0; k < n; ++k) {
    ColorJitterParams p = jitter.sample(rng);
    std::array<int, 4> sorted = p.order;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted, (std::array<int, 4>{0, 1, 2, 3}));
    ++counts[p.order];
  }
  ASSERT_EQ(counts.size(), 24u);
  double chi2 = 0, expected = n / 24.0;
  for (auto& [order, c] : counts) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 49.7) << "chi-square over 24 orders (23 degrees of freedom, p = 0.001 critical value 49.7)";
}

TEST(ColorJitterSampler, SameStreamSameImage) {
  ColorJitter jitter(0.2, 0.2, 0.2, 0.1);
  Image img = test_image(40, 50);
  Philox a(5, 1), b(5, 1), c(5, 2);
  Image ja = jitter(img, a), jb = jitter(img, b), jc = jitter(img, c);
  EXPECT_EQ(ja.pixels, jb.pixels);
  EXPECT_EQ(a.offset(), b.offset());
  EXPECT_NE(ja.pixels, jc.pixels);  // another stream, other factors
  ColorJitterParams none;           // every adjustment off: the input comes back
  EXPECT_EQ(ColorJitter::apply(img, none).pixels, img.pixels);
}

TEST(ColorAdjust, DegenerateFactorsGiveTheDegenerateImage) {
  Image img = test_image(30, 41);
  for (uint8_t v : adjust_brightness(img, 0).pixels) EXPECT_EQ(v, 0);
  Image flat = adjust_contrast(img, 0);
  for (uint8_t v : flat.pixels) EXPECT_EQ(v, flat.pixels[0]);
  EXPECT_EQ(adjust_saturation(img, 0).pixels, to_grayscale(img, 3).pixels);
  EXPECT_EQ(adjust_brightness(img, 1).pixels, img.pixels);
  EXPECT_EQ(adjust_contrast(img, 1).pixels, img.pixels);
  EXPECT_EQ(adjust_saturation(img, 1).pixels, img.pixels);
  Image gray = to_grayscale(img, 1);
  EXPECT_EQ(gray.channels, 1);
  EXPECT_EQ(adjust_hue(gray, 0.3).pixels, gray.pixels);  // PIL leaves L images alone
  EXPECT_EQ(adjust_saturation(gray, 1.7).pixels, gray.pixels);
  EXPECT_THROW(adjust_hue(img, 0.51), Error);
  EXPECT_THROW(adjust_brightness(img, -1), Error);
  EXPECT_THROW(to_grayscale(img, 2), Error);
}

TEST(ColorAdjust, HueShiftsWrapAround) {
  // Pure red (hue 0) shifted by -1/3 of the circle lands on blue (hue 2/3), via the uint8 wrap; +1/3 on green.
  Image red(1, 1, 3);
  red.pixels = {255, 0, 0};
  Image minus = adjust_hue(red, -1.0 / 3), plus = adjust_hue(red, 1.0 / 3);
  EXPECT_LT(minus.pixels[0], 10);
  EXPECT_GT(minus.pixels[2], 245);
  EXPECT_GT(plus.pixels[1], 245);
  EXPECT_LT(plus.pixels[0], 10);
}

TEST(RandomGrayscaleSampler, ProbabilityAndChannels) {
  Image img = test_image(8, 8);
  Philox rng(21);
  int hits = 0;
  const int n = 10000;
  for (int k = 0; k < n; ++k) {
    Image g = random_grayscale(img, 0.3, rng);
    ASSERT_EQ(g.channels, 3);
    hits += g.pixels != img.pixels;
  }
  EXPECT_NEAR(hits / double(n), 0.3, 0.015);  // sd 0.0046
  EXPECT_EQ(random_grayscale(img, 0, rng).pixels, img.pixels);
  EXPECT_EQ(random_grayscale(img, 1, rng).pixels, to_grayscale(img, 3).pixels);
}

TEST(RandomErasingSampler, BoxAreaAspectAndPlacement) {
  RandomErasing erasing(0.5, {0.02, 0.2}, {0.3, 3.3});
  Philox rng(31);
  const int64_t H = 224, W = 224;
  const int n = 20000;
  double area_sum = 0, log_aspect_sum = 0, area_min = 1, area_max = 0;
  int64_t i_max = 0, top_rows = 0;
  for (int k = 0; k < n; ++k) {
    auto box = erasing.sample_box(H, W, rng);
    ASSERT_TRUE(box.has_value());  // at this scale nearly every first attempt fits
    ASSERT_GE(box->i, 0);
    ASSERT_GE(box->j, 0);
    ASSERT_LE(box->i + box->h, H);
    ASSERT_LE(box->j + box->w, W);
    ASSERT_LT(box->h, H);
    ASSERT_LT(box->w, W);
    double a = double(box->h * box->w) / (H * W);
    area_sum += a;
    area_min = std::min(area_min, a);
    area_max = std::max(area_max, a);
    log_aspect_sum += std::log(double(box->h) / box->w);
    i_max = std::max(i_max, box->i);
    top_rows += box->i == 0;
  }
  // Rounding h and w to integers moves the area a little outside [0.02, 0.2]; the mean is that of U(0.02, 0.2).
  EXPECT_GT(area_min, 0.015);
  EXPECT_LT(area_max, 0.215);
  EXPECT_NEAR(area_sum / n, 0.11, 0.003);
  EXPECT_NEAR(log_aspect_sum / n, (std::log(0.3) + std::log(3.3)) / 2, 0.03);  // log-uniform aspect
  EXPECT_GT(i_max, 150);   // corners spread over the whole valid range
  EXPECT_GT(top_rows, 20);  // ... including 0
  // A box that can never fit (scale 1, ratio 1: h = H) gives up after 10 attempts of 2 uniform doubles.
  RandomErasing never(1.0, {1.0, 1.0}, {1.0, 1.0});
  uint64_t before = rng.offset();
  EXPECT_FALSE(never.sample_box(H, W, rng).has_value());
  EXPECT_EQ(rng.offset() - before, 10u * 4u);
  EXPECT_THROW(RandomErasing(0.5, {0.2, 0.02}, {0.3, 3.3}), Error);
  EXPECT_THROW(RandomErasing(1.5, {0.02, 0.2}, {0.3, 3.3}), Error);
}

TEST(RandomErasingSampler, ProbabilityAndNormalValues) {
  RandomErasing erasing(0.5, {0.02, 0.2}, {0.3, 3.3});
  FloatImage base(32, 32, 3);
  std::fill(base.values.begin(), base.values.end(), 100.0f);  // no normal value is 100
  Philox rng(41);
  int erased = 0;
  double sum = 0, sq = 0;
  int64_t count = 0;
  const int n = 4000;
  for (int k = 0; k < n; ++k) {
    FloatImage img = base;
    erasing(img, rng);
    bool any = false;
    for (float v : img.values)
      if (v != 100.0f) {
        any = true;
        sum += v;
        sq += double(v) * v;
        ++count;
      }
    erased += any;
  }
  EXPECT_NEAR(erased / double(n), 0.5, 0.03);  // sd 0.008
  double mean = sum / count, var = sq / count - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
}

TEST(StandardNormal, MomentsAndStreamPosition) {
  std::vector<float> v(200001);
  Philox rng(51);
  fill_standard_normal(v.data(), static_cast<int64_t>(v.size()), rng);
  EXPECT_EQ(rng.offset(), 200002u);  // two draws per pair, the last pair's second value unused
  double s = 0, s2 = 0, s4 = 0;
  int64_t beyond3 = 0;
  for (float x : v) {
    s += x;
    s2 += double(x) * x;
    s4 += double(x) * x * x * x;
    beyond3 += std::fabs(x) > 3;
  }
  double n = double(v.size());
  EXPECT_NEAR(s / n, 0, 0.01);
  EXPECT_NEAR(s2 / n, 1, 0.01);
  EXPECT_NEAR(s4 / n, 3, 0.1);  // kurtosis of a normal
  EXPECT_NEAR(beyond3 / n, 0.0027, 0.0006);
  // Split fills continue the same stream: 4 + 6 values equal 10 values.
  std::vector<float> a(10), b(10);
  Philox r1(52), r2(52);
  fill_standard_normal(a.data(), 10, r1);
  fill_standard_normal(b.data(), 4, r2);
  fill_standard_normal(b.data() + 4, 6, r2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(r1.offset(), r2.offset());
}

TEST(Normalize, TableMatchesDirectFloat32AndChecksChannels) {
  Image img = test_image(5, 7);
  Normalization norm = imagenet_normalization();
  FloatImage f = to_float_normalize(img, norm);
  for (size_t k = 0; k < img.pixels.size(); ++k) {
    float x = static_cast<float>(img.pixels[k]) / 255.0f;
    EXPECT_EQ(f.values[k], (x - norm.mean[k % 3]) / norm.std[k % 3]);
  }
  EXPECT_THROW(to_float_normalize(to_grayscale(img, 1), norm), Error);  // 3 means for 1 channel
  EXPECT_THROW(to_float_normalize(img, Normalization{{0.5f}, {0.0f}}), Error);
  FloatImage t = to_float(img);
  EXPECT_EQ(t.values[3], img.pixels[3] / 255.0f);
}

TEST(Erase, ValueLayoutsAndBounds) {
  FloatImage img(4, 5, 3);
  erase(img, 1, 2, 2, 3, {7.0f});
  EXPECT_EQ(img.values[(1 * 5 + 2) * 3 + 1], 7.0f);
  EXPECT_EQ(img.values[(0 * 5 + 2) * 3 + 1], 0.0f);
  erase(img, 0, 0, 1, 1, {1.0f, 2.0f, 3.0f});
  EXPECT_EQ(img.values[2], 3.0f);
  std::vector<float> per(2 * 2 * 3);
  for (size_t k = 0; k < per.size(); ++k) per[k] = float(k);
  erase(img, 2, 3, 2, 2, per);
  EXPECT_EQ(img.values[(3 * 5 + 4) * 3 + 2], 11.0f);  // last element of the box: last value
  EXPECT_THROW(erase(img, 3, 0, 2, 1, {0.0f}), Error);  // rows 3..4 of a 4-row image
  EXPECT_THROW(erase(img, 0, 0, 1, 1, {0.0f, 1.0f}), Error);
}

}  // namespace
}  // namespace cage::data
