#include "core/gradcheck.h"

#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/philox.h"

namespace cage {

namespace {

double dot(const Tensor& out, const Tensor& r) {
  Tensor o = out.detach().contiguous();
  const double* a = o.data<double>();
  const double* b = r.data<double>();
  double s = 0;
  for (int64_t i = 0; i < o.numel(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& given,
                          double eps, double atol, double rtol) {
  std::vector<Tensor> inputs;
  for (const Tensor& t : given) {
    CAGE_CHECK(!t.defined() || t.dtype() == DType::f64 || !t.requires_grad(), "gradcheck needs f64 inputs, got ",
               describe(t));
    inputs.push_back(t);
  }
  Tensor out = f(inputs);
  CAGE_CHECK(out.dtype() == DType::f64, "gradcheck: the function returned ", describe(out));
  Tensor r = Tensor::empty(out.shape(), DType::f64);
  Philox rng(1234);
  for (int64_t i = 0; i < r.numel(); ++i) r.data<double>()[i] = 2 * rng.uniform_double() - 1;
  for (auto& t : inputs)
    if (t.defined() && t.requires_grad()) t.zero_grad();
  out.backward(r);

  GradcheckResult res;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    CAGE_CHECK(x.is_contiguous(), "gradcheck: input ", k, " must be contiguous");
    Tensor analytic = x.grad();
    std::vector<double> ga = analytic.defined() ? analytic.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double saved = p[j];
      p[j] = saved + eps;
      double up = dot(f(inputs), r);
      p[j] = saved - eps;
      double down = dot(f(inputs), r);
      p[j] = saved;
      double numeric = (up - down) / (2 * eps);
      double err = std::fabs(ga[j] - numeric);
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (err > atol + rtol * std::fabs(numeric) && res.ok) {
        res.ok = false;
        std::ostringstream os;
        os << "input " << k << " element " << j << ": analytic " << ga[j] << " numeric " << numeric;
        res.first_failure = os.str();
      }
    }
  }
  return res;
}

}  // namespace cage
