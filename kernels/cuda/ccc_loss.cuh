// Host launchers of the CCC loss CUDA kernels (kernels/cuda/ccc_loss.cu). float32 pred/target, contiguous device
// pointers; errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// pred, target: (n), n >= 2 (smaller n launches nothing). moments: double (6) = {mean_p, mean_t, var_p, var_t, cov, n},
// unbiased (n - 1), kept for the backward. loss: float (1) = -2 cov / (var_p + var_t + (mean_p - mean_t)^2).
void ccc_forward(const float* pred, const float* target, double* moments, float* loss, int64_t n,
                 cudaStream_t stream = 0);
// gout: float (1), the loss's upstream gradient on the device. gpred, gtarget: (n) or nullptr.
void ccc_backward(const float* pred, const float* target, const double* moments, const float* gout, float* gpred,
                  float* gtarget, int64_t n, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
