// Host launchers of the element-wise CUDA kernels (kernels/cuda/elementwise.cu). float32, contiguous, device
// pointers; errors are left for cudaGetLastError(), as after a <<<...>>> launch.
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

enum class unary_op { gelu, silu, sigmoid, tanh, relu };  // gelu is the exact (erf) form

// y = f(x); x, y: (n)
void unary_forward(unary_op op, const float* x, float* y, int64_t n, cudaStream_t stream = 0);
// gx = gy * f'(x); y = f(x) from the forward pass (sigmoid and tanh use it); x, y, gy, gx: (n)
void unary_backward(unary_op op, const float* x, const float* y, const float* gy, float* gx, int64_t n,
                    cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
