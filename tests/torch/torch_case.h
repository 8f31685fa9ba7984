// One PyTorch reference case (tools/reference/ref_ops.py) seen from a test: its inputs as fresh leaves, the
// backward with the stored upstream gradient, tolerance checks of the output and of every stored gradient,
// and one printed line per case with the device and the max abs errors (collected into the accuracy notes).
// On a device other than the CPU (support/devices.h), leaves stay on the CPU and the op gets their copy on the
// device, so gradients flow back through Tensor::to and are compared on the CPU; only float32 cases run there.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "core/tensor.h"
#include "support/devices.h"
#include "support/reference.h"
#include "support/test_support.h"

namespace cage::test {

// The cases of `op` the current test device runs: all on the CPU, float32 ones elsewhere (devices compute in float32).
inline std::vector<ReferenceCase> device_cases(const std::string& op, size_t min_cases = 2) {
  std::vector<ReferenceCase> all = load_reference_cases(op, min_cases), kept;
  for (ReferenceCase& c : all) {
    DType dt = DType::f32;  // the output's dtype, else the first floating tensor's (optimizer cases have no output)
    if (c.file.has("out"))
      dt = c.file.get("out").dtype();
    else
      for (const auto& [name, t] : c.file.tensors)
        if (dtype_is_floating(t.dtype())) {
          dt = t.dtype();
          break;
        }
    if (current_test_device() == Device::cpu || dt == DType::f32) kept.push_back(std::move(c));
  }
  EXPECT_FALSE(kept.empty()) << op << ": no case for device " << device_name(current_test_device());
  return kept;
}

struct Tolerance {
  double atol, rtol;
};

class TorchCase {
 public:
  // f32 and f64 tolerances; the case's dtype (that of its output) picks one.
  TorchCase(const ReferenceCase& c, Tolerance f32, Tolerance f64 = {1e-10, 1e-9}) : c_(c) {
    tol_ = c.file.get("out").dtype() == DType::f64 ? f64 : f32;
  }
  ~TorchCase() { std::printf("[torch %s] %-44s%s\n", device_name(device_), c_.name.c_str(), line_.c_str()); }
  Device device() const { return device_; }

  const nlohmann::json& params() const { return c_.params; }
  const Tolerance& tol() const { return tol_; }
  bool has(const std::string& name) const { return c_.file.has("in." + name); }

  // A fresh copy of in.<name> that requires grad; its gradient is compared against grad.<name> in check_grads().
  Tensor leaf(const std::string& name) {
    Tensor t = c_.file.get("in." + name).clone();
    t.set_requires_grad(true);
    leaves_[name] = t;
    return t.to(device_);
  }
  // in.<name> without a gradient (running statistics, labels), on the test device.
  Tensor input(const std::string& name) const { return c_.file.get("in." + name).clone().to(device_); }
  const Tensor& stored(const std::string& name) const { return c_.file.get(name); }

  void backward(const Tensor& out) {
    ASSERT_TRUE(out.requires_grad()) << c_.name << ": output does not require grad";
    out.backward(c_.file.get("gout").to(out.device()));
  }

  // Compares `actual` with the stored tensor `expected` (its name labels the printed error).
  void check(const std::string& expected, const Tensor& on_device, Tolerance t) {
    const Tensor& e = c_.file.get(expected);
    const Tensor actual = on_device.defined() ? on_device.to(Device::cpu) : on_device;
    if (!actual.defined()) {
      ADD_FAILURE() << c_.name << ": " << expected << " is undefined";
      line_ += "  " + expected + " undefined";
      return;
    }
    EXPECT_TRUE(allclose(actual, e, t.atol, t.rtol)) << c_.name << ": " << expected;
    char buf[96];
    if (actual.shape() == e.shape())
      std::snprintf(buf, sizeof buf, "  %s %.2e", expected.c_str(), compare(actual, e, t.atol, t.rtol).max_abs);
    else
      std::snprintf(buf, sizeof buf, "  %s shape-mismatch", expected.c_str());
    line_ += buf;
  }
  void check(const std::string& expected, const Tensor& actual) { check(expected, actual, tol_); }

  // Every grad.<name> stored for a leaf created with leaf().
  void check_grads(Tolerance t) {
    for (auto& [name, leaf] : leaves_)
      if (c_.file.has("grad." + name)) check("grad." + name, leaf.grad(), t);
  }
  void check_grads() { check_grads(tol_); }

  // Forward, backward, and every comparison with the case's tolerance.
  void run(const Tensor& out) {
    check("out", out);
    backward(out);
    check_grads();
  }

 private:
  const ReferenceCase& c_;
  Device device_ = current_test_device();
  Tolerance tol_;
  std::map<std::string, Tensor> leaves_;
  std::string line_;
};

}  // namespace cage::test
