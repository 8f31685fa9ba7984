// A small training graph built from nn:: ops with autograd on device emu, against the same graph on the CPU:
// broadcasting mul/add (whose backward is sum_to), sub with a transposed operand, scale, average pooling, global average pooling, mean, and
// the cross-entropy, MSE and BCE-with-logits losses, then one fused SGD step on the leaves' gradients. Checks that
// the GPU ops compose through autograd (upstream gradients as device scalars, broadcast gradients reduced on the
// device) and agree with the CPU to float rounding.
#include <gtest/gtest.h>

#include <vector>

#include "emu/gpu_compare.h"
#include "kernels/device.h"
#include "kernels/optim.h"
#include "nn/functional.h"

namespace cage_test {
namespace {

namespace nn = cage::nn;

struct Leaves {
  Tensor x, gain, bias;
};

// Returns the loss; the leaves live on the CPU, their device copies are taken inside (gradients flow back).
Tensor graph(const Leaves& l, Device d, const Tensor& labels, const Tensor& va, const Tensor& multi) {
  Tensor x = l.x.to(d), gain = l.gain.to(d), bias = l.bias.to(d);
  Tensor h = nn::add(nn::mul(x, gain), bias);  // (4,5,5,6) * (1,1,1,6) + (6)
  h = nn::sub(h, x.transpose(1, 2));             // a non-contiguous operand
  Tensor p = nn::avg_pool2d(h, 3, 2, 1, false);  // (4,3,3,6)
  Tensor g = nn::global_avg_pool(p);             // (4,6)
  Tensor ce = nn::cross_entropy(g, labels.to(d));
  Tensor mse = nn::mse_loss(g.slice(1, 0, 2).contiguous(), va.to(d));
  Tensor bce = nn::bce_with_logits(g, multi.to(d));
  return nn::add(nn::add(ce, nn::scale(mse, 0.5)), nn::add(bce, nn::mean(g)));
}

TEST(GpuNnGraph, LossAndGradientsMatchTheCpu) {
  cage::kernels::use_device(Device::emu);
  Leaves cpu{random_tensor({4, 5, 5, 6}, 1), random_tensor({1, 1, 1, 6}, 2, 0.5f, 1.5f), random_tensor({6}, 3)};
  Leaves dev{cpu.x.clone(), cpu.gain.clone(), cpu.bias.clone()};
  for (Leaves* l : {&cpu, &dev}) {
    l->x.set_requires_grad(true);
    l->gain.set_requires_grad(true);
    l->bias.set_requires_grad(true);
  }
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 5, 2, 3}, {4});
  Tensor va = random_tensor({4, 2}, 4), multi = random_tensor({4, 6}, 5, 0.0f, 1.0f);
  Tensor lc = graph(cpu, Device::cpu, labels, va, multi);
  Tensor ld = graph(dev, Device::emu, labels, va, multi);
  EXPECT_EQ(ld.device(), Device::emu);
  lc.backward();
  ld.backward();
  expect_close(ld, lc, 0, 1e-6, "graph loss");
  ASSERT_TRUE(dev.x.grad().defined() && dev.gain.grad().defined() && dev.bias.grad().defined());
  expect_close(dev.x.grad(), cpu.x.grad(), 1e-8, 1e-5, "graph dx");
  expect_close(dev.gain.grad(), cpu.gain.grad(), 1e-8, 1e-5, "graph dgain (sum_to)");
  expect_close(dev.bias.grad(), cpu.bias.grad(), 1e-8, 1e-5, "graph dbias (sum_to)");

  // One SGD step with momentum on each side from the same gradients (the CPU's): parameters stay bit-equal.
  std::vector<cage::kernels::SgdTensor> sc, sd;
  for (const Leaves* l : {&cpu}) {
    for (const Tensor& t : {l->x, l->gain, l->bias}) {
      sc.push_back({t.detach(), t.grad(), Tensor::zeros(t.shape()), true});
      sd.push_back({t.detach().to(Device::emu), t.grad().to(Device::emu),
                    Tensor::zeros(t.shape(), cage::DType::f32, Device::emu), true});
    }
  }
  const cage::kernels::SgdHyper h{0.1, 0.9, 0, 1e-3, true};
  cage::kernels::sgd_step(sc, h);
  cage::kernels::sgd_step(sd, h);
  for (size_t i = 0; i < sc.size(); ++i) expect_close(sd[i].param, sc[i].param, 0, 0, "graph sgd param");
}

}  // namespace
}  // namespace cage_test
