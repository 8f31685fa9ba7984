// Layer norm on a GPU device (kernels/cuda/layer_norm.cu): a warp per row. The kernels keep mean and invstd in
// float32; the op's contract has them in float64 (the CPU oracle's), converted on the device.
#include "kernels/cuda/copy.cuh"
#include "kernels/cuda/layer_norm.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {

void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd) {
  const char* n = "layer_norm_forward";
  const int64_t C = x.size(-1), rows = x.numel() / C;
  Tensor m32 = device_empty({rows}), s32 = device_empty({rows});
  layer_norm_forward(f32(x, n, "x"), f32_or_null(weight, n, "weight"), f32_or_null(bias, n, "bias"),
                     static_cast<float>(eps), f32(y, n, "y"), f32(m32, n, "mean"), f32(s32, n, "invstd"), rows, C,
                     stream());
  check_launch(n);
  cast_f32_f64(f32(m32, n, "mean"), f64(mean, n, "mean"), rows, stream());
  cast_f32_f64(f32(s32, n, "invstd"), f64(invstd, n, "invstd"), rows, stream());
  check_launch(n);
}

void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  const char* n = "layer_norm_backward";
  const int64_t C = x.size(-1), rows = x.numel() / C;
  Tensor m32 = device_empty({rows}), s32 = device_empty({rows});
  cast_f64_f32(f64(mean, n, "mean"), f32(m32, n, "mean"), rows, stream());
  cast_f64_f32(f64(invstd, n, "invstd"), f32(s32, n, "invstd"), rows, stream());
  layer_norm_backward(f32(x, n, "x"), f32_or_null(weight, n, "weight"), f32(m32, n, "mean"), f32(s32, n, "invstd"),
                      f32(gy, n, "gy"), f32_or_null(gx, n, "gx"), f32_or_null(gw, n, "gw"), f32_or_null(gb, n, "gb"),
                      rows, C, stream());
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
