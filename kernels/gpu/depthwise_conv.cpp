// Depthwise convolution on a GPU device (kernels/cuda/depthwise_conv.cu): forward, backward (gx, deterministic gw)
// and the inference fusion with an eval BatchNorm and GELU.
#include "kernels/cuda/depthwise_conv.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {
depthwise_shape shape_of(const kernels::Conv2dShape& s, const char* op) {
  CAGE_CHECK(s.is_depthwise() || (s.groups == s.Cin && s.Cout == s.Cin), op, ": not a depthwise shape (Cin ", s.Cin,
             ", Cout ", s.Cout, ", groups ", s.groups, ")");
  return {s.N, s.H, s.W, s.Cin, s.KH, s.KW, s.stride, s.padding, s.Ho, s.Wo};
}
}  // namespace

void depthwise_conv2d_forward(const kernels::Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b,
                              const Tensor& y) {
  const char* n = "depthwise_conv2d_forward";
  depthwise_conv2d_forward(shape_of(s, n), f32(x, n, "x"), f32(w, n, "w"), f32_or_null(b, n, "b"), f32(y, n, "y"),
                           stream());
  check_launch(n);
}

void depthwise_conv2d_bn_gelu_forward(const kernels::Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b,
                                      const Tensor& bn_scale, const Tensor& bn_shift, const Tensor& y) {
  const char* n = "depthwise_conv2d_bn_gelu_forward";
  CAGE_CHECK(bn_scale.numel() == s.Cin && bn_shift.numel() == s.Cin, n, ": scale/shift ", shape_str(bn_scale.shape()),
             "/", shape_str(bn_shift.shape()), " for ", s.Cin, " channels");
  depthwise_conv2d_bn_gelu_forward(shape_of(s, n), f32(x, n, "x"), f32(w, n, "w"), f32_or_null(b, n, "b"),
                                   f32(bn_scale, n, "bn_scale"), f32(bn_shift, n, "bn_shift"), f32(y, n, "y"),
                                   stream());
  check_launch(n);
}

void depthwise_conv2d_backward(const kernels::Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& gy,
                               const Tensor& gx, const Tensor& gw) {
  const char* n = "depthwise_conv2d_backward";
  const depthwise_shape d = shape_of(s, n);
  Tensor scratch = gw.defined() ? device_empty({depthwise_conv2d_scratch_floats(d)}) : Tensor();
  depthwise_conv2d_backward(d, f32(x, n, "x"), f32(w, n, "w"), f32(gy, n, "gy"), f32_or_null(gx, n, "gx"),
                            f32_or_null(gw, n, "gw"), f32_or_null(scratch, n, "scratch"), stream());
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
