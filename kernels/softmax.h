// Softmax over the last dimension of a contiguous tensor, forward and backward.
#pragma once
#include "core/tensor.h"

namespace cage::kernels {

void softmax_forward(const Tensor& x, const Tensor& y);
void softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx);  // gx = y * (gy - sum(gy * y))

}  // namespace cage::kernels
