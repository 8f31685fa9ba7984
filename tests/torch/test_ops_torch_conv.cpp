// conv2d (NHWC, HWIO weights), avg_pool2d and global_avg_pool against PyTorch fixtures (tools/reference/ref_ops.py):
// regular, strided, 1x1, the Cin=3 stem, depthwise, grouped, 5x5 and non-square kernels.
#include <gtest/gtest.h>

#include "nn/functional.h"
#include "torch_case.h"

namespace cage::test {
namespace {

class TorchConvOps : public DeviceTest {};

TEST_P(TorchConvOps, Conv2d) {
  for (auto& c : device_cases("conv2d")) {
    // The weight gradient sums over N*OH*OW positions: the widest reduction of the op.
    TorchCase t(c, {3e-5, 1e-5}, {1e-12, 1e-10});
    const auto& p = t.params();
    Tensor x = t.leaf("x"), w = t.leaf("w");
    Tensor b = p.at("bias").get<bool>() ? t.leaf("b") : Tensor();
    nn::Conv2dOptions opt;
    opt.stride = p.at("stride").get<int64_t>();
    opt.padding = p.at("padding").get<int64_t>();
    opt.groups = p.at("groups").get<int64_t>();
    t.run(nn::conv2d(x, w, b, opt));
  }
}

TEST_P(TorchConvOps, AvgPool2d) {
  for (auto& c : device_cases("avg_pool2d")) {
    TorchCase t(c, {1e-6, 1e-5}, {1e-14, 1e-12});
    const auto& p = t.params();
    t.run(nn::avg_pool2d(t.leaf("x"), p.at("kernel").get<int64_t>(), p.at("stride").get<int64_t>(),
                         p.at("padding").get<int64_t>(), p.at("count_include_pad").get<bool>()));
  }
}

TEST_P(TorchConvOps, GlobalAvgPool) {
  for (auto& c : device_cases("global_avg_pool")) {
    TorchCase t(c, {2e-6, 1e-5}, {1e-14, 1e-12});
    t.run(nn::global_avg_pool(t.leaf("x")));
  }
}

CAGE_INSTANTIATE_DEVICE_SUITE(TorchConvOps);

}  // namespace
}  // namespace cage::test
