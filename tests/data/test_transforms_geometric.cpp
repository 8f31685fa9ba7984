// data/transforms_geometric.h without Python: exact properties of the deterministic transforms, and the random
// transforms' distributions (torchvision's, drawn from Philox) checked statistically with fixed seeds. Pixel parity
// with torchvision is in tests/torch/test_transforms_geometric_torch.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <thread>
#include <vector>

#include "core/error.h"
#include "data/transforms_geometric.h"

namespace cage::data {
namespace {

Image numbered(int64_t h, int64_t w, int64_t c) {
  Image img(h, w, c);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(1 + (i * 37) % 251);
  return img;
}

uint8_t at(const Image& img, int64_t y, int64_t x, int64_t c = 0) { return img.row(y)[x * img.channels + c]; }

TEST(Geometric, FlipAndQuarterTurns) {
  const Image img = numbered(5, 7, 3);
  const Image f = hflip(img);
  for (int64_t y = 0; y < 5; ++y)
    for (int64_t x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(at(f, y, x, c), at(img, y, 6 - x, c));
  EXPECT_EQ(hflip(f).pixels, img.pixels);

  EXPECT_EQ(rotate(img, 0).pixels, img.pixels);
  EXPECT_EQ(rotate(img, 360).pixels, img.pixels);
  const Image r180 = rotate(img, 180);
  for (int64_t y = 0; y < 5; ++y)
    for (int64_t x = 0; x < 7; ++x) ASSERT_EQ(at(r180, y, x, 1), at(img, 4 - y, 6 - x, 1));
  // Counter-clockwise: on a square image the top row becomes the left column, read bottom to top.
  const Image sq = numbered(6, 6, 1);
  const Image r90 = rotate(sq, 90);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(at(r90, 5 - i, 0), at(sq, 0, i));
  EXPECT_EQ(rotate(sq, -90).pixels, rotate(sq, 270).pixels);
  EXPECT_EQ(rotate(rotate(sq, 90), 90).pixels, rotate(sq, 180).pixels);
}

TEST(Geometric, RotationKeepsSizeAndFillsCornersWithZero) {
  Image img(40, 60, 3);
  std::fill(img.pixels.begin(), img.pixels.end(), 200);
  for (Interpolation mode : {Interpolation::nearest, Interpolation::bilinear, Interpolation::bicubic}) {
    const Image r = rotate(img, 33, mode);
    EXPECT_EQ(r.height, 40);
    EXPECT_EQ(r.width, 60);
    EXPECT_EQ(at(r, 0, 0), 0);
    EXPECT_EQ(at(r, 39, 59), 0);
    EXPECT_EQ(at(r, 20, 30), 200);
  }
}

TEST(Geometric, CropsPadWithZeroOutsideTheImage) {
  const Image img = numbered(4, 5, 3);
  const Image c = crop(img, -1, 3, 3, 4);  // rows -1..1, columns 3..6
  ASSERT_EQ(c.height, 3);
  ASSERT_EQ(c.width, 4);
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 4; ++x) {
      const bool inside = y >= 1 && x < 2;
      EXPECT_EQ(at(c, y, x, 2), inside ? at(img, y - 1, x + 3, 2) : 0) << y << "," << x;
    }
  const Image clipped = crop_clipped(img, -3, 1, 2, 10);  // -> x in [0, 2), y in [1, 4)
  EXPECT_EQ(clipped.height, 3);
  EXPECT_EQ(clipped.width, 2);
  EXPECT_EQ(at(clipped, 0, 0), at(img, 1, 0));
  EXPECT_THROW(crop_clipped(img, 5, 0, 9, 4), Error);
  EXPECT_THROW(crop(img, 0, 0, 0, 3), Error);
}

TEST(Geometric, CenterCropOffsetsAndPadding) {
  const Image img = numbered(9, 10, 1);
  // (9 - 4) / 2 = 2.5 rounds to 2 (half to even), (10 - 5) / 2 = 2.5 -> 2; (9 - 6) / 2 = 1.5 -> 2.
  EXPECT_EQ(center_crop(img, 4, 5).pixels, crop(img, 2, 2, 4, 5).pixels);
  EXPECT_EQ(center_crop(img, 6, 7).pixels, crop(img, 2, 2, 6, 7).pixels);
  // Larger than the image: padding (floor half on the left/top), then the crop.
  const Image padded = center_crop(img, 12, 13);  // pad 1 top, 1 left (and 2 bottom, 2 right)
  EXPECT_EQ(padded.pixels, crop(img, -1, -1, 12, 13).pixels);
  EXPECT_EQ(center_crop(img, 9, 10).pixels, img.pixels);
}

TEST(Geometric, ResizeSizesAndInvariants) {
  EXPECT_EQ(resized_size_shorter(200, 300, 224).height, 224);
  EXPECT_EQ(resized_size_shorter(200, 300, 224).width, 336);
  EXPECT_EQ(resized_size_shorter(53, 37, 32).height, 45);  // int(32 * 53 / 37) = 45
  EXPECT_EQ(resized_size_shorter(53, 37, 32).width, 32);
  EXPECT_EQ(resized_size_shorter(50, 50, 7).width, 7);

  Image flat(30, 41, 3);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 93);
  for (Interpolation mode : {Interpolation::nearest, Interpolation::bilinear, Interpolation::bicubic})
    for (auto [h, w] : {std::pair{7, 9}, std::pair{64, 100}, std::pair{30, 13}}) {
      const Image r = resize(flat, h, w, mode);
      ASSERT_EQ(r.height, h);
      ASSERT_EQ(r.width, w);
      for (uint8_t v : r.pixels) ASSERT_EQ(v, 93);  // weights sum to one in fixed point too
    }
  const Image img = numbered(30, 41, 3);
  EXPECT_EQ(resize(img, 30, 41).pixels, img.pixels);
  // Downsampling: the antialiased kernel is wider, so the results differ; upsampling: identical.
  EXPECT_NE(resize(img, 10, 13, Interpolation::bilinear, true).pixels,
            resize(img, 10, 13, Interpolation::bilinear, false).pixels);
  EXPECT_EQ(resize(img, 60, 90, Interpolation::bicubic, true).pixels,
            resize(img, 60, 90, Interpolation::bicubic, false).pixels);
}

TEST(Geometric, PerspectiveIdentityAndCoefficients) {
  const Image img = numbered(20, 30, 3);
  const Quad corners = {Point{0, 0}, Point{29, 0}, Point{29, 19}, Point{0, 19}};
  EXPECT_EQ(perspective(img, PerspectiveCoeffs{1, 0, 0, 0, 1, 0, 0, 0}).pixels, img.pixels);
  // From the points, the float32 solve lands a hair off the identity and PIL truncates the bilinear value, so some
  // pixels come out one lower: torchvision does exactly the same (see the torch parity test).
  const Image near_identity = perspective(img, corners, corners);
  int worst = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) worst = std::max(worst, std::abs(img.pixels[i] - near_identity.pixels[i]));
  EXPECT_LE(worst, 1);
  // A pure shift by (3, 2): output (x, y) samples input (x + 3, y + 2).
  const Quad shifted = {Point{-3, -2}, Point{26, -2}, Point{26, 17}, Point{-3, 17}};
  const PerspectiveCoeffs k = perspective_coeffs(corners, shifted);
  const double expected[8] = {1, 0, 3, 0, 1, 2, 0, 0};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(k[i], expected[i], 1e-5) << i;
  const Image moved = perspective(img, corners, shifted, Interpolation::nearest);
  EXPECT_EQ(at(moved, 5, 7, 1), at(img, 7, 10, 1));
  EXPECT_EQ(at(moved, 19, 29, 0), 0);  // sampled outside the source
  const Quad degenerate = {Point{0, 0}, Point{0, 0}, Point{0, 0}, Point{0, 0}};
  EXPECT_THROW(perspective_coeffs(corners, degenerate), Error);
}

// Loader workers transform concurrently (the coefficient solve calls into OpenBLAS): same results as one thread.
TEST(Geometric, ConcurrentTransformsMatchSequential) {
  const Image img = numbered(48, 64, 3);
  auto run = [&](uint64_t stream) {
    Philox rng(11, stream);
    std::vector<uint8_t> all;
    for (int i = 0; i < 20; ++i) {
      const Image out = RandomRotation(10, Interpolation::bilinear)(RandomPerspective{0.5, 1.0}(img, rng), rng);
      all.insert(all.end(), out.pixels.begin(), out.pixels.end());
    }
    return all;
  };
  std::vector<std::vector<uint8_t>> expected, actual(4);
  for (uint64_t s = 0; s < 4; ++s) expected.push_back(run(s));
  std::vector<std::thread> threads;
  for (uint64_t s = 0; s < 4; ++s) threads.emplace_back([&, s] { actual[s] = run(s); });
  for (auto& t : threads) t.join();
  for (int s = 0; s < 4; ++s) EXPECT_EQ(actual[s], expected[s]) << "stream " << s;
  EXPECT_NE(expected[0], expected[1]);
}

TEST(GeometricRandom, RandomIntIsUniformOverItsRange) {
  Philox rng(1);
  std::map<int64_t, int> counts;
  const int n = 70000;
  for (int i = 0; i < n; ++i) ++counts[random_int(rng, -3, 4)];
  ASSERT_EQ(counts.size(), 7u);
  EXPECT_EQ(counts.begin()->first, -3);
  EXPECT_EQ(counts.rbegin()->first, 3);
  double chi2 = 0;
  for (auto& [v, c] : counts) chi2 += (c - n / 7.0) * (c - n / 7.0) / (n / 7.0);
  EXPECT_LT(chi2, 22.5);  // 6 degrees of freedom: p < 0.001
  EXPECT_EQ(random_int(rng, 5, 6), 5);
  EXPECT_THROW(random_int(rng, 3, 3), Error);
}

TEST(GeometricRandom, HorizontalFlipFrequency) {
  const Image img = numbered(3, 4, 1);
  const Image flipped = hflip(img);
  Philox rng(2);
  const int n = 4000;
  int count = 0;
  RandomHorizontalFlip flip{0.5};
  for (int i = 0; i < n; ++i) count += flip(img, rng).pixels == flipped.pixels;
  EXPECT_NEAR(count / double(n), 0.5, 4 * std::sqrt(0.25 / n));
  EXPECT_EQ(rng.offset(), static_cast<uint64_t>(n));  // one draw per call
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(RandomHorizontalFlip{0.0}(img, rng).pixels, img.pixels);
    EXPECT_EQ(RandomHorizontalFlip{1.0}(img, rng).pixels, flipped.pixels);
  }
}

TEST(GeometricRandom, RotationAngleIsUniformInRange) {
  Philox rng(3);
  const int n = 20000;
  double sum = 0, sum2 = 0, lo = 1e9, hi = -1e9;
  for (int i = 0; i < n; ++i) {
    const double a = RandomRotation::sample_angle(-10, 10, rng);
    ASSERT_GE(a, -10.0);
    ASSERT_LE(a, 10.0);
    EXPECT_EQ(a, static_cast<double>(static_cast<float>(a)));  // a float32 value, as torch's
    sum += a;
    sum2 += a * a;
    lo = std::min(lo, a);
    hi = std::max(hi, a);
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 4 * std::sqrt(100.0 / 3 / n));
  EXPECT_NEAR(var, 100.0 / 3, 100.0 / 3 * 0.05);
  EXPECT_LT(lo, -9.9);
  EXPECT_GT(hi, 9.9);
  // The same seed and stream give the same rotation.
  Philox a(7, 1), b(7, 1);
  const Image img = numbered(16, 16, 3);
  EXPECT_EQ(RandomRotation(10)(img, a).pixels, RandomRotation(10)(img, b).pixels);
}

TEST(GeometricRandom, PerspectiveCornersFollowTorchvisionRanges) {
  Philox rng(4);
  const int64_t w = 224, h = 200;
  const int64_t dw = 22, dh = 20;  // int(0.2 * 112), int(0.2 * 100)
  std::array<std::map<int64_t, int>, 8> seen;
  const int n = 5000;
  for (int i = 0; i < n; ++i) {
    const auto p = RandomPerspective::get_params(w, h, 0.2, rng);
    EXPECT_EQ(p.startpoints[2].x, w - 1);
    EXPECT_EQ(p.startpoints[2].y, h - 1);
    for (int c = 0; c < 4; ++c) {
      ++seen[2 * c][static_cast<int64_t>(p.endpoints[c].x)];
      ++seen[2 * c + 1][static_cast<int64_t>(p.endpoints[c].y)];
    }
  }
  // Ranges: left corners x in [0, dw], right corners x in [w - dw - 1, w - 1]; likewise y.
  const int64_t lo[8] = {0, 0, w - dw - 1, 0, w - dw - 1, h - dh - 1, 0, h - dh - 1};
  for (int k = 0; k < 8; ++k) {
    const int64_t span = (k % 2 == 0) ? dw + 1 : dh + 1;
    EXPECT_EQ(seen[k].begin()->first, lo[k]) << "coordinate " << k;
    EXPECT_EQ(seen[k].rbegin()->first, lo[k] + span - 1) << "coordinate " << k;
    EXPECT_EQ(static_cast<int64_t>(seen[k].size()), span) << "coordinate " << k;
    double mean = 0;
    for (auto& [v, c] : seen[k]) mean += double(v) * c / n;
    const double sd = span / std::sqrt(12.0 * n);
    EXPECT_NEAR(mean, lo[k] + (span - 1) / 2.0, 5 * sd) << "coordinate " << k;
  }
  // Applied with probability p; one draw when skipped.
  Philox r2(5);
  const Image img = numbered(24, 32, 3);
  RandomPerspective persp{0.5, 0.5};
  int applied = 0;
  for (int i = 0; i < 2000; ++i) {
    const uint64_t before = r2.offset();
    const Image out = persp(img, r2);
    const uint64_t draws = r2.offset() - before;
    EXPECT_TRUE(draws == 1 || draws >= 9) << draws;
    applied += draws > 1;
    if (draws == 1) EXPECT_EQ(out.pixels, img.pixels);
  }
  EXPECT_NEAR(applied / 2000.0, 0.5, 4 * std::sqrt(0.25 / 2000));
}

}  // namespace
}  // namespace cage::data
