// The fused squeeze-excitation CUDA kernels (kernels/cuda/se.cu) on the emulator against the CPU kernel
// (kernels/cpu/se.cpp), through the Tensor-level API: forward y and backward gx, gw1, gb1, gw2, gb2 (all, and each
// alone), with and without biases, at sizes that leave partial column blocks (C = 7, 33, 300 > 256 threads) and
// more squeezed channels than warps (R = 40). Then the nn op's autograd on device emu against the CPU.
// Outputs are pre-filled with NaN; tolerances from the measured errors (printed).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "emu/emu_test_util.h"
#include "emu/gpu_compare.h"
#include "kernels/device.h"
#include "kernels/se.h"
#include "nn/functional.h"

namespace cage_test {
namespace {

class SqueezeExcitationEmu : public EmuTest {};

struct se_case {
  int64_t N, H, W, C, R;
  bool bias;
};
const se_case kCases[] = {{1, 1, 1, 4, 1, true},   {2, 3, 5, 7, 3, false}, {3, 7, 7, 33, 5, true},
                          {2, 9, 11, 64, 16, true}, {1, 4, 5, 300, 40, true}, {5, 2, 3, 12, 2, true}};

TEST_F(SqueezeExcitationEmu, ForwardBackwardMatchCpu) {
  unsigned seed = 700;
  for (const se_case& k : kCases) {
    const Shape xs{k.N, k.H, k.W, k.C};
    Tensor x = random_tensor(xs, seed++, -2.0f, 2.0f), gy = random_tensor(xs, seed++, -1.0f, 1.0f);
    Tensor w1 = random_tensor({1, 1, k.C, k.R}, seed++, -0.5f, 0.5f),
           w2 = random_tensor({1, 1, k.R, k.C}, seed++, -0.5f, 0.5f);
    Tensor b1 = k.bias ? random_tensor({k.R}, seed++, -0.5f, 0.5f) : Tensor();
    Tensor b2 = k.bias ? random_tensor({k.C}, seed++, -0.5f, 0.5f) : Tensor();
    std::printf("squeeze_excitation N %ld HxW %ldx%ld C %ld R %ld%s\n", long(k.N), long(k.H), long(k.W), long(k.C),
                long(k.R), k.bias ? "" : " no bias");
    Tensor y = nan_tensor(xs, Device::cpu), y_d = nan_tensor(xs, Device::emu);
    cage::kernels::squeeze_excitation_forward(x, w1, b1, w2, b2, y);
    cage::kernels::squeeze_excitation_forward(to_emu(x), to_emu(w1), to_emu(b1), to_emu(w2), to_emu(b2), y_d);
    check_close("y", y_d, y, 1e-6, 1e-6);

    Tensor gx = nan_tensor(xs, Device::cpu), gw1 = nan_tensor(w1.shape(), Device::cpu),
           gw2 = nan_tensor(w2.shape(), Device::cpu);
    Tensor gb1 = k.bias ? nan_tensor({k.R}, Device::cpu) : Tensor(),
           gb2 = k.bias ? nan_tensor({k.C}, Device::cpu) : Tensor();
    cage::kernels::squeeze_excitation_backward(x, w1, b1, w2, b2, gy, gx, gw1, gb1, gw2, gb2);
    // All gradients at once, then each alone (-1): a kernel that writes an output it was not given fails.
    for (int only : {-1, 0, 1, 2, 3, 4}) {
      auto want = [&](int i, const Tensor& like) {
        return (only < 0 || only == i) && like.defined() ? nan_tensor(like.shape(), Device::emu) : Tensor();
      };
      Tensor gx_d = want(0, gx), gw1_d = want(1, gw1), gb1_d = want(2, gb1), gw2_d = want(3, gw2),
             gb2_d = want(4, gb2);
      cage::kernels::squeeze_excitation_backward(to_emu(x), to_emu(w1), to_emu(b1), to_emu(w2), to_emu(b2), to_emu(gy),
                                                 gx_d, gw1_d, gb1_d, gw2_d, gb2_d);
      const std::string sub = only < 0 ? "" : " (alone)";
      if (gx_d.defined()) check_close("gx" + sub, gx_d, gx, 1e-6, 1e-5);
      if (gw1_d.defined()) check_close("gw1" + sub, gw1_d, gw1, 1e-5, 1e-5);
      if (gb1_d.defined()) check_close("gb1" + sub, gb1_d, gb1, 1e-5, 1e-5);
      if (gw2_d.defined()) check_close("gw2" + sub, gw2_d, gw2, 1e-5, 1e-5);
      if (gb2_d.defined()) check_close("gb2" + sub, gb2_d, gb2, 1e-5, 1e-5);
    }
  }
}

// The nn op records its backward on device emu: gradients of a loss through it match the CPU's.
TEST_F(SqueezeExcitationEmu, AutogradOnDeviceMatchesCpu) {
  const Shape xs{2, 5, 3, 12};
  Tensor x = random_tensor(xs, 800, -2.0f, 2.0f), gy = random_tensor(xs, 801, -1.0f, 1.0f);
  Tensor w1 = random_tensor({1, 1, 12, 3}, 802, -0.5f, 0.5f), b1 = random_tensor({3}, 803, -0.5f, 0.5f);
  Tensor w2 = random_tensor({1, 1, 3, 12}, 804, -0.5f, 0.5f), b2 = random_tensor({12}, 805, -0.5f, 0.5f);
  std::vector<Tensor> cpu{x, w1, b1, w2, b2}, gpu;
  for (Tensor& t : cpu) {
    gpu.push_back(t.to(Device::emu));
    gpu.back().set_requires_grad(true);
    t.set_requires_grad(true);
  }
  Tensor y = cage::nn::squeeze_excitation(cpu[0], cpu[1], cpu[2], cpu[3], cpu[4]);
  Tensor y_d = cage::nn::squeeze_excitation(gpu[0], gpu[1], gpu[2], gpu[3], gpu[4]);
  EXPECT_EQ(y_d.device(), Device::emu);
  y.backward(gy);
  y_d.backward(gy.to(Device::emu));
  check_close("nn y", y_d, y, 1e-6, 1e-6);
  const char* names[] = {"nn gx", "nn gw1", "nn gb1", "nn gw2", "nn gb2"};
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_TRUE(gpu[i].grad().defined()) << names[i];
    EXPECT_EQ(gpu[i].grad().device(), Device::emu) << names[i];
    check_close(names[i], gpu[i].grad(), cpu[i].grad(), 1e-5, 1e-5);
  }
}

}  // namespace
}  // namespace cage_test
