// The MaxViT inference fast path (BatchNorm folded into the convolutions, fused GEMM epilogues) against the
// plain autograd ops on the same weights, with BatchNorm statistics and affine parameters far from their
// initial values so every folded term matters; and the folded-weight cache following weight changes.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/autograd.h"
#include "core/philox.h"
#include "models/maxvit.h"

namespace cage::test {
namespace {

// Every float state entry random: weights ~ N(0, 0.2), norms' weights around 1, running_var in [0.5, 2].
void randomise(models::MaxVit& m, uint64_t seed) {
  Philox g(seed, 7);
  NoGradGuard no_grad;
  for (auto& e : m.state_entries()) {
    Tensor& t = *e.tensor;
    if (t.dtype() != DType::f32) continue;
    Tensor v = Tensor::empty(t.shape(), DType::f64);
    const bool var = e.key.find("running_var") != std::string::npos;
    const bool norm_weight = t.dim() == 1 && e.key.size() > 7 && e.key.compare(e.key.size() - 7, 7, ".weight") == 0;
    for (int64_t i = 0; i < v.numel(); ++i) {
      double z = g.normal();
      v.data<double>()[i] = var ? 0.5 + 1.5 * g.uniform_double() : norm_weight ? 1.0 + 0.3 * z : 0.2 * z;
    }
    t.copy_(v);
  }
  nn::Module::parameters_changed();
}

std::map<std::string, Tensor> run(models::MaxVit& m, const Tensor& x, bool fused) {
  models::set_fused_inference(fused);
  std::map<std::string, Tensor> out;
  NoGradGuard no_grad;
  out["logits"] = m.forward(x, [&](const std::string& name, const Tensor& t) { out[name] = t.contiguous(); });
  models::set_fused_inference(true);
  return out;
}

// max |a - b| / (1 + max |b|) over every observed tensor
double worst_difference(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  double worst = 0;
  for (auto& [name, t] : b) {
    std::vector<double> x = a.at(name).to(DType::f64).to_vector<double>(), y = t.to(DType::f64).to_vector<double>();
    double scale = 0, diff = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      scale = std::max(scale, std::fabs(y[i]));
      diff = std::max(diff, std::fabs(x[i] - y[i]));
    }
    worst = std::max(worst, diff / (1 + scale));
  }
  return worst;
}

Tensor input(int64_t batch, int64_t size, uint64_t seed) {
  Philox g(seed, 3);
  Tensor x = Tensor::empty({batch, size, size, 1}, DType::f64);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] = g.normal();
  return x.to(DType::f32);
}

TEST(MaxVitFused, MatchesTheAutogradPathWithNonTrivialBatchNorm) {
  // Fashion-MNIST shapes: stages with pixels per image above and below the MBConv width (both ways of
  // applying the squeeze-excitation gate), three images so per-image gates and pooling are exercised.
  models::MaxVit m(models::fashion_mnist_config());
  randomise(m, 1);
  m.eval();
  Tensor x = input(3, 32, 2);
  auto plain = run(m, x, false), fused = run(m, x, true);
  ASSERT_EQ(plain.size(), fused.size());
  double d = worst_difference(fused, plain);
  std::printf("[fused] worst |fused - plain| / (1 + max|plain|) over %zu observed tensors: %.3g\n", plain.size(), d);
  EXPECT_LT(d, 2e-5);
  double scale = 0;
  for (float v : plain["logits"].to_vector<float>()) scale = std::max(scale, std::fabs(double(v)));
  EXPECT_GT(scale, 1e-3) << "logits too small for the comparison to mean anything";
}

TEST(MaxVitFused, FoldedWeightsFollowWeightChanges) {
  models::MaxVit m(models::fashion_mnist_config());
  randomise(m, 1);
  m.eval();
  Tensor x = input(2, 32, 4);
  auto first = run(m, x, true);  // builds the folded cache
  // New weights through load_state_dict, then through an in-place edit announced with parameters_changed().
  models::MaxVit other(models::fashion_mnist_config());
  randomise(other, 9);
  m.load_state_dict(other.state_dict());
  m.eval();
  auto plain = run(m, x, false), fused = run(m, x, true);
  EXPECT_LT(worst_difference(fused, plain), 2e-5);
  EXPECT_GT(worst_difference(first, plain), 1e-2) << "new weights did not change the output";
  randomise(m, 11);
  plain = run(m, x, false);
  fused = run(m, x, true);
  EXPECT_LT(worst_difference(fused, plain), 2e-5);
  // A tensor replaced wholesale (as moving a module between devices does) without any announcement: the cache
  // is keyed on the source tensors' storages too.
  for (auto& e : m.state_entries())
    if (e.key.find("running_var") != std::string::npos || e.key.find("conv_a.0.weight") != std::string::npos) {
      Tensor scaled = Tensor::empty(e.tensor->shape(), DType::f64);
      std::vector<double> v = e.tensor->to(DType::f64).to_vector<double>();
      for (int64_t i = 0; i < scaled.numel(); ++i) scaled.data<double>()[i] = 1.5 * v[i];
      *e.tensor = scaled.to(DType::f32);
    }
  auto before_replacement = fused;
  plain = run(m, x, false);
  fused = run(m, x, true);
  EXPECT_LT(worst_difference(fused, plain), 2e-5);
  EXPECT_GT(worst_difference(before_replacement, plain), 1e-3) << "the replacement did not change the output";
  // train() then eval() also refreshes it (an optimizer step in between would).
  {
    NoGradGuard no_grad;
    for (auto& e : m.state_entries())
      if (e.key.find("running_mean") != std::string::npos) e.tensor->copy_(Tensor::full(e.tensor->shape(), 0.25));
  }
  m.train();
  m.eval();
  plain = run(m, x, false);
  fused = run(m, x, true);
  EXPECT_LT(worst_difference(fused, plain), 2e-5);
}

}  // namespace
}  // namespace cage::test
