// Host launchers of the pooling CUDA kernels (kernels/cuda/pool.cu). NHWC float32, contiguous device pointers;
// launch errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// kernels::Pool2dShape, restated so the .cu side needs no engine header.
struct pool2d_dims {
  int64_t N, H, W, C, kernel, stride, padding, Ho, Wo;
  bool count_include_pad;
};

// y (N, Ho, Wo, C) = mean of x (N, H, W, C) over each window (PyTorch's divisor rule for padding).
void avg_pool2d_forward(const pool2d_dims& s, const float* x, float* y, cudaStream_t stream = 0);
// gx (N, H, W, C) = sum over the windows containing the pixel of gy / divisor; every element written.
void avg_pool2d_backward(const pool2d_dims& s, const float* gy, float* gx, cudaStream_t stream = 0);

// y (N, C) = mean of x (N, HW, C) over HW, accumulated in double.
void global_avg_pool_forward(const float* x, float* y, int64_t N, int64_t HW, int64_t C, cudaStream_t stream = 0);
// gx (N, HW, C) = gy (N, C) / HW.
void global_avg_pool_backward(const float* gy, float* gx, int64_t N, int64_t HW, int64_t C, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
