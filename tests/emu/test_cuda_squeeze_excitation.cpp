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
#include "kernels/device.h"
#include "kernels/se.h"
#include "nn/functional.h"

namespace cage_test {
namespace {

using cage::Device;
using cage::DType;
using cage::Shape;
using cage::Tensor;

class SqueezeExcitationEmu : public ::testing::Test {
 protected:
  void SetUp() override { cage::kernels::use_device(Device::emu); }
};

Tensor random_cpu(const Shape& shape, float lo, float hi, unsigned seed) {
  return Tensor::from_vector(random_values(static_cast<size_t>(cage::shape_numel(shape)), lo, hi, seed), shape);
}
Tensor dev(const Tensor& t) { return t.defined() ? t.to(Device::emu) : Tensor(); }
Tensor nans(const Shape& s, Device d) { return Tensor::full(s, NAN, DType::f32, d); }

double check(const std::string& what, const Tensor& gpu, const Tensor& cpu, double atol, double rtol) {
  const std::vector<float> g = gpu.to(Device::cpu).to_vector<float>(), c = cpu.to(Device::cpu).to_vector<float>();
  EXPECT_EQ(g.size(), c.size()) << what;
  double worst = 0;
  bool ok = true;
  for (size_t i = 0; i < g.size() && i < c.size(); ++i) {
    const double err = std::fabs(double(g[i]) - double(c[i]));
    if (!(err <= atol + rtol * std::fabs(double(c[i])))) ok = false;
    worst = std::isnan(err) ? INFINITY : std::max(worst, err);
  }
  std::printf("  %-40s max |err| %.3g\n", what.c_str(), worst);
  EXPECT_TRUE(ok) << what << ": max |err| " << worst << " over atol " << atol << " + rtol " << rtol;
  return worst;
}

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
    Tensor x = random_cpu(xs, -2.0f, 2.0f, seed++), gy = random_cpu(xs, -1.0f, 1.0f, seed++);
    Tensor w1 = random_cpu({1, 1, k.C, k.R}, -0.5f, 0.5f, seed++), w2 = random_cpu({1, 1, k.R, k.C}, -0.5f, 0.5f, seed++);
    Tensor b1 = k.bias ? random_cpu({k.R}, -0.5f, 0.5f, seed++) : Tensor();
    Tensor b2 = k.bias ? random_cpu({k.C}, -0.5f, 0.5f, seed++) : Tensor();
    std::printf("squeeze_excitation N %ld HxW %ldx%ld C %ld R %ld%s\n", long(k.N), long(k.H), long(k.W), long(k.C),
                long(k.R), k.bias ? "" : " no bias");
    Tensor y = nans(xs, Device::cpu), y_d = nans(xs, Device::emu);
    cage::kernels::squeeze_excitation_forward(x, w1, b1, w2, b2, y);
    cage::kernels::squeeze_excitation_forward(dev(x), dev(w1), dev(b1), dev(w2), dev(b2), y_d);
    check("y", y_d, y, 1e-6, 1e-6);

    Tensor gx = nans(xs, Device::cpu), gw1 = nans(w1.shape(), Device::cpu), gw2 = nans(w2.shape(), Device::cpu);
    Tensor gb1 = k.bias ? nans({k.R}, Device::cpu) : Tensor(), gb2 = k.bias ? nans({k.C}, Device::cpu) : Tensor();
    cage::kernels::squeeze_excitation_backward(x, w1, b1, w2, b2, gy, gx, gw1, gb1, gw2, gb2);
    // All gradients at once, then each alone (-1): a kernel that writes an output it was not given fails.
    for (int only : {-1, 0, 1, 2, 3, 4}) {
      auto want = [&](int i, const Tensor& like) {
        return (only < 0 || only == i) && like.defined() ? nans(like.shape(), Device::emu) : Tensor();
      };
      Tensor gx_d = want(0, gx), gw1_d = want(1, gw1), gb1_d = want(2, gb1), gw2_d = want(3, gw2),
             gb2_d = want(4, gb2);
      cage::kernels::squeeze_excitation_backward(dev(x), dev(w1), dev(b1), dev(w2), dev(b2), dev(gy), gx_d, gw1_d,
                                                 gb1_d, gw2_d, gb2_d);
      const std::string sub = only < 0 ? "" : " (alone)";
      if (gx_d.defined()) check("gx" + sub, gx_d, gx, 1e-6, 1e-5);
      if (gw1_d.defined()) check("gw1" + sub, gw1_d, gw1, 1e-5, 1e-5);
      if (gb1_d.defined()) check("gb1" + sub, gb1_d, gb1, 1e-5, 1e-5);
      if (gw2_d.defined()) check("gw2" + sub, gw2_d, gw2, 1e-5, 1e-5);
      if (gb2_d.defined()) check("gb2" + sub, gb2_d, gb2, 1e-5, 1e-5);
    }
  }
}

// The nn op records its backward on device emu: gradients of a loss through it match the CPU's.
TEST_F(SqueezeExcitationEmu, AutogradOnDeviceMatchesCpu) {
  const Shape xs{2, 5, 3, 12};
  Tensor x = random_cpu(xs, -2.0f, 2.0f, 800), gy = random_cpu(xs, -1.0f, 1.0f, 801);
  Tensor w1 = random_cpu({1, 1, 12, 3}, -0.5f, 0.5f, 802), b1 = random_cpu({3}, -0.5f, 0.5f, 803);
  Tensor w2 = random_cpu({1, 1, 3, 12}, -0.5f, 0.5f, 804), b2 = random_cpu({12}, -0.5f, 0.5f, 805);
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
  check("nn y", y_d, y, 1e-6, 1e-6);
  const char* names[] = {"nn gx", "nn gw1", "nn gb1", "nn gw2", "nn gb2"};
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_TRUE(gpu[i].grad().defined()) << names[i];
    EXPECT_EQ(gpu[i].grad().device(), Device::emu) << names[i];
    check(names[i], gpu[i].grad(), cpu[i].grad(), 1e-5, 1e-5);
  }
}

}  // namespace
}  // namespace cage_test
