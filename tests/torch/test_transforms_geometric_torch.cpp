// data/transforms_geometric.h against torchvision 0.14 on PIL images (fixtures: tools/reference/ref_geometric.py).
// Every op must be pixel-identical. Perspective is checked in three steps: PIL's transform given torchvision's
// coefficients, the coefficients themselves (bit-identical float32 values), and end to end from the corner points.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "data/transforms_geometric.h"
#include "support/reference.h"
#include "torch/image_case.h"

namespace cage::data {
namespace {

using test::expect_pixels;
using test::image_from_tensor;
using test::load_reference_cases;

Interpolation interpolation_of(const nlohmann::json& params) {
  const std::string name = params.at("interpolation").get<std::string>();
  if (name == "nearest") return Interpolation::nearest;
  if (name == "bilinear") return Interpolation::bilinear;
  if (name == "bicubic") return Interpolation::bicubic;
  ADD_FAILURE() << "unknown interpolation " << name;
  return Interpolation::nearest;
}

Quad quad_of(const nlohmann::json& points) {
  Quad q;
  for (int i = 0; i < 4; ++i) q[i] = Point{points.at(i).at(0).get<double>(), points.at(i).at(1).get<double>()};
  return q;
}

TEST(GeometricTorch, Resize) {
  for (const auto& c : load_reference_cases("geometric_resize", 50)) {
    const Image in = image_from_tensor(c.file.get("in.img"));
    const Image out = resize(in, c.params.at("height").get<int64_t>(), c.params.at("width").get<int64_t>(),
                             interpolation_of(c.params));
    expect_pixels(c.name, out, c.file.get("out"));
  }
}

TEST(GeometricTorch, ResizeShorterSide) {
  for (const auto& c : load_reference_cases("geometric_resize_shorter", 6)) {
    const Image in = image_from_tensor(c.file.get("in.img"));
    const Image out = resize_shorter(in, c.params.at("size").get<int64_t>(), interpolation_of(c.params));
    expect_pixels(c.name, out, c.file.get("out"));
  }
}

TEST(GeometricTorch, CenterCrop) {
  for (const auto& c : load_reference_cases("geometric_center_crop", 6)) {
    const Image in = image_from_tensor(c.file.get("in.img"));
    const Image out = center_crop(in, c.params.at("height").get<int64_t>(), c.params.at("width").get<int64_t>());
    expect_pixels(c.name, out, c.file.get("out"));
  }
}

TEST(GeometricTorch, Crop) {
  for (const auto& c : load_reference_cases("geometric_crop", 4)) {
    const Image in = image_from_tensor(c.file.get("in.img"));
    const Image out = crop(in, c.params.at("top").get<int64_t>(), c.params.at("left").get<int64_t>(),
                           c.params.at("height").get<int64_t>(), c.params.at("width").get<int64_t>());
    expect_pixels(c.name, out, c.file.get("out"));
  }
}

TEST(GeometricTorch, HorizontalFlip) {
  for (const auto& c : load_reference_cases("geometric_hflip", 4))
    expect_pixels(c.name, hflip(image_from_tensor(c.file.get("in.img"))), c.file.get("out"));
}

TEST(GeometricTorch, Rotate) {
  for (const auto& c : load_reference_cases("geometric_rotate", 40)) {
    const Image in = image_from_tensor(c.file.get("in.img"));
    const Image out = rotate(in, c.params.at("angle").get<double>(), interpolation_of(c.params));
    expect_pixels(c.name, out, c.file.get("out"));
  }
}

// PIL's PERSPECTIVE transform alone: torchvision's coefficients in, the same pixels out.
TEST(GeometricTorch, PerspectiveWithTorchvisionCoefficients) {
  for (const auto& c : load_reference_cases("geometric_perspective", 10)) {
    const std::vector<double> stored = c.file.get("coeffs").to_vector<double>();
    ASSERT_EQ(stored.size(), 8u) << c.name;
    PerspectiveCoeffs coeffs;
    std::copy(stored.begin(), stored.end(), coeffs.begin());
    const Image out = perspective(image_from_tensor(c.file.get("in.img")), coeffs, interpolation_of(c.params));
    expect_pixels(c.name + " (torch coeffs)", out, c.file.get("out"));
  }
}

// The 8 coefficients: the same float32 values as torchvision's lstsq. Where they differ, the test also prints how far
// apart the source coordinates they sample are (a float64 solve lands ~1e-4 px away, which flips border pixels).
TEST(GeometricTorch, PerspectiveCoefficients) {
  for (const auto& c : load_reference_cases("geometric_perspective", 10)) {
    const PerspectiveCoeffs ours =
        perspective_coeffs(quad_of(c.params.at("startpoints")), quad_of(c.params.at("endpoints")));
    const std::vector<double> theirs = c.file.get("coeffs").to_vector<double>();
    ASSERT_EQ(theirs.size(), 8u) << c.name;
    int differing = 0;
    for (int i = 0; i < 8; ++i) differing += ours[i] != theirs[i];
    const Tensor& img = c.file.get("in.img");
    auto map = [](const auto& a, double x, double y, double* sx, double* sy) {
      const double d = a[6] * x + a[7] * y + 1;
      *sx = (a[0] * x + a[1] * y + a[2]) / d;
      *sy = (a[3] * x + a[4] * y + a[5]) / d;
    };
    double worst = 0;
    for (int64_t y = 0; y < img.size(0); ++y)
      for (int64_t x = 0; x < img.size(1); ++x) {
        double ax, ay, bx, by;
        map(ours, x + 0.5, y + 0.5, &ax, &ay);
        map(theirs, x + 0.5, y + 0.5, &bx, &by);
        worst = std::max({worst, std::fabs(ax - bx), std::fabs(ay - by)});
      }
    std::printf("[torch] %-58s %d of 8 differ, max source-coordinate difference %.2e px\n",
                (c.name + " coeffs").c_str(), differing, worst);
    EXPECT_EQ(differing, 0) << c.name;
  }
}

// End to end from the corner points, as RandomPerspective runs it.
TEST(GeometricTorch, PerspectiveFromPoints) {
  for (const auto& c : load_reference_cases("geometric_perspective", 10)) {
    const Image out = perspective(image_from_tensor(c.file.get("in.img")), quad_of(c.params.at("startpoints")),
                                  quad_of(c.params.at("endpoints")), interpolation_of(c.params));
    expect_pixels(c.name, out, c.file.get("out"));
  }
}

}  // namespace
}  // namespace cage::data
