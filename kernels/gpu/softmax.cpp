// Softmax over the last dimension on a GPU device (kernels/cuda/softmax.cu).
#include "kernels/cuda/softmax.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {

void softmax_forward(const Tensor& x, const Tensor& y) {
  const int64_t C = x.dim() ? x.size(-1) : 1;
  softmax_forward(f32(x, "softmax_forward", "x"), f32(y, "softmax_forward", "y"), x.numel() / C, C, stream());
  check_launch("softmax_forward");
}

void softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx) {
  const char* n = "softmax_backward";
  const int64_t C = y.dim() ? y.size(-1) : 1;
  softmax_backward(f32(y, n, "y"), f32(gy, n, "gy"), f32(gx, n, "gx"), y.numel() / C, C, stream());
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
