#include "support/test_support.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace cage::test {

Compare compare(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  std::vector<double> a = actual.detach().to(DType::f64).to_vector<double>();
  std::vector<double> b = expected.detach().to(DType::f64).to_vector<double>();
  Compare c;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(a[i] - b[i]);
    if (std::isnan(a[i]) != std::isnan(b[i])) d = INFINITY;
    c.max_abs = std::max(c.max_abs, d);
    if (b[i] != 0) c.max_rel = std::max(c.max_rel, d / std::fabs(b[i]));
    if (d > atol + rtol * std::fabs(b[i])) {
      if (c.first_bad < 0) c.first_bad = static_cast<int64_t>(i);
      ++c.bad;
    }
  }
  return c;
}

::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (!actual.defined() || !expected.defined()) return ::testing::AssertionFailure() << "undefined tensor";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " vs expected "
                                         << shape_str(expected.shape());
  Compare c = compare(actual, expected, atol, rtol);
  if (c.bad == 0) return ::testing::AssertionSuccess() << "max abs " << c.max_abs;
  std::vector<double> a = actual.detach().to(DType::f64).to_vector<double>();
  std::vector<double> b = expected.detach().to(DType::f64).to_vector<double>();
  return ::testing::AssertionFailure() << c.bad << " of " << a.size() << " elements off (atol " << atol << ", rtol "
                                       << rtol << "); first at flat index " << c.first_bad << ": " << a[c.first_bad]
                                       << " vs " << b[c.first_bad] << "; max abs diff " << c.max_abs;
}

Tensor random_tensor(const Shape& shape, Philox& rng, double lo, double hi, DType dtype) {
  Tensor t = Tensor::empty(shape, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * rng.uniform_double();
  return t.to(dtype);
}

std::vector<float> randn(int64_t n, uint64_t seed, uint64_t stream) {
  Philox g(seed, stream);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(g.normal());
  return v;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace cage::test
