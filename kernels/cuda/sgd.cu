// Fused SGD (with momentum, dampening, Nesterov and weight decay) over many float32 tensors in one launch
// (kernels/cuda/sgd.cuh), in the segment layout of multi_tensor.cuh, as the fused AdamW (adamw.cu).
// Arithmetic: the CPU kernel's (kernels/cpu/optim.cpp, PyTorch 1.13's order), with __fmaf_rn exactly where it fuses
// (add with alpha) and __fmul_rn where it rounds, so nvcc contracts nothing else: bit-exact on the emulator.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/sgd.cuh"
#include "kernels/cuda/multi_tensor.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

__global__ void sgd_kernel(const sgd_segment* segments, int count, int64_t total) {
  multi_tensor::for_each_element(segments, count, total, [](const sgd_segment& c, int64_t k) {
    const float p = c.param[k];
    float d = c.use_weight_decay ? __fmaf_rn(c.weight_decay, p, c.grad[k]) : c.grad[k];
    if (c.momentum_buffer) {
      const float buf = c.first ? d : __fmaf_rn(c.keep, d, __fmul_rn(c.momentum_buffer[k], c.momentum));
      c.momentum_buffer[k] = buf;
      d = c.nesterov ? __fmaf_rn(c.momentum, buf, d) : buf;
    }
    c.param[k] = __fmaf_rn(c.neg_lr, d, p);
  });
}

}  // namespace

std::vector<sgd_segment> sgd_segments(const std::vector<sgd_tensor>& tensors, const sgd_hyper& h) {
  const bool use_momentum = h.momentum != 0;
  return multi_tensor::segments_of<sgd_segment>(tensors, [&](const sgd_tensor& t, sgd_segment& s) {
    s.param = t.param;
    s.grad = t.grad;
    s.momentum_buffer = use_momentum ? t.momentum_buffer : nullptr;
    s.weight_decay = float(h.weight_decay);
    s.momentum = float(h.momentum);
    s.keep = float(1 - h.dampening);
    s.neg_lr = float(-h.lr);
    s.first = t.first ? 1 : 0;
    s.nesterov = h.nesterov ? 1 : 0;
    s.use_weight_decay = h.weight_decay != 0 ? 1 : 0;
  });
}

void sgd_step(const sgd_segment* segments, int count, int64_t total, cudaStream_t stream) {
  multi_tensor::launch(sgd_kernel, segments, count, total, stream);
}

cudaError_t sgd_step(const std::vector<sgd_tensor>& tensors, const sgd_hyper& h, sgd_segment* device_segments,
                     cudaStream_t stream) {
  return multi_tensor::upload_and_launch(sgd_kernel, sgd_segments(tensors, h), device_segments, stream);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
