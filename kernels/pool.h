// Pooling over NHWC tensors (contiguous): average pooling with padding, global average pooling.
#pragma once
#include "core/tensor.h"

namespace cage::kernels {

struct Pool2dShape {
  int64_t N, H, W, C, kernel, stride, padding, Ho, Wo;
  bool count_include_pad;
};
Pool2dShape pool2d_shape(const Shape& x, int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad);

void avg_pool2d_forward(const Pool2dShape& s, const Tensor& x, const Tensor& y);    // y (N, Ho, Wo, C)
void avg_pool2d_backward(const Pool2dShape& s, const Tensor& gy, const Tensor& gx); // gx (N, H, W, C)

void global_avg_pool_forward(const Tensor& x, const Tensor& y);    // (N, H, W, C) -> (N, C)
void global_avg_pool_backward(const Tensor& gy, const Tensor& gx); // (N, C) -> (N, H, W, C)

}  // namespace cage::kernels
