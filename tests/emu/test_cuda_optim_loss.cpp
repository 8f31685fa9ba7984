// The fused AdamW and CCC loss CUDA kernels (kernels/cuda/{adamw,ccc_loss}.cu) run on the emulator against the CPU
// kernels (kernels/cpu/{optim,loss}.cpp), the oracle of every backend. AdamW: several float32 tensors of odd sizes,
// each with its own step count, stepped together for five steps on both sides from the same state and gradients;
// the GPU state must follow the CPU state to atol 1e-7 and 1 ulp (the same operations in the same order).
// CCC: offset means, loss, moments and both gradients. Outputs are filled with NaN bytes before each launch, so an
// element a kernel forgets to write fails; the *Catches* tests check that a wrong step count or upstream gradient
// is caught. (Replacing the exp_avg fma by a multiply and an add gives up to thousands of ulp after five steps.)
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "emu/emu_test_util.h"
#include "kernels/cuda/adamw.cuh"
#include "kernels/cuda/ccc_loss.cuh"
#include "kernels/loss.h"
#include "kernels/optim.h"

namespace cage_test {
namespace {

using cage::Tensor;

// Distance in units in the last place between two finite floats (adjacent floats are 1 apart, -0 and +0 are 0).
int64_t ulp_distance(float a, float b) {
  auto ordered = [](float x) {
    const int32_t i = std::bit_cast<int32_t>(x);
    return i < 0 ? -int64_t(i & 0x7fffffff) : int64_t(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

// Largest |got - want| and ulp distance (float only), and whether every element is within atol and `max_ulps`
// (NaN counts as a failure).
struct comparison {
  double max_error = 0;
  int64_t max_ulps = 0;
  bool ok = true;
};
template <typename T>
comparison compare(const std::vector<T>& got, const std::vector<T>& want, double atol, int64_t max_ulps = -1) {
  comparison c;
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (!(err <= atol)) c.ok = false;
    if constexpr (std::is_same_v<T, float>) {
      const int64_t ulps = std::isnan(err) ? INT64_MAX : ulp_distance(got[i], want[i]);
      c.max_ulps = std::max(c.max_ulps, ulps);
      if (max_ulps >= 0 && ulps > max_ulps) c.ok = false;
    }
    c.max_error = std::isnan(err) ? INFINITY : std::max(c.max_error, err);
  }
  return c;
}

// ---- AdamW ----

// One parameter on both sides: CPU tensors and device buffers holding the same initial state.
struct adamw_pair {
  int64_t n;
  int64_t step;
  Tensor param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq;
  device_buffer<float> dparam, dgrad, dexp_avg, dexp_avg_sq, dmax_exp_avg_sq;
  adamw_pair(int64_t n, int64_t first_step, unsigned seed)
      : n(n),
        step(first_step),
        param(Tensor::from_vector(random_values(n, -1.0f, 1.0f, seed), {n})),
        grad(Tensor::zeros({n})),
        exp_avg(Tensor::from_vector(random_values(n, -0.1f, 0.1f, seed + 1), {n})),
        exp_avg_sq(Tensor::from_vector(random_values(n, 0.0f, 0.01f, seed + 2), {n})),
        max_exp_avg_sq(Tensor::from_vector(random_values(n, 0.0f, 0.012f, seed + 3), {n})),
        dparam(to_vector(param)),
        dgrad(n),
        dexp_avg(to_vector(exp_avg)),
        dexp_avg_sq(to_vector(exp_avg_sq)),
        dmax_exp_avg_sq(to_vector(max_exp_avg_sq)) {}
};

// Five steps of both kernels from the same state; `gpu_step_skew` adds to the GPU's step count of tensor 0 (a
// deliberate bug for the negative test). Returns whether every buffer matched to atol; prints when `report`.
bool adamw_run(const std::vector<int64_t>& sizes, const cage::emu::adamw_hyper& hg, int gpu_step_skew, bool report) {
  const double atol = 1e-7;
  cage::kernels::AdamwHyper hc;
  hc.lr = hg.lr;
  hc.beta1 = hg.beta1;
  hc.beta2 = hg.beta2;
  hc.eps = hg.eps;
  hc.weight_decay = hg.weight_decay;
  hc.amsgrad = hg.amsgrad;
  std::vector<std::unique_ptr<adamw_pair>> pairs;
  unsigned seed = 500;
  for (size_t k = 0; k < sizes.size(); ++k) {
    pairs.push_back(std::make_unique<adamw_pair>(sizes[k], 1 + 3 * int64_t(k), seed));  // steps 1, 4, 7, ...
    seed += 4;
  }
  device_buffer<cage::emu::adamw_segment> dsegments(sizes.size());
  for (int it = 0; it < 5; ++it) {
    std::vector<cage::kernels::AdamwTensor> cpu;
    std::vector<cage::emu::adamw_tensor> gpu;
    for (size_t k = 0; k < pairs.size(); ++k) {
      adamw_pair& q = *pairs[k];
      const std::vector<float> g = random_values(q.n, -2.0f, 2.0f, seed++);
      std::copy(g.begin(), g.end(), q.grad.data<float>());
      q.dgrad.upload(g);
      cpu.push_back({q.param, q.grad, q.exp_avg, q.exp_avg_sq, hg.amsgrad ? q.max_exp_avg_sq : Tensor(), q.step});
      gpu.push_back({q.dparam.get(), q.dgrad.get(), q.dexp_avg.get(), q.dexp_avg_sq.get(), q.dmax_exp_avg_sq.get(),
                     q.n, q.step + (k == 0 ? gpu_step_skew : 0)});
      ++q.step;
    }
    cage::kernels::adamw_step(cpu, hc);
    EXPECT_EQ(cage::emu::adamw_step(gpu, hg, dsegments.get()), cudaSuccess);
    expect_launch_ok();
  }
  bool ok = true;
  auto one = [&](const std::string& what, const device_buffer<float>& got, const Tensor& want) {
    const comparison c = compare(got.download(), to_vector(want), atol, 1);
    if (report) {
      std::printf("  %-44s max |err| %.3g (atol %.3g), max %lld ulp\n", what.c_str(), c.max_error, atol,
                  static_cast<long long>(c.max_ulps));
      EXPECT_TRUE(c.ok) << what << ": max |err| " << c.max_error << " over atol " << atol << " or "
                        << c.max_ulps << " ulp over 1";
    }
    ok = ok && c.ok;
  };
  for (const auto& q : pairs) {
    const std::string name = std::string(hg.amsgrad ? "adamw (amsgrad) n=" : "adamw n=") + std::to_string(q->n);
    one(name + " param", q->dparam, q->param);
    one(name + " exp_avg", q->dexp_avg, q->exp_avg);
    one(name + " exp_avg_sq", q->dexp_avg_sq, q->exp_avg_sq);
    if (hg.amsgrad) one(name + " max_exp_avg_sq", q->dmax_exp_avg_sq, q->max_exp_avg_sq);
  }
  return ok;
}

const std::vector<int64_t> kAdamwSizes = {1, 7, 1000, 4097};

TEST(CudaOptimLossEmu, AdamwManyTensorsMatchesCpu) {
  cage::emu::adamw_hyper h;
  h.lr = 1e-2;
  h.weight_decay = 0.05;
  EXPECT_TRUE(adamw_run(kAdamwSizes, h, 0, true));
}

TEST(CudaOptimLossEmu, AdamwAmsgradAndEmptyTensorMatchCpu) {
  cage::emu::adamw_hyper h;
  h.lr = 3e-3;
  h.beta2 = 0.99;
  h.weight_decay = 0.1;
  h.amsgrad = true;
  EXPECT_TRUE(adamw_run({7, 0, 33, 1}, h, 0, true));
}

TEST(CudaOptimLossEmu, AdamwComparisonCatchesWrongStep) {  // a one-step error in one bias correction must show
  cage::emu::adamw_hyper h;
  h.lr = 1e-2;
  h.weight_decay = 0.05;
  EXPECT_FALSE(adamw_run(kAdamwSizes, h, 1, false));
}

// ---- CCC loss ----

// Runs both kernels on n samples with offset means; `gout_gpu_scale` multiplies the GPU's upstream gradient (a
// deliberate bug for the negative test). Returns whether all outputs matched; prints and expects when `report`.
bool ccc_case(int64_t n, unsigned seed, float gout_gpu_scale, bool report) {
  std::vector<float> ph = random_values(n, -0.5f, 0.5f, seed);
  std::vector<float> th = random_values(n, -0.3f, 0.3f, seed + 1);
  for (int64_t i = 0; i < n; ++i) {
    th[i] = -2.0f + 0.7f * ph[i] + th[i];  // correlated with pred, offset mean
    ph[i] = 3.0f + ph[i];
  }
  const float g = 0.7f;
  const Tensor pred = Tensor::from_vector(ph, {n});
  const Tensor target = Tensor::from_vector(th, {n});
  const Tensor moments = Tensor::empty({6}, cage::DType::f64);
  const Tensor loss = Tensor::empty({});
  const Tensor gout = Tensor::scalar(g);
  const Tensor gpred = Tensor::empty({n});
  const Tensor gtarget = Tensor::empty({n});
  cage::kernels::ccc_forward(pred, target, moments, loss);
  cage::kernels::ccc_backward(pred, target, moments, gout, gpred, gtarget);

  device_buffer<float> dp(ph), dt(th), dloss(1), dgout(std::vector<float>{g * gout_gpu_scale}), dgp(n), dgt(n);
  device_buffer<double> dmoments(6);
  for (auto* buf : {&dloss, &dgp, &dgt}) buf->fill_bytes(0xff);
  dmoments.fill_bytes(0xff);
  cage::emu::ccc_forward(dp.get(), dt.get(), dmoments.get(), dloss.get(), n);
  expect_launch_ok();
  cage::emu::ccc_backward(dp.get(), dt.get(), dmoments.get(), dgout.get(), dgp.get(), dgt.get(), n);
  expect_launch_ok();

  const double* mo = moments.data<double>();
  const std::vector<double> moments_cpu(mo, mo + 6);
  const std::vector<float> gp_cpu = to_vector(gpred), gt_cpu = to_vector(gtarget);
  const float loss_cpu = *loss.data<float>();
  auto scale = [](const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, double(std::fabs(x)));
    return m;
  };
  double moment_scale = 0;
  for (double x : moments_cpu) moment_scale = std::max(moment_scale, std::fabs(x));
  struct item {
    std::string what;
    comparison c;
    double atol;
  };
  const std::string name = "ccc n=" + std::to_string(n);
  const double loss_atol = 1e-6 * std::max(1.0, double(std::fabs(loss_cpu)));
  const double gp_atol = 1e-6 * scale(gp_cpu), gt_atol = 1e-6 * scale(gt_cpu), mo_atol = 1e-12 * moment_scale;
  const item items[] = {
      {name + " loss", compare(dloss.download(), std::vector<float>{loss_cpu}, loss_atol), loss_atol},
      {name + " moments", compare(dmoments.download(), moments_cpu, mo_atol), mo_atol},
      {name + " gpred", compare(dgp.download(), gp_cpu, gp_atol), gp_atol},
      {name + " gtarget", compare(dgt.download(), gt_cpu, gt_atol), gt_atol}};
  bool ok = true;
  for (const item& it : items) {
    if (report) {
      std::printf("  %-44s max |err| %.3g (atol %.3g)", it.what.c_str(), it.c.max_error, it.atol);
      if (it.what.find("moments") == std::string::npos)  // ulp distances are counted for float outputs only
        std::printf(", max %lld ulp", static_cast<long long>(it.c.max_ulps));
      std::printf("\n");
      EXPECT_TRUE(it.c.ok) << it.what << ": max |err| " << it.c.max_error << " over atol " << it.atol;
    }
    ok = ok && it.c.ok;
  }
  return ok;
}

TEST(CudaOptimLossEmu, CccForwardBackwardMatchCpu) {
  unsigned seed = 2000;
  for (int64_t n : {2, 5, 37, 1000, 9000}) {
    EXPECT_TRUE(ccc_case(n, seed, 1.0f, true));
    seed += 2;
  }
}

TEST(CudaOptimLossEmu, CccSerialAndParallelBlockSchedulesAgree) {
  for (bool serial : {true, false}) {
    emu_mode mode(serial ? 1 : 4, serial);
    EXPECT_TRUE(ccc_case(9000, 77, 1.0f, true));
  }
}

TEST(CudaOptimLossEmu, CccComparisonCatchesWrongGradient) {  // a 1e-5 relative error in gout must show
  EXPECT_FALSE(ccc_case(1000, 99, 1.0f + 1e-5f, false));
}

}  // namespace
}  // namespace cage_test
