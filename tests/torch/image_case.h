// 8-bit image fixtures (U8 tensors (H, W, C) written by tools/reference/ref_geometric.py and ref_decode.py) seen
// from a test: conversion to data::Image and a pixel-wise comparison that prints, per case, the largest absolute
// difference and the share of differing channel values.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/tensor.h"
#include "data/image.h"

namespace cage::test {

inline data::Image image_from_tensor(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::u8);
  EXPECT_EQ(t.dim(), 3);
  data::Image image(t.size(0), t.size(1), t.size(2));
  image.pixels = t.to_vector<uint8_t>();
  return image;
}

struct PixelDiff {
  bool same_shape = false;
  int max_abs = 0;
  int64_t differing = 0, total = 0;
  double fraction() const { return total ? static_cast<double>(differing) / total : 0.0; }
};

inline PixelDiff pixel_diff(const data::Image& actual, const Tensor& expected) {
  PixelDiff d;
  d.same_shape = expected.dim() == 3 && actual.height == expected.size(0) && actual.width == expected.size(1) &&
                 actual.channels == expected.size(2) && actual.pixels.size() == static_cast<size_t>(expected.numel());
  if (!d.same_shape) return d;
  const std::vector<uint8_t> e = expected.to_vector<uint8_t>();
  d.total = static_cast<int64_t>(e.size());
  for (size_t i = 0; i < e.size(); ++i) {
    const int diff = std::abs(int(actual.pixels[i]) - int(e[i]));
    if (diff) ++d.differing;
    if (diff > d.max_abs) d.max_abs = diff;
  }
  return d;
}

// Prints "[torch] <case>  max_abs N  differing P%" and checks the case against the allowed maximum difference
// and share of differing values.
inline void expect_pixels(const std::string& name, const data::Image& actual, const Tensor& expected,
                          int max_abs = 0, double max_fraction = 0.0) {
  const PixelDiff d = pixel_diff(actual, expected);
  if (!d.same_shape) {
    ADD_FAILURE() << name << ": shape " << actual.height << "x" << actual.width << "x" << actual.channels
                  << " vs expected " << shape_str(expected.shape());
    std::printf("[torch] %-58s shape mismatch\n", name.c_str());
    return;
  }
  std::printf("[torch] %-58s max_abs %3d  differing %8.4f%%\n", name.c_str(), d.max_abs, 100.0 * d.fraction());
  EXPECT_LE(d.max_abs, max_abs) << name;
  EXPECT_LE(d.fraction(), max_fraction) << name << ": " << d.differing << " of " << d.total << " values differ";
}

}  // namespace cage::test
