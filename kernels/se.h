// Squeeze-excitation (MBConv's channel gate) as one fused op over an NHWC tensor, with torchvision's activations:
//   s = mean over (H, W) of x                (N, C)
//   h = silu(s W1 + b1)                       (N, R)   W1: (1, 1, C, R) HWIO (a 1x1 conv), i.e. (C, R) row-major
//   a = sigmoid(h W2 + b2)                    (N, C)   W2: (1, 1, R, C), i.e. (R, C)
//   y = x * a (broadcast over H, W)
// Contiguous tensors; b1, b2 may be undefined (0).
#pragma once
#include "core/tensor.h"

namespace cage::kernels {

void squeeze_excitation_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                                const Tensor& b2, const Tensor& y);
// Gradients gx (N, H, W, C), gw1 (C * R), gb1 (R), gw2 (R * C), gb2 (C): each may be undefined (not needed).
// The gate is recomputed from x, so nothing is saved by the forward pass.
void squeeze_excitation_backward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                                 const Tensor& b2, const Tensor& gy, const Tensor& gx, const Tensor& gw1,
                                 const Tensor& gb1, const Tensor& gw2, const Tensor& gb2);

}  // namespace cage::kernels
