// Losses (cross-entropy, MSE, CCC, BCE-with-logits), forward and backward, against PyTorch fixtures
// (tools/reference/ref_losses.py, computed in float64 and rounded to the case's dtype), and the loss terms of
// the golden MaxViT train step. The kernels evaluate in double and round once, so float32 results measured
// equal to the rounded float64 reference; the f32 tolerance (a few ulp) leaves room for another libm only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "nn/functional.h"
#include "torch_case.h"

namespace cage::test {
namespace {

class TorchLosses : public DeviceTest {};

const Tolerance kF32{1e-9, 5e-7};

TEST_P(TorchLosses, CrossEntropy) {
  for (auto& c : device_cases("cross_entropy", 16)) {
    TorchCase t(c, kF32, {1e-13, 1e-12});
    Tensor w = t.has("weight") ? t.input("weight") : Tensor();
    t.run(nn::cross_entropy(t.leaf("logits"), t.input("labels"), w));
  }
}

// The same cases through a non-contiguous (transposed) view of the logits.
TEST_P(TorchLosses, CrossEntropyStridedLogits) {
  for (auto& c : device_cases("cross_entropy", 16)) {
    TorchCase t(c, kF32, {1e-13, 1e-12});
    Tensor kn = t.input("logits").transpose(0, 1).contiguous();  // (K, N) storage
    kn.set_requires_grad(true);
    Tensor view = kn.transpose(0, 1);
    ASSERT_FALSE(view.is_contiguous() && view.size(0) > 1 && view.size(1) > 1);
    Tensor w = t.has("weight") ? t.input("weight") : Tensor();
    Tensor out = nn::cross_entropy(view, t.input("labels"), w);
    t.check("out", out);
    t.backward(out);
    t.check("grad.logits", kn.grad().transpose(0, 1));
  }
}

TEST_P(TorchLosses, MseLoss) {
  for (auto& c : device_cases("mse_loss", 10)) {
    TorchCase t(c, kF32, {1e-14, 1e-12});
    t.run(nn::mse_loss(t.leaf("pred"), t.leaf("target")));
  }
}

TEST_P(TorchLosses, CccLoss) {
  for (auto& c : device_cases("ccc_loss", 12)) {
    TorchCase t(c, kF32, {1e-13, 1e-11});
    t.run(nn::ccc_loss(t.leaf("pred"), t.leaf("target")));
  }
}

TEST_P(TorchLosses, BceWithLogits) {
  for (auto& c : device_cases("bce_with_logits", 10)) {
    TorchCase t(c, kF32, {1e-14, 1e-12});
    Tensor pw = t.has("pos_weight") ? t.input("pos_weight") : Tensor();
    ASSERT_EQ(pw.defined(), t.params()["pos_weight"].get<bool>()) << c.name;
    t.run(nn::bce_with_logits(t.leaf("logits"), t.leaf("targets"), pw));
  }
}

// The combined CAGE loss of the golden train step, from its stored logits: CE_w(logits[:, :8], labels) and
// MSE(logits[:, 8:10], va_targets), both on strided column slices.
TEST_P(TorchLosses, GoldenTrainStepLossTerms) {
  auto cases = load_reference_cases("adamw_golden", 1);
  const TensorFile& f = cases[0].file;
  const Device dev = device();
  const Tensor logits = f.get("logits").to(dev);  // (4, 10)
  int64_t k = cases[0].params["num_classes"].get<int64_t>();
  double alpha = cases[0].params["alpha"].get<double>();
  Tensor ce = nn::cross_entropy(logits.slice(1, 0, k), f.get("labels").to(dev), f.get("class_weights").to(dev));
  Tensor mse = nn::mse_loss(logits.slice(1, k, logits.size(1)), f.get("va_targets").to(dev));
  Tensor loss = nn::add(ce, nn::scale(mse, alpha));
  std::vector<std::pair<std::string, Tensor>> terms{{"loss_ce", ce}, {"loss_va_mse", mse}, {"loss", loss}};
  for (const auto& [name, value] : terms) {
    const Tensor& ref = f.get(name);
    EXPECT_TRUE(allclose(value.to(Device::cpu), ref, 1e-7, 1.2e-7)) << name;  // about one ulp
    std::printf("[torch %s] %-44s  %s %.2e\n", device_name(dev), ("adamw_golden/" + name).c_str(), name.c_str(),
                std::fabs(value.item() - ref.item()));
  }
}

CAGE_INSTANTIATE_DEVICE_SUITE(TorchLosses);

}  // namespace
}  // namespace cage::test
