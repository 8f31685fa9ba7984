// AdamW, SGD and the cosine schedule against torch.optim (tools/reference/ref_optim.py): parameters after every
// step of a fixed gradient sequence (including parameters left without a gradient), a resume through the
// exported state written to and read back from safetensors, the golden MaxViT train step's AdamW update, and
// the lr of every step. The kernels mirror torch's operation order, so the tolerance is about one ulp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/safetensors.h"
#include "support/reference.h"
#include "torch_case.h"
#include "support/test_support.h"
#include "train/optim.h"
#include "train/schedule.h"

namespace cage::test {
namespace {

using OptimizerPtr = std::unique_ptr<train::Optimizer>;
using MakeOptimizer = OptimizerPtr (*)(std::vector<Tensor>, const nlohmann::json&);

OptimizerPtr make_adamw(std::vector<Tensor> ps, const nlohmann::json& p) {
  train::AdamWOptions o;
  o.lr = p["lr"];
  o.beta1 = p["beta1"];
  o.beta2 = p["beta2"];
  o.eps = p["eps"];
  o.weight_decay = p["weight_decay"];
  o.amsgrad = p.value("amsgrad", false);
  return std::make_unique<train::AdamW>(std::move(ps), o);
}

OptimizerPtr make_sgd(std::vector<Tensor> ps, const nlohmann::json& p) {
  train::SGDOptions o;
  o.lr = p["lr"];
  o.momentum = p["momentum"];
  o.dampening = p["dampening"];
  o.weight_decay = p["weight_decay"];
  o.nesterov = p["nesterov"];
  return std::make_unique<train::SGD>(std::move(ps), o);
}

std::string slot(const char* kind, int64_t step, int64_t i) {
  return std::string(kind) + "." + std::to_string(step) + "." + std::to_string(i);
}

// |a - b| <= atol + rtol |b|: one float32 ulp is 6e-8 relative, 1.2e-7 at 1 (params are O(1), a few reach 3).
struct Tol {
  double atol, rtol;
};
Tol tol_for(DType dt) { return dt == DType::f32 ? Tol{1e-7, 1.2e-7} : Tol{1e-15, 1e-15}; }

// Parameters on the current test device (support/devices.h), leaves there.
std::vector<Tensor> fresh_leaves(const TensorFile& f, const std::string& prefix, int64_t n) {
  std::vector<Tensor> ps;
  for (int64_t i = 0; i < n; ++i) {
    Tensor t = f.get(prefix + std::to_string(i)).clone().to(current_test_device());
    t.set_requires_grad(true);
    ps.push_back(t);
  }
  return ps;
}

void set_grad(const Tensor& p, const Tensor& g) { p.impl()->grad = g.clone().to(p.device()); }

// Runs steps [first, last) of the case on `opt` and compares every parameter after every step.
double run_steps(const ReferenceCase& c, train::Optimizer& opt, int64_t first, int64_t last) {
  const TensorFile& f = c.file;
  double worst = 0;
  for (int64_t step = first; step < last; ++step) {
    opt.zero_grad();
    for (size_t i = 0; i < opt.params.size(); ++i)
      if (f.has(slot("grad", step, i))) set_grad(opt.params[i], f.get(slot("grad", step, i)));
    opt.step();
    for (size_t i = 0; i < opt.params.size(); ++i) {
      const Tensor& ref = f.get(slot("after", step, i));
      Tol t = tol_for(ref.dtype());
      const Tensor got = opt.params[i].to(Device::cpu);
      EXPECT_TRUE(allclose(got, ref, t.atol, t.rtol)) << c.name << " step " << step << " param " << i;
      worst = std::max(worst, compare(got, ref, t.atol, t.rtol).max_abs);
    }
  }
  return worst;
}

void run_optimizer_cases(const char* op, MakeOptimizer make) {
  for (auto& c : device_cases(op, 8)) {
    int64_t n = c.params["num_params"], steps = c.params["steps"];
    OptimizerPtr opt = make(fresh_leaves(c.file, "in.", n), c.params);
    double worst = run_steps(c, *opt, 0, steps);
    EXPECT_EQ(opt->step_count(), steps);
    std::printf("[torch %s] %-44s  after.* (%lld steps) %.2e\n", device_name(current_test_device()), c.name.c_str(),
                static_cast<long long>(steps), worst);
  }
}

class TorchOptim : public DeviceTest {};
TEST_P(TorchOptim, AdamW) { run_optimizer_cases("adamw", make_adamw); }
TEST_P(TorchOptim, SGD) { run_optimizer_cases("sgd", make_sgd); }

// Two steps, export, write and read the state as safetensors, import into a new optimizer over copies of the
// parameters, and finish the run: the result must match torch's uninterrupted run.
void run_resume_cases(const char* op, MakeOptimizer make) {
  for (auto& c : device_cases(op, 8)) {
    int64_t n = c.params["num_params"], steps = c.params["steps"];
    OptimizerPtr a = make(fresh_leaves(c.file, "in.", n), c.params);
    run_steps(c, *a, 0, 2);
    train::OptimizerState s = a->export_state();
    bool stateless = c.params.value("momentum", 1.0) == 0.0;  // plain SGD keeps no state
    ASSERT_EQ(s.tensors.empty(), stateless) << c.name;
    std::string path = (std::filesystem::temp_directory_path() /
                        ("cage_optim_state_" + std::to_string(getpid()) + ".safetensors")).string();
    save_safetensors(path, s.tensors, {{"step", std::to_string(s.step)}});
    TensorFile loaded = load_safetensors(path);
    std::filesystem::remove(path);
    train::OptimizerState back;
    back.step = std::stoll(loaded.meta("step"));
    back.tensors = loaded.tensors;

    std::vector<Tensor> copies;
    for (const Tensor& p : a->params) {
      Tensor t = p.detach().clone();
      t.set_requires_grad(true);
      copies.push_back(t);
    }
    a.reset();  // the new optimizer must not share anything with the old one
    OptimizerPtr b = make(copies, c.params);
    b->import_state(back);
    EXPECT_EQ(b->step_count(), 2);
    double worst = run_steps(c, *b, 2, steps);
    std::printf("[torch %s] %-44s  resumed after step 2: after.* %.2e\n", device_name(current_test_device()),
                c.name.c_str(), worst);
  }
}

TEST_P(TorchOptim, AdamWResumeFromExportedState) { run_resume_cases("adamw", make_adamw); }
TEST_P(TorchOptim, SGDResumeFromExportedState) { run_resume_cases("sgd", make_sgd); }

// The golden MaxViT train step: AdamW on the stored gradients of all 218 parameters, one fused step, from the
// parameters of maxvit_small.pth (read by torch.load into the fixture).
TEST_P(TorchOptim, GoldenTrainStepAdamW) {
  auto cases = load_reference_cases("adamw_golden", 1);
  const ReferenceCase& c = cases[0];
  std::vector<std::string> keys = c.params["keys"];
  ASSERT_EQ(keys.size(), 218u);
  std::vector<Tensor> ps;
  for (const std::string& k : keys) {
    Tensor t = c.file.get("before." + k).clone().to(device());
    t.set_requires_grad(true);
    set_grad(t, c.file.get("grad." + k));
    ps.push_back(t);
  }
  train::AdamW opt(ps, {.lr = c.params["lr"], .beta1 = c.params["beta1"], .beta2 = c.params["beta2"],
                        .eps = c.params["eps"], .weight_decay = c.params["weight_decay"]});
  opt.step();
  double worst = 0;
  int64_t elements = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const Tensor& ref = c.file.get("after." + keys[i]);
    const Tensor got = opt.params[i].to(Device::cpu);
    EXPECT_TRUE(allclose(got, ref, 1e-7, 0)) << keys[i];
    worst = std::max(worst, compare(got, ref, 1e-7, 0).max_abs);
    elements += ref.numel();
  }
  std::printf("[torch %s] %-44s  after.* (%zu tensors, %lld elements) %.2e\n", device_name(device()), c.name.c_str(),
              keys.size(),
              static_cast<long long>(elements), worst);
}

CAGE_INSTANTIATE_DEVICE_SUITE(TorchOptim);

TEST(TorchOptim, CosineSchedule) {
  for (auto& c : load_reference_cases("lr_schedule", 5)) {
    const nlohmann::json& p = c.params;
    train::CosineSchedule s({.base_lr = p["base_lr"], .total_steps = p["total_steps"], .eta_min = p["eta_min"],
                             .warmup_steps = p["warmup_steps"], .warmup_start_factor = p["warmup_start_factor"]});
    std::vector<double> ref = c.file.get("lr").to_vector<double>();
    ASSERT_EQ(static_cast<int64_t>(ref.size()), s.options().total_steps + 1) << c.name;
    double worst = 0;
    for (size_t t = 0; t < ref.size(); ++t) {
      double lr = s.lr_at(static_cast<int64_t>(t));
      EXPECT_NEAR(lr, ref[t], 1e-12 * s.options().base_lr) << c.name << " step " << t;
      worst = std::max(worst, std::fabs(lr - ref[t]));
    }
    // Past T the lr stays at eta_min (torch's cosine would climb back).
    EXPECT_EQ(s.lr_at(s.options().total_steps + 7), s.options().eta_min) << c.name;
    std::printf("[torch] %-44s  lr (%zu steps) %.2e\n", c.name.c_str(), ref.size(), worst);
  }
}

// ---- behaviour that needs no fixture ----

Tensor leaf(const Shape& shape, double v) {
  Tensor t = Tensor::full(shape, v, DType::f32);
  t.set_requires_grad(true);
  return t;
}

TEST(Optim, ScheduleAppliesToOptimizer) {
  train::AdamW opt({leaf({3}, 1.0)}, {});
  train::CosineSchedule s({.base_lr = 0.1, .total_steps = 10, .warmup_steps = 2, .warmup_start_factor = 0.5});
  s.apply(opt, 0);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.05);
  s.apply(opt, 2);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.1);
  s.apply(opt, 10);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.0);
  EXPECT_THROW(train::CosineSchedule({.total_steps = 5, .warmup_steps = 5}), Error);
}

TEST(Optim, ParameterWithoutGradientIsUntouched) {
  Tensor a = leaf({4}, 1.0), b = leaf({2}, 2.0);
  train::AdamW opt({a, b}, {.lr = 0.1, .weight_decay = 0.5});
  set_grad(a, Tensor::full({4}, 1.0, DType::f32));
  opt.step();
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{2, 2}));  // no decay either, as torch
  EXPECT_LT(a.to_vector<float>()[0], 1.0f);
  train::OptimizerState s = opt.export_state();
  for (auto& [name, t] : s.tensors) EXPECT_EQ(name.back(), '0') << name;  // state only for parameter 0
}

TEST(Optim, RejectsBadParametersAndState) {
  Tensor a = leaf({4}, 1.0);
  EXPECT_THROW(train::AdamW({Tensor::zeros({2})}, {}), Error);  // does not require grad
  EXPECT_THROW(train::SGD({a}, {.nesterov = true}), Error);      // Nesterov without momentum
  EXPECT_THROW(train::SGD({a, a}, {}), Error);                   // the same parameter twice
  train::AdamW opt({a}, {});
  train::OptimizerState bad;
  bad.tensors.emplace_back("exp_avg.0", Tensor::zeros({5}));
  EXPECT_THROW(opt.import_state(bad), Error);  // shape mismatch
  bad.tensors = {{"exp_avg.3", Tensor::zeros({4})}};
  EXPECT_THROW(opt.import_state(bad), Error);  // no parameter 3
  bad.tensors = {{"momentum.0", Tensor::zeros({4})}};
  EXPECT_THROW(opt.import_state(bad), Error);  // unknown slot
  bad.tensors = {{"exp_avg.0", Tensor::zeros({4})}};
  EXPECT_THROW(opt.import_state(bad), Error);  // incomplete
  set_grad(a, Tensor::zeros({3}));
  EXPECT_THROW(opt.step(), Error);  // gradient of the wrong shape
}

}  // namespace
}  // namespace cage::test
