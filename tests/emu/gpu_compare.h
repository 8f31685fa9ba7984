// Helpers of the Tensor-level emulator tests: random CPU inputs, NaN-filled device outputs (an element a kernel
// forgets to write fails), and the |got - want| <= atol + rtol |want| comparison that reports the largest error.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace cage_test {

inline cage::Tensor random_tensor(const cage::Shape& shape, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(cage::shape_numel(shape)));
  for (float& x : v) x = dist(gen);
  return cage::Tensor::from_vector(v, shape);
}

inline cage::Tensor nan_tensor(const cage::Shape& shape, cage::Device device,
                               cage::DType dtype = cage::DType::f32) {
  return cage::Tensor::full(shape, NAN, dtype, device);
}

// Compares a tensor (any device, f32 or f64) with the CPU oracle's; NaN matches only NaN. Prints the largest
// absolute error under `what` so tolerances can be read from the test log. Returns the largest error.
inline double expect_close(const cage::Tensor& got_t, const cage::Tensor& want_t, double atol, double rtol,
                           const std::string& what) {
  EXPECT_EQ(got_t.shape(), want_t.shape()) << what;
  const cage::Tensor g = got_t.to(cage::Device::cpu).to(cage::DType::f64).contiguous();
  const cage::Tensor w = want_t.to(cage::Device::cpu).to(cage::DType::f64).contiguous();
  const std::vector<double> got = g.to_vector<double>(), want = w.to_vector<double>();
  double max_err = 0;
  int bad = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const bool ok = std::isnan(want[i]) ? std::isnan(got[i])
                                        : std::fabs(got[i] - want[i]) <= atol + rtol * std::fabs(want[i]);
    if (!std::isnan(want[i])) max_err = std::isnan(got[i]) ? INFINITY : std::max(max_err, std::fabs(got[i] - want[i]));
    if (!ok && bad++ < 3) ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " elements off";
  std::printf("  %-48s max |err| %.3g\n", what.c_str(), max_err);
  return max_err;
}

}  // namespace cage_test
