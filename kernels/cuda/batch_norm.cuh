// Host launchers of the batch norm CUDA kernels (kernels/cuda/batch_norm.cu). float32 activations (rows, C),
// contiguous device pointers; per-channel statistics in float64 as in the op's contract (kernels/norm.h).
// Errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// Doubles of scratch the launchers below need (partial sums per row chunk), for a (rows, C) input.
int64_t batch_norm_scratch_doubles(int64_t rows, int64_t C);

// Training: statistics over the rows, running stats (or nullptr) updated with the unbiased variance.
// Eval: mean/invstd from running_mean/running_var. y = (x - mean) * invstd * weight + bias; weight, bias nullable.
// mean, invstd: (C) float64, written. scratch: batch_norm_scratch_doubles(rows, C) doubles.
void batch_norm_forward(const float* x, const float* weight, const float* bias, float* running_mean,
                        float* running_var, bool training, double momentum, double eps, float* y, double* mean,
                        double* invstd, double* scratch, int64_t rows, int64_t C, cudaStream_t stream = 0);
// gx (nullable): training gx = w*invstd*(gy - mean(gy) - xhat*mean(gy*xhat)), eval gx = w*invstd*gy;
// gw = sum(gy*xhat), gb = sum(gy) (nullable).
void batch_norm_backward(const float* x, const float* weight, const double* mean, const double* invstd,
                         const float* gy, bool training, float* gx, float* gw, float* gb, double* scratch,
                         int64_t rows, int64_t C, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
