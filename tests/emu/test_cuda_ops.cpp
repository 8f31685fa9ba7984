// The CUDA op kernels (kernels/cuda/{elementwise,softmax,layer_norm}.cu) run on the emulator against the CPU kernels,
// the oracle of every backend: random float32 inputs of odd sizes go to emulated device memory, the kernel runs, the
// result comes back and is compared element-wise with |gpu - cpu| <= atol + rtol * |cpu|. Outputs are filled with
// NaN bytes before each launch, so an element a kernel forgets to write fails the comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "emu/emu_test_util.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/layer_norm.cuh"
#include "kernels/cuda/softmax.cuh"
#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "kernels/softmax.h"

namespace cage_test {
namespace {

using cage::Tensor;

const std::vector<int64_t> kRows = {1, 7, 33};
const std::vector<int64_t> kWidths = {1, 5, 31, 32, 33, 100, 257, 1024};

template <typename T>
std::vector<float> to_float(const std::vector<T>& v) {
  return std::vector<float>(v.begin(), v.end());
}

// Largest |got - want| and whether every element is within atol + rtol * |want| (NaN counts as a failure).
struct comparison {
  double max_error = 0;
  bool ok = true;
};
comparison compare(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol) {
  comparison c;
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (!(err <= atol + rtol * std::fabs(double(want[i])))) c.ok = false;
    c.max_error = std::isnan(err) ? INFINITY : std::max(c.max_error, err);
  }
  return c;
}

void check(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, double atol,
           double rtol) {
  const comparison c = compare(got, want, atol, rtol);
  std::printf("  %-40s max |err| %.3g\n", what.c_str(), c.max_error);
  EXPECT_TRUE(c.ok) << what << ": max |err| " << c.max_error << " over atol " << atol << " + rtol " << rtol;
}

std::string shape_name(const char* op, int64_t rows, int64_t width) {
  return std::string(op) + " (" + std::to_string(rows) + ", " + std::to_string(width) + ")";
}

struct unary_case {
  const char* name;
  cage::emu::unary_op gpu;
  cage::kernels::Unary cpu;
};

TEST(CudaOpsEmu, UnaryForwardBackwardMatchCpu) {
  const unary_case ops[] = {{"gelu", cage::emu::unary_op::gelu, cage::kernels::Unary::gelu},
                            {"silu", cage::emu::unary_op::silu, cage::kernels::Unary::silu},
                            {"sigmoid", cage::emu::unary_op::sigmoid, cage::kernels::Unary::sigmoid},
                            {"tanh", cage::emu::unary_op::tanh, cage::kernels::Unary::tanh},
                            {"relu", cage::emu::unary_op::relu, cage::kernels::Unary::relu}};
  unsigned seed = 1;
  for (const unary_case& op : ops)
    for (int64_t rows : kRows)
      for (int64_t width : kWidths) {
        const int64_t n = rows * width;
        std::vector<float> xh = random_values(n, -6.0f, 6.0f, seed++);
        xh[0] = 0.0f;  // relu's kink: both sides must agree on f'(0) = 0
        const std::vector<float> gyh = random_values(n, -1.0f, 1.0f, seed++);
        const Tensor x = Tensor::from_vector(xh, {rows, width});
        const Tensor y = Tensor::empty({rows, width});
        const Tensor gy = Tensor::from_vector(gyh, {rows, width});
        const Tensor gx = Tensor::empty({rows, width});
        cage::kernels::unary_forward(op.cpu, x, y);
        cage::kernels::unary_backward(op.cpu, x, y, gy, gx);

        device_buffer<float> dx(xh), dy(n), dgy(gyh), dgx(n);
        dy.fill_bytes(0xff);
        dgx.fill_bytes(0xff);
        cage::emu::unary_forward(op.gpu, dx.get(), dy.get(), n);
        expect_launch_ok();
        // The backward pass gets the CPU's y, so that only f' is compared.
        device_buffer<float> dy_cpu(to_vector(y));
        cage::emu::unary_backward(op.gpu, dx.get(), dy_cpu.get(), dgy.get(), dgx.get(), n);
        expect_launch_ok();
        check(shape_name(op.name, rows, width) + " forward", dy.download(), to_vector(y), 1e-6, 1e-6);
        check(shape_name(op.name, rows, width) + " backward", dgx.download(), to_vector(gx), 1e-6, 1e-6);
      }
}

TEST(CudaOpsEmu, SoftmaxForwardBackwardMatchCpu) {
  unsigned seed = 100;
  for (int64_t rows : kRows)
    for (int64_t width : kWidths) {
      const int64_t n = rows * width;
      const std::vector<float> xh = random_values(n, -8.0f, 8.0f, seed++);
      const std::vector<float> gyh = random_values(n, -1.0f, 1.0f, seed++);
      const Tensor x = Tensor::from_vector(xh, {rows, width});
      const Tensor y = Tensor::empty({rows, width});
      const Tensor gy = Tensor::from_vector(gyh, {rows, width});
      const Tensor gx = Tensor::empty({rows, width});
      cage::kernels::softmax_forward(x, y);
      cage::kernels::softmax_backward(y, gy, gx);

      device_buffer<float> dx(xh), dy(n), dgy(gyh), dgx(n), dy_cpu(to_vector(y));
      dy.fill_bytes(0xff);
      dgx.fill_bytes(0xff);
      cage::emu::softmax_forward(dx.get(), dy.get(), rows, width);
      expect_launch_ok();
      cage::emu::softmax_backward(dy_cpu.get(), dgy.get(), dgx.get(), rows, width);
      expect_launch_ok();
      check(shape_name("softmax", rows, width) + " forward", dy.download(), to_vector(y), 1e-6, 1e-5);
      check(shape_name("softmax", rows, width) + " backward", dgx.download(), to_vector(gx), 1e-6, 1e-5);
    }
}

void layer_norm_case(int64_t rows, int64_t width, bool affine, unsigned seed) {
  const int64_t n = rows * width;
  const float eps = 1e-5f;
  // An offset mean checks that the variance is taken around the mean, not as E[x^2] - E[x]^2.
  const std::vector<float> xh = random_values(n, 2.0f, 4.0f, seed);
  const std::vector<float> gyh = random_values(n, -1.0f, 1.0f, seed + 1);
  const std::vector<float> wh = random_values(width, 0.5f, 1.5f, seed + 2);
  const std::vector<float> bh = random_values(width, -0.5f, 0.5f, seed + 3);
  const Tensor x = Tensor::from_vector(xh, {rows, width});
  const Tensor w = affine ? Tensor::from_vector(wh, {width}) : Tensor();
  const Tensor b = affine ? Tensor::from_vector(bh, {width}) : Tensor();
  const Tensor y = Tensor::empty({rows, width});
  const Tensor mean = Tensor::empty({rows}, cage::DType::f64);
  const Tensor invstd = Tensor::empty({rows}, cage::DType::f64);
  const Tensor gy = Tensor::from_vector(gyh, {rows, width});
  const Tensor gx = Tensor::empty({rows, width});
  const Tensor gw = Tensor::empty({width});
  const Tensor gb = Tensor::empty({width});
  cage::kernels::layer_norm_forward(x, w, b, eps, y, mean, invstd);
  cage::kernels::layer_norm_backward(x, w, mean, invstd, gy, gx, gw, gb);
  const double* mp = mean.data<double>();
  const double* ip = invstd.data<double>();
  const std::vector<float> mean_cpu = to_float(std::vector<double>(mp, mp + rows));
  const std::vector<float> invstd_cpu = to_float(std::vector<double>(ip, ip + rows));

  device_buffer<float> dx(xh), dw(wh), db(bh), dy(n), dmean(rows), dinvstd(rows), dgy(gyh), dgx(n), dgw(width),
      dgb(width);
  for (auto* buf : {&dy, &dmean, &dinvstd, &dgx, &dgw, &dgb}) buf->fill_bytes(0xff);
  const float* wp = affine ? dw.get() : nullptr;
  cage::emu::layer_norm_forward(dx.get(), wp, affine ? db.get() : nullptr, eps, dy.get(), dmean.get(),
                                dinvstd.get(), rows, width);
  expect_launch_ok();
  // Backward from the GPU's own statistics: they are what the backend would save.
  cage::emu::layer_norm_backward(dx.get(), wp, dmean.get(), dinvstd.get(), dgy.get(), dgx.get(), dgw.get(),
                                 dgb.get(), rows, width);
  expect_launch_ok();
  const std::string name = shape_name(affine ? "layer_norm" : "layer_norm (no affine)", rows, width);
  check(name + " mean", dmean.download(), mean_cpu, 1e-6, 1e-6);
  check(name + " invstd", dinvstd.download(), invstd_cpu, 1e-6, 1e-5);
  check(name + " forward", dy.download(), to_vector(y), 1e-5, 1e-5);
  check(name + " gx", dgx.download(), to_vector(gx), 1e-5, 1e-5);
  check(name + " gw", dgw.download(), to_vector(gw), 1e-5, 1e-5);
  check(name + " gb", dgb.download(), to_vector(gb), 1e-5, 1e-5);
}

TEST(CudaOpsEmu, LayerNormForwardBackwardMatchCpu) {
  unsigned seed = 1000;
  for (int64_t rows : kRows)
    for (int64_t width : kWidths) {
      layer_norm_case(rows, width, true, seed);
      seed += 4;
    }
  layer_norm_case(7, 33, false, seed);
  layer_norm_case(33, 257, false, seed + 4);
}

TEST(CudaOpsEmu, LayerNormParamGradientsOverManyRows) {  // more rows than the column reduction's row groups
  layer_norm_case(1000, 33, true, 7);
}

TEST(CudaOpsEmu, SerialAndParallelBlockSchedulesAgree) {  // blocks on one OS thread, then spread over four
  for (bool serial : {true, false}) {
    emu_mode mode(serial ? 1 : 4, serial);
    layer_norm_case(33, 100, true, 11);
    std::vector<float> xh = random_values(33 * 257, -8.0f, 8.0f, 12);
    const Tensor x = Tensor::from_vector(xh, {33, 257});
    const Tensor y = Tensor::empty({33, 257});
    cage::kernels::softmax_forward(x, y);
    device_buffer<float> dx(xh), dy(xh.size());
    dy.fill_bytes(0xff);
    cage::emu::softmax_forward(dx.get(), dy.get(), 33, 257);
    expect_launch_ok();
    check(std::string("softmax (33, 257) forward, ") + (serial ? "serial" : "parallel"), dy.download(), to_vector(y),
          1e-6, 1e-5);
  }
}

}  // namespace
}  // namespace cage_test
