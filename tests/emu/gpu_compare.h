// Helpers of the Tensor-level emulator tests: a fixture that selects device emu, random CPU inputs, copies to the
// device, NaN-filled outputs (an element a kernel forgets to write fails), and the |got - want| <= atol + rtol |want|
// comparison that prints and returns the largest error, in two flavours: expect_close, where a NaN the oracle gives
// must be matched by a NaN, and check_close, for outputs that must be finite, where any NaN fails.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/device.h"

namespace cage_test {

// The core names every device test uses.
using cage::Device;
using cage::DType;
using cage::Shape;
using cage::Tensor;

// Tests that make emu tensors (kernels::use_device(Device::emu) comes first).
class EmuTest : public ::testing::Test {
 protected:
  void SetUp() override { cage::kernels::use_device(cage::Device::emu); }
};

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

// A copy on device emu; an undefined tensor (an optional input or output) stays undefined.
inline cage::Tensor to_emu(const cage::Tensor& t) { return t.defined() ? t.to(cage::Device::emu) : cage::Tensor(); }

namespace detail {
inline double compare(const cage::Tensor& got_t, const cage::Tensor& want_t, double atol, double rtol,
                      const std::string& what, bool nan_matches_nan) {
  EXPECT_EQ(got_t.shape(), want_t.shape()) << what;
  const cage::Tensor g = got_t.to(cage::Device::cpu).to(cage::DType::f64).contiguous();
  const cage::Tensor w = want_t.to(cage::Device::cpu).to(cage::DType::f64).contiguous();
  const std::vector<double> got = g.to_vector<double>(), want = w.to_vector<double>();
  double max_err = 0;
  int bad = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const bool nan_wanted = nan_matches_nan && std::isnan(want[i]);
    const double err = std::fabs(got[i] - want[i]);  // NaN when either side is
    const bool ok = nan_wanted ? std::isnan(got[i]) : err <= atol + rtol * std::fabs(want[i]);
    if (!nan_wanted) max_err = std::isnan(err) ? INFINITY : std::max(max_err, err);
    if (!ok && bad++ < 3) ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " elements off";
  std::printf("  %-52s max |err| %.3g\n", what.c_str(), max_err);
  return max_err;
}
}  // namespace detail

// Compares a tensor (any device, f32 or f64) with the CPU oracle's; NaN matches only NaN. Prints the largest
// absolute error under `what` so tolerances can be read from the test log. Returns the largest error.
inline double expect_close(const cage::Tensor& got_t, const cage::Tensor& want_t, double atol, double rtol,
                           const std::string& what) {
  return detail::compare(got_t, want_t, atol, rtol, what, true);
}

// The same comparison for outputs that must be finite: a NaN on either side fails.
inline double check_close(const std::string& what, const cage::Tensor& gpu, const cage::Tensor& cpu, double atol,
                          double rtol) {
  return detail::compare(gpu, cpu, atol, rtol, what, false);
}

}  // namespace cage_test
