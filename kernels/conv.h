// 2-D convolution over NHWC tensors with HWIO weights (KH, KW, Cin / groups, Cout), contiguous.
// Paths: 1x1 stride 1 as one GEMM over all pixels; depthwise (groups = Cin = Cout) as a direct loop
// vectorised over channels; everything else as im2col + GEMM per group, in chunks of images.
#pragma once
#include "core/tensor.h"

namespace cage::kernels {

struct Conv2dShape {
  int64_t N, H, W, Cin, KH, KW, Cout, stride, padding, groups, Ho, Wo;
  bool is_pointwise() const { return KH == 1 && KW == 1 && stride == 1 && padding == 0 && groups == 1; }
  bool is_depthwise() const { return groups == Cin && Cout == Cin && groups > 1; }
};
Conv2dShape conv2d_shape(const Shape& x, const Shape& w, int64_t stride, int64_t padding, int64_t groups);

void conv2d_forward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y);
// Any of gx, gw, gb may be undefined (not needed).
void conv2d_backward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx,
                     const Tensor& gw, const Tensor& gb);

void depthwise_conv2d_forward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y);
void depthwise_conv2d_backward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& gy,
                               const Tensor& gx, const Tensor& gw);
// Inference fusion of depthwise conv + eval BatchNorm + GELU (erf): y = gelu((conv(x, w) + b) * bn_scale + bn_shift)
// with per-channel bn_scale = gamma / sqrt(running_var + eps), bn_shift = beta - running_mean * bn_scale, (C).
// b may be undefined. No backward: inference only.
void depthwise_conv2d_bn_gelu_forward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b,
                                      const Tensor& bn_scale, const Tensor& bn_shift, const Tensor& y);

}  // namespace cage::kernels
