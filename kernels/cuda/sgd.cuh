// Host launchers of the fused SGD CUDA kernel (kernels/cuda/sgd.cu): many float32 parameter tensors updated by one
// launch. Launch errors are left for cudaGetLastError(); the launcher that copies segments returns the copy's error.
#pragma once
#include <vector>

#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// One parameter's contiguous device buffers of n elements. momentum_buffer: nullptr when momentum is 0; `first`
// marks its first use (it is then set to d_p).
struct sgd_tensor {
  float* param = nullptr;
  const float* grad = nullptr;
  float* momentum_buffer = nullptr;
  int64_t n = 0;
  bool first = false;
};
struct sgd_hyper {
  double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

// What the kernel reads per tensor; the scalars are Python floats rounded to float, as PyTorch rounds them.
struct sgd_segment {
  float* param;
  const float* grad;
  float* momentum_buffer;  // nullptr: no momentum
  int64_t begin, end;      // [begin, end) in the concatenation of all tensors
  float weight_decay, momentum, keep, neg_lr;  // keep = 1 - dampening
  int first, nesterov, use_weight_decay;
};

std::vector<sgd_segment> sgd_segments(const std::vector<sgd_tensor>& tensors, const sgd_hyper& h);

// torch.optim.SGD on every segment: d = g + wd p; buf = momentum buf + (1 - dampening) d (buf = d at first);
// d = nesterov ? d + momentum buf : buf; p -= lr d. `segments`: device array of `count`, total = last end.
void sgd_step(const sgd_segment* segments, int count, int64_t total, cudaStream_t stream = 0);

// Builds the segments, copies them to `device_segments` (room for tensors.size()) on `stream` and launches.
cudaError_t sgd_step(const std::vector<sgd_tensor>& tensors, const sgd_hyper& h, sgd_segment* device_segments,
                     cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
