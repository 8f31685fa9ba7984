// Host launchers of the softmax CUDA kernels (kernels/cuda/softmax.cu). float32, contiguous (rows, C) device
// pointers; errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// y = softmax(x) over the last dimension; x, y: (rows, C)
void softmax_forward(const float* x, float* y, int64_t rows, int64_t C, cudaStream_t stream = 0);
// gx = y * (gy - sum_c(gy * y)); y, gy, gx: (rows, C)
void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t C, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
