// Colour transforms against torchvision 0.14 on PIL images (fixtures: tools/reference/ref_color.py). PIL-stage
// ops must match pixel for pixel, ToTensor + Normalize and erase bit for bit; every case prints its max abs
// difference and the share of differing values so a near miss is visible even when a tolerance is loosened.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "data/transforms_color.h"
#include "support/reference.h"

namespace cage::test {
namespace {

using data::FloatImage;
using data::Image;

Image to_image(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::u8);
  EXPECT_EQ(t.dim(), 3);
  Image img(t.size(0), t.size(1), t.size(2));
  std::memcpy(img.pixels.data(), t.data<uint8_t>(), img.pixels.size());
  return img;
}

FloatImage to_float_image(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_EQ(t.dim(), 3);
  FloatImage img(t.size(0), t.size(1), t.size(2));
  std::memcpy(img.values.data(), t.data<float>(), img.values.size() * sizeof(float));
  return img;
}

// Compares element-wise, prints "[torch] <case>  max_abs <d>  differing <k>/<n> (<pct>%)", and fails when more than
// `max_differing` elements differ at all or any differs by more than `max_abs`.
template <typename T>
void check_exact(const std::string& name, const std::vector<T>& actual, const T* expected, int64_t expected_numel,
                 const std::string& shape_note, double max_abs = 0, int64_t max_differing = 0) {
  ASSERT_EQ(static_cast<int64_t>(actual.size()), expected_numel) << name << ": size mismatch " << shape_note;
  double worst = 0;
  int64_t differing = 0, first = -1;
  for (size_t k = 0; k < actual.size(); ++k) {
    double d = std::fabs(static_cast<double>(actual[k]) - static_cast<double>(expected[k]));
    if (actual[k] != expected[k]) {
      ++differing;
      if (first < 0) first = static_cast<int64_t>(k);
    }
    worst = std::max(worst, d);
  }
  std::printf("[torch] %-40s max_abs %-10.3g differing %lld/%zu (%.4f%%)\n", name.c_str(), worst,
              static_cast<long long>(differing), actual.size(), 100.0 * differing / std::max<size_t>(actual.size(), 1));
  EXPECT_LE(differing, max_differing) << name << ": first difference at flat index " << first << " (" << shape_note
                                      << "): got " << +actual[first] << ", torchvision " << +expected[first];
  EXPECT_LE(worst, max_abs) << name;
}

void check_image(const std::string& name, const Image& actual, const Tensor& expected) {
  ASSERT_EQ(expected.dtype(), DType::u8) << name;
  ASSERT_EQ((Shape{actual.height, actual.width, actual.channels}), expected.shape()) << name;
  check_exact(name, actual.pixels, expected.data<uint8_t>(), expected.numel(), shape_str(expected.shape()));
}

void check_float_image(const std::string& name, const FloatImage& actual, const Tensor& expected) {
  ASSERT_EQ(expected.dtype(), DType::f32) << name;
  ASSERT_EQ((Shape{actual.height, actual.width, actual.channels}), expected.shape()) << name;
  check_exact(name, actual.values, expected.data<float>(), expected.numel(), shape_str(expected.shape()));
}

TEST(TorchColor, Grayscale) {
  for (auto& c : load_reference_cases("color_grayscale", 6))
    check_image(c.name, data::to_grayscale(to_image(c.file.get("in.img")), c.params["num_output_channels"].get<int>()),
                c.file.get("out"));
}

TEST(TorchColor, Brightness) {
  for (auto& c : load_reference_cases("color_brightness", 18))
    check_image(c.name, data::adjust_brightness(to_image(c.file.get("in.img")), c.params["factor"].get<double>()),
                c.file.get("out"));
}

TEST(TorchColor, Contrast) {
  for (auto& c : load_reference_cases("color_contrast", 18))
    check_image(c.name, data::adjust_contrast(to_image(c.file.get("in.img")), c.params["factor"].get<double>()),
                c.file.get("out"));
}

TEST(TorchColor, Saturation) {
  for (auto& c : load_reference_cases("color_saturation", 18))
    check_image(c.name, data::adjust_saturation(to_image(c.file.get("in.img")), c.params["factor"].get<double>()),
                c.file.get("out"));
}

TEST(TorchColor, Hue) {
  for (auto& c : load_reference_cases("color_hue", 16))
    check_image(c.name, data::adjust_hue(to_image(c.file.get("in.img")), c.params["hue"].get<double>()),
                c.file.get("out"));
}

// ColorJitter.forward with the order and float32 factors torchvision drew.
TEST(TorchColor, JitterFixedParams) {
  for (auto& c : load_reference_cases("color_jitter", 6)) {
    data::ColorJitterParams p;
    auto order = c.params["order"].get<std::vector<int>>();
    ASSERT_EQ(order.size(), 4u);
    std::copy(order.begin(), order.end(), p.order.begin());
    p.brightness = c.params["brightness"].get<double>();
    p.contrast = c.params["contrast"].get<double>();
    p.saturation = c.params["saturation"].get<double>();
    p.hue = c.params["hue"].get<double>();
    check_image(c.name, data::ColorJitter::apply(to_image(c.file.get("in.img")), p), c.file.get("out"));
  }
}

TEST(TorchColor, ToTensorNormalize) {
  for (auto& c : load_reference_cases("color_normalize", 5)) {
    data::Normalization norm{c.params["mean"].get<std::vector<float>>(), c.params["std"].get<std::vector<float>>()};
    check_float_image(c.name, data::to_float_normalize(to_image(c.file.get("in.img")), norm), c.file.get("out"));
  }
}

// The ImageNet constants the pipeline uses are the float32 values torch builds from the same decimal literals.
TEST(TorchColor, ImagenetNormalizationIsTheFixturesOne) {
  for (auto& c : load_reference_cases("color_normalize", 5)) {
    if (c.name.find("imagenet") == std::string::npos) continue;
    data::Normalization ours = data::imagenet_normalization();
    EXPECT_EQ(ours.mean, c.params["mean"].get<std::vector<float>>()) << c.name;
    EXPECT_EQ(ours.std, c.params["std"].get<std::vector<float>>()) << c.name;
    check_float_image(c.name + " (imagenet_normalization)", data::to_float_normalize(to_image(c.file.get("in.img")), ours),
                      c.file.get("out"));
  }
}

TEST(TorchColor, EraseFixedBox) {
  for (auto& c : load_reference_cases("color_erase", 6)) {
    FloatImage img = to_float_image(c.file.get("in.img"));
    const Tensor& v = c.file.get("in.values");
    std::vector<float> values(v.data<float>(), v.data<float>() + v.numel());
    data::erase(img, c.params["i"].get<int64_t>(), c.params["j"].get<int64_t>(), c.params["h"].get<int64_t>(),
                c.params["w"].get<int64_t>(), values);
    check_float_image(c.name, img, c.file.get("out"));
  }
}

}  // namespace
}  // namespace cage::test
