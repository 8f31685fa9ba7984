// Host launchers of the fused AdamW CUDA kernel (kernels/cuda/adamw.cu): many float32 parameter tensors updated by
// one launch. Errors are left for cudaGetLastError(), except where a launcher returns a cudaError_t.
#pragma once
#include <vector>

#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// One parameter's contiguous device buffers of n elements; `step` counts this update (1 = first).
// max_exp_avg_sq: nullptr unless amsgrad.
struct adamw_tensor {
  float* param = nullptr;
  const float* grad = nullptr;
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
  float* max_exp_avg_sq = nullptr;
  int64_t n = 0;
  int64_t step = 1;
};
struct adamw_hyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  bool amsgrad = false;
};

// What the kernel reads per tensor: its buffers, where it starts in the concatenated index space, and the
// per-step scalars (bias corrections included) rounded to float on the host, as PyTorch rounds Python floats.
struct adamw_segment {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  float* max_exp_avg_sq;
  int64_t begin, end;  // [begin, end) in the concatenation of all tensors
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
};

// The segments of `tensors` in order (empty tensors kept, with begin == end); amsgrad drops max_exp_avg_sq if false.
std::vector<adamw_segment> adamw_segments(const std::vector<adamw_tensor>& tensors, const adamw_hyper& h);

// torch.optim.AdamW on every segment: p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2
// (amsgrad: vmax = max(vmax, v), used for v below); p += -(lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).
// `segments`: device array of `count` segments from adamw_segments, `total` = the last segment's end.
void adamw_step(const adamw_segment* segments, int count, int64_t total, cudaStream_t stream = 0);

// Builds the segments, copies them to `device_segments` (room for tensors.size()) on `stream` and launches.
// The copy is from pageable memory, staged before cudaMemcpyAsync returns, so the host vector may go afterwards.
cudaError_t adamw_step(const std::vector<adamw_tensor>& tensors, const adamw_hyper& h, adamw_segment* device_segments,
                       cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
