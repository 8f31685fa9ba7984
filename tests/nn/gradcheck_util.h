// Helpers for the float64 finite-difference checks of the nn ops: random leaves and an assertion that
// prints the max error of each check (kept in the test log next to the PyTorch comparisons).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/gradcheck.h"
#include "core/philox.h"
#include "support/test_support.h"

namespace cage::test {

// A float64 leaf, uniform in [lo, hi), that requires grad.
inline Tensor grad_leaf(const Shape& shape, Philox& rng, double lo = -1, double hi = 1) {
  Tensor t = random_tensor(shape, rng, lo, hi, DType::f64);
  t.set_requires_grad(true);
  return t;
}

// Same, with every |value| >= margin: keeps relu's kink (and friends) outside the finite-difference stencil.
inline Tensor grad_leaf_away_from_zero(const Shape& shape, Philox& rng, double margin = 0.05) {
  Tensor t = random_tensor(shape, rng, -1, 1, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::fabs(p[i]) < margin) p[i] = p[i] < 0 ? p[i] - margin : p[i] + margin;
  t.set_requires_grad(true);
  return t;
}

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

inline void expect_gradcheck(const std::string& what, const TensorFn& f, const std::vector<Tensor>& inputs,
                             double atol = 1e-6, double rtol = 1e-5) {
  GradcheckResult r = gradcheck(f, inputs, 1e-6, atol, rtol);
  std::printf("[gradcheck] %-40s max abs error %.2e\n", what.c_str(), r.max_abs_error);
  EXPECT_TRUE(r.ok) << what << ": " << r.first_failure << " (max abs error " << r.max_abs_error << ")";
}

}  // namespace cage::test
