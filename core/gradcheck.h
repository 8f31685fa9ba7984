// Finite-difference gradient checker in float64: compares the autograd gradient of <f(x), r> (r a fixed
// random projection of the output) with central differences, element by element.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace cage {

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;  // over all checked elements
  std::string first_failure; // "input 1 element 7: analytic 0.3 numeric 0.31"
};

// `inputs` must be f64; those with requires_grad are checked. |analytic - numeric| <= atol + rtol*|numeric|.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4);

}  // namespace cage
