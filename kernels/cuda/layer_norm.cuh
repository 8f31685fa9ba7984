// Host launchers of the layer norm CUDA kernels (kernels/cuda/layer_norm.cu). float32, contiguous device pointers;
// errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// y = (x - mean) * invstd * weight + bias per row; x, y: (rows, C); weight, bias: (C) or nullptr (1 and 0);
// mean, invstd: (rows), written for the backward pass.
void layer_norm_forward(const float* x, const float* weight, const float* bias, float eps, float* y, float* mean,
                        float* invstd, int64_t rows, int64_t C, cudaStream_t stream = 0);
// gx: (rows, C) or nullptr; gw = sum_rows(gy * xhat), gb = sum_rows(gy): (C) or nullptr; weight: (C) or nullptr.
void layer_norm_backward(const float* x, const float* weight, const float* mean, const float* invstd,
                         const float* gy, float* gx, float* gw, float* gb, int64_t rows, int64_t C,
                         cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
