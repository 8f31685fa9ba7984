// Host launchers of the depthwise convolution CUDA kernels (kernels/cuda/depthwise_conv.cu). NHWC float32,
// contiguous device pointers: x (N, H, W, C), w (KH, KW, 1, C) (HWIO), y/gy (N, Ho, Wo, C).
// Errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

struct depthwise_shape {
  int64_t N, H, W, C, KH, KW, stride, padding, Ho, Wo;
};

// y = conv(x, w) + b; b nullable.
void depthwise_conv2d_forward(const depthwise_shape& s, const float* x, const float* w, const float* b, float* y,
                              cudaStream_t stream = 0);
// Inference fusion: y = gelu((conv(x, w) + b) * scale + shift), per-channel scale/shift (a folded eval BatchNorm);
// b nullable.
void depthwise_conv2d_bn_gelu_forward(const depthwise_shape& s, const float* x, const float* w, const float* b,
                                      const float* scale, const float* shift, float* y, cudaStream_t stream = 0);
// Floats of scratch depthwise_conv2d_backward needs for gw.
int64_t depthwise_conv2d_scratch_floats(const depthwise_shape& s);
// gx (N, H, W, C) and gw (KH, KW, 1, C), each nullable; gw is a deterministic two-level reduction.
void depthwise_conv2d_backward(const depthwise_shape& s, const float* x, const float* w, const float* gy, float* gx,
                               float* gw, float* scratch, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
