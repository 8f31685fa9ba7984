// batch_norm2d (training: batch statistics and the running-stat update; eval: running statistics), the fused
// training-mode batch_norm2d_gelu and layer_norm against PyTorch fixtures (tools/reference/ref_ops.py).
#include <gtest/gtest.h>

#include "nn/functional.h"
#include "torch_case.h"

namespace cage::test {
namespace {

class TorchNormOps : public DeviceTest {};

TEST_P(TorchNormOps, BatchNorm2d) {
  for (auto& c : device_cases("batch_norm2d")) {
    // The input gradient in training mode subtracts two means over N*H*W from gout: cancellation.
    TorchCase t(c, {5e-6, 1e-5}, {1e-12, 1e-10});
    const auto& p = t.params();
    Tensor x = t.leaf("x"), w = t.leaf("weight"), b = t.leaf("bias");
    Tensor rm = t.input("running_mean"), rv = t.input("running_var");
    bool training = p.at("training").get<bool>();
    Tensor out = nn::batch_norm2d(x, w, b, rm, rv, training, p.at("momentum").get<double>(), p.at("eps").get<double>());
    t.check("out.running_mean", rm, {1e-6, 1e-5});
    t.check("out.running_var", rv, {1e-6, 1e-5});
    if (!training) {
      // Eval mode must leave the running statistics untouched: exact.
      EXPECT_TRUE(allclose(rm.to(Device::cpu), t.stored("in.running_mean"), 0, 0)) << c.name;
      EXPECT_TRUE(allclose(rv.to(Device::cpu), t.stored("in.running_var"), 0, 0)) << c.name;
    }
    t.run(out);
  }
}

// The fused training-mode BatchNorm + GELU against F.gelu(F.batch_norm(training=True)).
TEST_P(TorchNormOps, BatchNorm2dGelu) {
  for (auto& c : device_cases("batch_norm2d_gelu")) {
    TorchCase t(c, {5e-6, 1e-5}, {1e-12, 1e-10});
    const auto& p = t.params();
    Tensor x = t.leaf("x"), w = t.leaf("weight"), b = t.leaf("bias");
    Tensor rm = t.input("running_mean"), rv = t.input("running_var");
    Tensor out = nn::batch_norm2d_gelu(x, w, b, rm, rv, true, p.at("momentum").get<double>(), p.at("eps").get<double>());
    t.check("out.running_mean", rm, {1e-6, 1e-5});
    t.check("out.running_var", rv, {1e-6, 1e-5});
    t.run(out);
  }
}

TEST_P(TorchNormOps, LayerNorm) {
  for (auto& c : device_cases("layer_norm")) {
    TorchCase t(c, {5e-6, 1e-5}, {1e-12, 1e-10});
    Tensor x = t.leaf("x"), w = t.leaf("weight"), b = t.leaf("bias");
    t.run(nn::layer_norm(x, w, b, t.params().at("eps").get<double>()));
  }
}

CAGE_INSTANTIATE_DEVICE_SUITE(TorchNormOps);

}  // namespace
}  // namespace cage::test
