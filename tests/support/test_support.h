// Helpers shared by the test binaries: tolerance comparison with a useful failure message, random tensors.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/philox.h"
#include "core/tensor.h"

namespace cage::test {

struct Compare {
  double max_abs = 0;   // max |a - b|
  double max_rel = 0;   // max |a - b| / |b| over |b| > 0
  int64_t bad = 0;      // elements outside atol + rtol * |b|
  int64_t first_bad = -1;
};
Compare compare(const Tensor& actual, const Tensor& expected, double atol, double rtol);

// gtest assertion: same shape and |a - b| <= atol + rtol * |b| everywhere.
::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected, double atol, double rtol);

// Uniform in [lo, hi), from a Philox stream.
Tensor random_tensor(const Shape& shape, Philox& rng, double lo = -1, double hi = 1, DType dtype = DType::f32);

// n standard normal floats from Philox(seed, stream).
std::vector<float> randn(int64_t n, uint64_t seed, uint64_t stream);

std::string env_or(const char* name, const std::string& fallback);

}  // namespace cage::test
