// Batch norm on a GPU device (kernels/cuda/batch_norm.cu): deterministic float64 column reductions in two levels;
// mean/invstd are float64 (C) device tensors as in the CPU contract (kernels/norm.h). The fused BatchNorm + GELU
// is a composition of the device's BatchNorm and GELU kernels here (no fused GPU kernel yet; the models use the
// fused op on the CPU only).
#include <vector>

#include "kernels/cuda/batch_norm.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {

void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd) {
  const char* n = "batch_norm_forward";
  const int64_t C = x.size(-1), rows = x.numel() / C;
  CAGE_CHECK(!training || rows > 1, "batch_norm in training mode needs more than one value per channel, got ",
             shape_str(x.shape()));
  CAGE_CHECK(training || (running_mean.defined() && running_var.defined()),
             "batch_norm in eval mode needs running statistics");
  Tensor scratch = device_empty({batch_norm_scratch_doubles(rows, C)}, DType::f64);
  batch_norm_forward(f32(x, n, "x"), f32_or_null(weight, n, "weight"), f32_or_null(bias, n, "bias"),
                     f32_or_null(running_mean, n, "running_mean"), f32_or_null(running_var, n, "running_var"),
                     training, momentum, eps, f32(y, n, "y"), f64(mean, n, "mean"), f64(invstd, n, "invstd"),
                     f64(scratch, n, "scratch"), rows, C, stream());
  check_launch(n);
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  const char* n = "batch_norm_backward";
  const int64_t C = x.size(-1), rows = x.numel() / C;
  Tensor scratch = device_empty({batch_norm_scratch_doubles(rows, C)}, DType::f64);
  batch_norm_backward(f32(x, n, "x"), f32_or_null(weight, n, "weight"), f64(mean, n, "mean"),
                      f64(invstd, n, "invstd"), f32(gy, n, "gy"), training, f32_or_null(gx, n, "gx"),
                      f32_or_null(gw, n, "gw"), f32_or_null(gb, n, "gb"), f64(scratch, n, "scratch"), rows, C,
                      stream());
  check_launch(n);
}

void batch_norm_gelu_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double momentum, double eps, const Tensor& y,
                             const Tensor& mean, const Tensor& invstd) {
  Tensor z = device_empty(x.shape());
  CAGE_GPU_NAMESPACE::batch_norm_forward(x, weight, bias, running_mean, running_var, true, momentum, eps, z, mean, invstd);
  CAGE_GPU_NAMESPACE::unary_forward(kernels::Unary::gelu, z, y);
}

void batch_norm_gelu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                              const Tensor& invstd, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                              const Tensor& gb) {
  // z = x * a + shift recomputed with the per-channel affine built on the host (C values) as the CPU kernel
  // rounds it, then GELU's backward and BatchNorm's.
  const int64_t C = x.size(-1);
  Tensor mh = mean.to(Device::cpu), ih = invstd.to(Device::cpu);
  Tensor wh = weight.defined() ? weight.to(Device::cpu) : Tensor(), bh = bias.defined() ? bias.to(Device::cpu) : Tensor();
  std::vector<float> a(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    double ac = (wh.defined() ? wh.data<float>()[c] : 1.0) * ih.data<double>()[c];
    a[c] = static_cast<float>(ac);
    shift[c] = static_cast<float>((bh.defined() ? bh.data<float>()[c] : 0.0) - mh.data<double>()[c] * ac);
  }
  Tensor xa = device_empty(x.shape()), z = device_empty(x.shape()), gz = device_empty(x.shape());
  CAGE_GPU_NAMESPACE::binary_forward(kernels::Binary::mul, x, Tensor::from_vector(a, {C}).to(kDevice), xa);
  CAGE_GPU_NAMESPACE::binary_forward(kernels::Binary::add, xa, Tensor::from_vector(shift, {C}).to(kDevice), z);
  CAGE_GPU_NAMESPACE::unary_backward(kernels::Unary::gelu, z, z, gy, gz);
  CAGE_GPU_NAMESPACE::batch_norm_backward(x, weight, mean, invstd, gz, true, gx, gw, gb);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
