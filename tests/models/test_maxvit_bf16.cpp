// The bf16 inference path (models::set_inference_precision(Precision::bf16): the fast path's GEMMs in bf16
// with fp32 accumulation) against the fp32 fast path on the Fashion-MNIST MaxViT with random weights: every
// observed tensor within a tolerance measured on this model, and the packed weights following weight changes;
// and MaxViT-T (224x224, 1000 classes) on the golden splitmix weights and input: bf16 logits against fp32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "core/autograd.h"
#include "core/philox.h"
#include "kernels/gemm_bf16.h"
#include "models/maxvit.h"
#include "reference_bundles.h"
#include "support/splitmix.h"

namespace cage::test {
namespace {

Tensor random_input(int64_t batch, int64_t size, uint64_t seed) {
  Philox g(seed, 3);
  Tensor x = Tensor::empty({batch, size, size, 1}, DType::f64);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] = g.normal();
  return x.to(DType::f32);
}

std::map<std::string, Tensor> run(models::MaxVit& m, const Tensor& x, models::Precision p) {
  models::set_inference_precision(p);
  std::map<std::string, Tensor> out;
  NoGradGuard no_grad;
  out["logits"] = m.forward(x, [&](const std::string& name, const Tensor& t) { out[name] = t.contiguous(); });
  models::set_inference_precision(models::Precision::fp32);
  return out;
}

// max |a - b| / (1 + max |b|) for one tensor
double difference(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to(DType::f64).to_vector<double>(), y = b.to(DType::f64).to_vector<double>();
  double scale = 0, diff = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    scale = std::max(scale, std::fabs(y[i]));
    diff = std::max(diff, std::fabs(x[i] - y[i]));
  }
  return diff / (1 + scale);
}

TEST(MaxVitBf16, CloseToFp32) {
  if (!kernels::bf16_gemm_supported()) {
    EXPECT_THROW(models::set_inference_precision(models::Precision::bf16), Error);
    GTEST_SKIP() << "CPU without AVX-512 BF16";
  }
  models::MaxVit m(models::fashion_mnist_config());
  m.init_weights(5);
  m.eval();
  Tensor x = random_input(4, 32, 6);
  auto f32 = run(m, x, models::Precision::fp32), b16 = run(m, x, models::Precision::bf16);
  double worst = 0;
  for (auto& [name, t] : f32) worst = std::max(worst, difference(b16.at(name), t));
  const double logits = difference(b16["logits"], f32["logits"]);
  std::printf("[bf16] worst |bf16 - fp32| / (1 + max|fp32|): %.3g over %zu tensors, logits %.3g\n", worst, f32.size(),
              logits);
  // bf16 keeps 8 significant bits (relative rounding up to 2^-9 = 2e-3 per operand); measured 2.3e-3 worst and
  // 4.3e-4 on the logits here: 4x margin.
  EXPECT_LT(worst, 1e-2);
  EXPECT_GT(worst, 0) << "bf16 changed nothing: is the bf16 GEMM in use?";
  EXPECT_LT(logits, 2e-3);
}

TEST(MaxVitBf16, PackedWeightsFollowWeightChanges) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  models::MaxVit a(models::fashion_mnist_config()), b(models::fashion_mnist_config());
  a.init_weights(1);
  b.init_weights(2);
  a.eval();
  b.eval();
  Tensor x = random_input(2, 32, 3);
  Tensor before = run(a, x, models::Precision::bf16)["logits"];
  a.load_state_dict(b.state_dict());  // new values in the same tensors
  Tensor after = run(a, x, models::Precision::bf16)["logits"], want = run(b, x, models::Precision::bf16)["logits"];
  EXPECT_EQ(difference(after, want), 0.0);
  EXPECT_GT(difference(before, want), 1e-6);
}

TEST(MaxVitBf16, MaxVitTSplitmixLogits) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  auto bundles = bundles_of_kind("splitmix_forward");
  if (bundles.empty()) GTEST_SKIP() << "no splitmix bundles in " << reference_dir();
  const Bundle& b = bundles.front();
  models::MaxVit model(models::maxvit_t_config(std::stoll(b.file.meta("num_classes"))));
  model.eval();
  SplitMix64 rng(std::stoull(b.file.meta("splitmix_seed")));
  splitmix_fill(model, rng);
  const Tensor& ref_input = b.file.get("input");  // (N, C, H, W)
  const int64_t N = ref_input.size(0), C = ref_input.size(1), H = ref_input.size(2), W = ref_input.size(3);
  Tensor x = Tensor::empty({N, H, W, C});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < H * W; ++i)
        x.data<float>()[(n * H * W + i) * C + c] = ref_input.data<float>()[(n * C + c) * H * W + i];
  Tensor f32 = run(model, x, models::Precision::fp32)["logits"], b16 = run(model, x, models::Precision::bf16)["logits"];
  std::vector<float> a = f32.to_vector<float>(), c = b16.to_vector<float>();
  const int64_t K = f32.size(1);
  double diff = 0, scale = 0;
  int agree = 0;
  for (int64_t n = 0; n < N; ++n) {
    int64_t ia = 0, ic = 0;
    for (int64_t k = 0; k < K; ++k) {
      diff = std::max(diff, std::fabs(double(a[n * K + k]) - c[n * K + k]));
      scale = std::max(scale, std::fabs(double(a[n * K + k])));
      if (a[n * K + k] > a[n * K + ia]) ia = k;
      if (c[n * K + k] > c[n * K + ic]) ic = k;
    }
    agree += ia == ic;
  }
  std::printf("[bf16] MaxViT-T splitmix: max |logit bf16 - fp32| %.4g (max |logit| %.4g), top-1 agreement %d/%lld\n",
              diff, scale, agree, (long long)N);
  EXPECT_LT(diff, 0.02 * scale);  // measured 0.0043 of 0.93 (0.46%)
  EXPECT_EQ(agree, N);
}

}  // namespace
}  // namespace cage::test
