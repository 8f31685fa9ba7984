// Host launchers of the fused relative-position window / grid attention of MaxViT (kernels/cuda/attention.cu).
// float32, contiguous device pointers; the layout and the partition map are those of kernels/attention.h:
//   qkv (B, H, W, 3C), table ((2P-1)^2, heads), out / gout (B, H, W, C).
// Launch errors are left for cudaGetLastError(); the launchers return the error of the shared-memory opt-in.
#pragma once
#include <cstddef>

#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

struct relpos_attention_shape {
  int64_t B = 0, H = 0, W = 0, C = 0;  // C: channels of q (qkv has 3C)
  int64_t heads = 1, P = 7;            // P: partition size, N = P * P tokens per group
  bool grid = false;                   // false: window partition, true: grid partition
  float scale = 1.0f;
};

// Shared memory of one block of each kernel, in bytes (above 48 KB the launchers opt in).
size_t relpos_attention_forward_shared_bytes(const relpos_attention_shape& s);
size_t relpos_attention_backward_shared_bytes(const relpos_attention_shape& s);

// out = softmax(scale * Q K^T + bias) V per (batch, group, head), written at each token's own pixel.
cudaError_t relpos_attention_forward(const float* qkv, const float* table, float* out, const relpos_attention_shape& s,
                                     cudaStream_t stream = 0);

// Floats of the scratch the backward needs for gtable: one partial table per (batch, group), B * G * (2P-1)^2 * heads.
int64_t relpos_attention_backward_scratch(const relpos_attention_shape& s);

// gqkv (B, H, W, 3C) and gtable ((2P-1)^2, heads) overwritten; either may be null to skip it. gtable needs
// `scratch` of relpos_attention_backward_scratch(s) floats.
cudaError_t relpos_attention_backward(const float* qkv, const float* table, const float* gout, float* gqkv,
                                      float* gtable, float* scratch, const relpos_attention_shape& s,
                                      cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
