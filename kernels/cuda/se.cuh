// Host launchers of the squeeze-excitation CUDA kernels (kernels/cuda/se.cu). float32 contiguous device pointers:
// x, y, gy, gx (N, HW, C); w1 (C, R); b1 (R); w2 (R, C); b2 (C); biases nullable. Errors are left for
// cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// Shared memory bytes per block of the backward kernel (the larger of the two): callers check it against the
// device's limit (48 KiB without opting in).
int64_t squeeze_excitation_shared_bytes(int64_t C, int64_t R);
// Floats of scratch the backward needs (per-image s, h, gz1, gz2).
int64_t squeeze_excitation_scratch_floats(int64_t N, int64_t C, int64_t R);

void squeeze_excitation_forward(const float* x, const float* w1, const float* b1, const float* w2, const float* b2,
                                float* y, int64_t N, int64_t HW, int64_t C, int64_t R, cudaStream_t stream = 0);
// gx (N, HW, C), gw1 (C, R), gb1 (R), gw2 (R, C), gb2 (C), each nullable.
void squeeze_excitation_backward(const float* x, const float* w1, const float* b1, const float* w2, const float* b2,
                                 const float* gy, float* gx, float* gw1, float* gb1, float* gw2, float* gb2,
                                 float* scratch, int64_t N, int64_t HW, int64_t C, int64_t R,
                                 cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
