// Batch norm on a GPU device (kernels/cuda/batch_norm.cu): deterministic float64 column reductions in two levels;
// mean/invstd are float64 (C) device tensors as in the CPU contract (kernels/norm.h).
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

}  // namespace cage::CAGE_GPU_NAMESPACE
