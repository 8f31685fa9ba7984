// The MBConv-side CUDA kernels (kernels/cuda/{batch_norm,depthwise_conv}.cu) on the emulator against the CPU
// kernels, the oracle of every backend, through the Tensor-level API (kernels:: entries dispatch on the device):
// batch norm forward (training with running-stat update, eval) and backward (training and eval formulas, each of
// gx/gw/gb optional); depthwise conv forward, backward (gx, gw) and the fused conv + eval BatchNorm + GELU.
// Inputs are made on the CPU and copied to device emu; outputs are pre-filled with NaN so an element a kernel
// forgets to write fails; |gpu - cpu| <= atol + rtol * |cpu| with tolerances from the measured errors (printed),
// with headroom for the FMA contraction nvcc does and the emulator's host build does not.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "emu/emu_test_util.h"
#include "emu/gpu_compare.h"
#include "kernels/conv.h"
#include "kernels/device.h"
#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "nn/functional.h"

namespace cage_test {
namespace {

class NormConvEmu : public EmuTest {};

std::string shape_name(const Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ',';
    r += std::to_string(s[i]);
  }
  r += ')';
  return r;
}

// ---- batch norm ----

struct bn_case {
  Shape x;
  float offset;  // added to x: a large |mean| next to a small std tests the variance's accuracy
  bool affine;
};

TEST_F(NormConvEmu, BatchNormForwardBackwardMatchCpu) {
  // 646 rows: several row chunks in the two-level reduction; 1 and 33 channels: partial column blocks.
  const bn_case cases[] = {{{1, 1, 2, 1}, 0, true},   {{2, 3, 5, 7}, 0, false},   {{1, 7, 5, 33}, 0, true},
                           {{3, 4, 4, 100}, 0, true}, {{2, 17, 19, 64}, 0, true}, {{2, 9, 7, 5}, 300.0f, true},
                           {{1, 200, 201, 3}, 0, true}};  // 40200 rows: the chunk count's cap, a shorter last chunk
  unsigned seed = 100;
  const double momentum = 0.1, eps = 1e-3;
  for (const bn_case& k : cases)
    for (bool training : {true, false}) {
      const int64_t C = k.x[3];
      const std::string name = shape_name(k.x) + (training ? " train" : " eval") + (k.affine ? "" : " no affine") +
                               (k.offset != 0 ? " offset" : "");
      Tensor x = random_tensor(k.x, seed++, -2.0f + k.offset, 2.0f + k.offset);
      Tensor w = k.affine ? random_tensor({C}, seed++, 0.5f, 1.5f) : Tensor();
      Tensor b = k.affine ? random_tensor({C}, seed++, -1.0f, 1.0f) : Tensor();
      Tensor rm = random_tensor({C}, seed++, -0.5f + k.offset, 0.5f + k.offset),
             rv = random_tensor({C}, seed++, 0.5f, 2.0f);
      Tensor gy = random_tensor(k.x, seed++, -1.0f, 1.0f);
      Tensor rm_d = to_emu(rm), rv_d = to_emu(rv);  // updated in place on both sides
      Tensor y = nan_tensor(x.shape(), Device::cpu, x.dtype()), mean = Tensor::empty({C}, DType::f64),
             invstd = Tensor::empty({C}, DType::f64);
      Tensor y_d = nan_tensor(x.shape(), Device::emu, x.dtype()),
             mean_d = Tensor::full({C}, NAN, DType::f64, Device::emu),
             invstd_d = Tensor::full({C}, NAN, DType::f64, Device::emu);
      cage::kernels::batch_norm_forward(x, w, b, rm, rv, training, momentum, eps, y, mean, invstd);
      cage::kernels::batch_norm_forward(to_emu(x), to_emu(w), to_emu(b), rm_d, rv_d, training, momentum, eps, y_d,
                                        mean_d, invstd_d);
      std::printf("batch_norm %s\n", name.c_str());
      const double mtol = k.offset != 0 ? 1e-12 * k.offset : 1e-12;
      check_close("mean (f64)", mean_d, mean, mtol, 1e-12);
      check_close("invstd (f64)", invstd_d, invstd, 0, 1e-9);
      check_close("y", y_d, y, 2e-6, 2e-6);
      check_close("running_mean", rm_d, rm, 0, 1e-6);
      check_close("running_var", rv_d, rv, 0, 1e-6);
      // Backward from the CPU's saved statistics (identical inputs on both sides); all three gradients, then each
      // subset, so a kernel that needs an output it was not given fails.
      Tensor mean_in = to_emu(mean), invstd_in = to_emu(invstd);
      Tensor gx = nan_tensor(x.shape(), Device::cpu, x.dtype()), gw = Tensor::full({C}, NAN),
             gb = Tensor::full({C}, NAN);
      cage::kernels::batch_norm_backward(x, w, mean, invstd, gy, training, gx, gw, gb);
      for (int mask : {7, 1, 2, 4}) {
        Tensor gx_d = mask & 1 ? nan_tensor(x.shape(), Device::emu, x.dtype()) : Tensor();
        Tensor gw_d = mask & 2 ? Tensor::full({C}, NAN, DType::f32, Device::emu) : Tensor();
        Tensor gb_d = mask & 4 ? Tensor::full({C}, NAN, DType::f32, Device::emu) : Tensor();
        cage::kernels::batch_norm_backward(to_emu(x), to_emu(w), mean_in, invstd_in, to_emu(gy), training, gx_d, gw_d,
                                           gb_d);
        const std::string sub = mask == 7 ? "" : " (alone)";
        if (gx_d.defined()) check_close("gx" + sub, gx_d, gx, 2e-6, 1e-5);
        if (gw_d.defined()) check_close("gw" + sub, gw_d, gw, 1e-5, 1e-6);
        if (gb_d.defined()) check_close("gb" + sub, gb_d, gb, 1e-5, 1e-6);
      }
    }
}

TEST_F(NormConvEmu, BatchNormTrainingNeedsTwoRows) {
  Tensor x = Tensor::zeros({1, 1, 1, 3}, DType::f32, Device::emu);
  Tensor m = Tensor::empty({3}, DType::f64, Device::emu), s = Tensor::empty({3}, DType::f64, Device::emu);
  EXPECT_ANY_THROW(cage::kernels::batch_norm_forward(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5,
                                                     Tensor::empty({1, 1, 1, 3}, DType::f32, Device::emu), m, s));
}

// nn::batch_norm2d on device emu: statistics, running stats and gradients stay on the device and match the CPU.
TEST_F(NormConvEmu, BatchNormAutogradOnDeviceMatchesCpu) {
  const Shape xs{2, 5, 3, 12};
  Tensor x = random_tensor(xs, 200, -2.0f, 2.0f), gy = random_tensor(xs, 201, -1.0f, 1.0f);
  Tensor w = random_tensor({12}, 202, 0.5f, 1.5f), b = random_tensor({12}, 203, -0.5f, 0.5f);
  for (bool training : {true, false}) {
    Tensor rm = random_tensor({12}, 204, -0.5f, 0.5f), rv = random_tensor({12}, 205, 0.5f, 2.0f);
    Tensor rm_d = to_emu(rm), rv_d = to_emu(rv);
    std::vector<Tensor> cpu{x.detach(), w.detach(), b.detach()}, gpu;
    for (Tensor& t : cpu) {
      gpu.push_back(t.to(Device::emu));
      gpu.back().set_requires_grad(true);
      t.set_requires_grad(true);
    }
    Tensor y = cage::nn::batch_norm2d(cpu[0], cpu[1], cpu[2], rm, rv, training, 0.1, 1e-3);
    Tensor y_d = cage::nn::batch_norm2d(gpu[0], gpu[1], gpu[2], rm_d, rv_d, training, 0.1, 1e-3);
    EXPECT_EQ(y_d.device(), Device::emu);
    y.backward(gy);
    y_d.backward(gy.to(Device::emu));
    std::printf("nn::batch_norm2d on emu, %s\n", training ? "training" : "eval");
    check_close("y", y_d, y, 2e-6, 2e-6);
    check_close("running_mean", rm_d, rm, 0, 1e-6);
    check_close("running_var", rv_d, rv, 0, 1e-6);
    const char* names[] = {"gx", "gw", "gb"};
    for (size_t i = 0; i < cpu.size(); ++i) {
      ASSERT_TRUE(gpu[i].grad().defined()) << names[i];
      EXPECT_EQ(gpu[i].grad().device(), Device::emu) << names[i];
      check_close(names[i], gpu[i].grad(), cpu[i].grad(), 1e-5, 1e-5);
    }
  }
}

// ---- depthwise conv ----

struct dw_case {
  Shape x;  // (N, H, W, C)
  int64_t KH, KW, stride, padding;
  bool bias;
};

TEST_F(NormConvEmu, DepthwiseConvMatchesCpu) {
  // C % 4 == 0 takes the float4 path, other widths the scalar one; 5x5 and 3x2 take the generic gw path.
  const dw_case cases[] = {{{1, 5, 7, 1}, 3, 3, 1, 1, true},   {{2, 7, 5, 5}, 3, 3, 2, 1, false},
                           {{1, 9, 9, 8}, 3, 3, 1, 1, true},   {{2, 8, 6, 12}, 3, 3, 2, 1, true},
                           {{1, 11, 13, 33}, 3, 3, 2, 1, true}, {{2, 17, 15, 64}, 3, 3, 1, 1, true},
                           {{1, 6, 7, 4}, 5, 5, 1, 2, true},   {{1, 7, 6, 3}, 3, 2, 2, 0, false},
                           {{1, 363, 363, 2}, 3, 3, 1, 1, true}};  // 131769 pixels: gw's chunk-count cap
  unsigned seed = 300;
  for (const dw_case& k : cases) {
    const int64_t C = k.x[3];
    Tensor x = random_tensor(k.x, seed++, -1.0f, 1.0f);
    Tensor w = random_tensor({k.KH, k.KW, 1, C}, seed++, -1.0f, 1.0f);
    Tensor b = k.bias ? random_tensor({C}, seed++, -0.5f, 0.5f) : Tensor();
    const cage::kernels::Conv2dShape s = cage::kernels::conv2d_shape(x.shape(), w.shape(), k.stride, k.padding, C);
    const Shape ys{s.N, s.Ho, s.Wo, C};
    Tensor gy = random_tensor(ys, seed++, -1.0f, 1.0f);
    const std::string name = shape_name(k.x) + " k" + std::to_string(k.KH) + "x" + std::to_string(k.KW) + " s" +
                             std::to_string(k.stride) + " p" + std::to_string(k.padding);
    std::printf("depthwise %s\n", name.c_str());
    Tensor y = Tensor::full(ys, NAN), y_d = Tensor::full(ys, NAN, DType::f32, Device::emu);
    cage::kernels::depthwise_conv2d_forward(s, x, w, b, y);
    cage::kernels::depthwise_conv2d_forward(s, to_emu(x), to_emu(w), to_emu(b), y_d);
    check_close("y", y_d, y, 1e-6, 1e-6);

    Tensor gx = nan_tensor(x.shape(), Device::cpu, x.dtype()), gw = Tensor::full(w.shape(), NAN);
    cage::kernels::depthwise_conv2d_backward(s, x, w, gy, gx, gw);
    for (int mask : {3, 1, 2}) {
      Tensor gx_d = mask & 1 ? nan_tensor(x.shape(), Device::emu, x.dtype()) : Tensor();
      Tensor gw_d = mask & 2 ? Tensor::full(w.shape(), NAN, DType::f32, Device::emu) : Tensor();
      cage::kernels::depthwise_conv2d_backward(s, to_emu(x), to_emu(w), to_emu(gy), gx_d, gw_d);
      const std::string sub = mask == 3 ? "" : " (alone)";
      if (gx_d.defined()) check_close("gx" + sub, gx_d, gx, 1e-6, 1e-6);
      if (gw_d.defined()) check_close("gw" + sub, gw_d, gw, 2e-5, 1e-5);
    }

    // Fused inference path: an eval BatchNorm folded into scale/shift, then GELU.
    Tensor scale = random_tensor({C}, seed++, 0.5f, 2.0f), shift = random_tensor({C}, seed++, -1.0f, 1.0f);
    Tensor f = Tensor::full(ys, NAN), f_d = Tensor::full(ys, NAN, DType::f32, Device::emu);
    cage::kernels::depthwise_conv2d_bn_gelu_forward(s, x, w, b, scale, shift, f);
    cage::kernels::depthwise_conv2d_bn_gelu_forward(s, to_emu(x), to_emu(w), to_emu(b), to_emu(scale), to_emu(shift),
                                                    f_d);
    check_close("conv + bn + gelu", f_d, f, 2e-6, 2e-6);
  }
}

// The fused CPU oracle is the composition it replaces: conv, eval batch norm with the folded affine, GELU.
TEST_F(NormConvEmu, FusedDepthwiseOracleIsTheComposition) {
  const int64_t C = 6;
  Tensor x = random_tensor({2, 5, 4, C}, 900, -1.0f, 1.0f), w = random_tensor({3, 3, 1, C}, 901, -1.0f, 1.0f);
  Tensor b = random_tensor({C}, 902, -0.5f, 0.5f), gamma = random_tensor({C}, 903, 0.5f, 1.5f);
  Tensor beta = random_tensor({C}, 904, -0.5f, 0.5f), rm = random_tensor({C}, 905, -0.3f, 0.3f);
  Tensor rv = random_tensor({C}, 906, 0.5f, 2.0f);
  const double eps = 1e-3;
  const cage::kernels::Conv2dShape s = cage::kernels::conv2d_shape(x.shape(), w.shape(), 1, 1, C);
  Tensor conv = Tensor::empty({s.N, s.Ho, s.Wo, C}), bn = Tensor::empty(conv.shape()), ref = Tensor::empty(conv.shape());
  cage::kernels::depthwise_conv2d_forward(s, x, w, b, conv);
  Tensor mean = Tensor::empty({C}, DType::f64), invstd = Tensor::empty({C}, DType::f64);
  cage::kernels::batch_norm_forward(conv, gamma, beta, rm, rv, false, 0.1, eps, bn, mean, invstd);
  cage::kernels::unary_forward(cage::kernels::Unary::gelu, bn, ref);
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double a = gamma.to_vector<float>()[c] / std::sqrt(double(rv.to_vector<float>()[c]) + eps);
    scale[c] = float(a);
    shift[c] = float(beta.to_vector<float>()[c] - rm.to_vector<float>()[c] * a);
  }
  Tensor fused = Tensor::full(conv.shape(), NAN);
  cage::kernels::depthwise_conv2d_bn_gelu_forward(s, x, w, b, Tensor::from_vector(scale, {C}),
                                                  Tensor::from_vector(shift, {C}), fused);
  check_close("fused cpu vs conv, batch_norm (eval), gelu", fused, ref, 1e-6, 1e-6);
}

}  // namespace
}  // namespace cage_test
