// Fused AdamW over many float32 tensors in one launch (kernels/cuda/adamw.cuh), in the segment layout of
// multi_tensor.cuh: a device array of segments gives each tensor's buffers, its [begin, end) in the concatenated index
// space and its per-step scalars (bias corrections from the host, so every tensor may have its own step count).
// Arithmetic: the CPU kernel's (kernels/cpu/optim.cpp, PyTorch's order), operation for operation. The *_rn intrinsics
// pin every rounding, so nvcc cannot contract a multiply and an add into an fma the CPU kernel does not have, and
// __fmaf_rn stands exactly where the CPU kernel (PyTorch's vectorised add(alpha)/addcmul) fuses one.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/adamw.cuh"
#include "kernels/cuda/multi_tensor.cuh"

#include <cmath>

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

__global__ void adamw_kernel(const adamw_segment* segments, int count, int64_t total) {
  multi_tensor::for_each_element(segments, count, total, [](const adamw_segment& c, int64_t k) {
    const float g = c.grad[k];
    const float p = __fmul_rn(c.param[k], c.decay);
    const float m = __fmaf_rn(c.one_minus_beta1, g, __fmul_rn(c.exp_avg[k], c.beta1));
    const float v = __fmaf_rn(__fmul_rn(c.one_minus_beta2, g), g, __fmul_rn(c.exp_avg_sq[k], c.beta2));
    c.exp_avg[k] = m;
    c.exp_avg_sq[k] = v;
    float second = v;
    if (c.max_exp_avg_sq) {
      const float vmax = c.max_exp_avg_sq[k];
      second = vmax < v ? v : vmax;  // std::max(vmax, v)
      c.max_exp_avg_sq[k] = second;
    }
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(second), c.bc2_sqrt), c.eps);
    c.param[k] = __fadd_rn(p, __fdiv_rn(__fmul_rn(c.neg_step_size, m), denom));
  });
}

}  // namespace

std::vector<adamw_segment> adamw_segments(const std::vector<adamw_tensor>& tensors, const adamw_hyper& h) {
  return multi_tensor::segments_of<adamw_segment>(tensors, [&](const adamw_tensor& t, adamw_segment& s) {
    // Python floats (double) rounded to float, as PyTorch does when a scalar meets a float32 tensor.
    const double bc1 = 1 - std::pow(h.beta1, static_cast<double>(t.step));
    const double bc2 = 1 - std::pow(h.beta2, static_cast<double>(t.step));
    s.param = t.param;
    s.grad = t.grad;
    s.exp_avg = t.exp_avg;
    s.exp_avg_sq = t.exp_avg_sq;
    s.max_exp_avg_sq = h.amsgrad ? t.max_exp_avg_sq : nullptr;
    s.decay = float(1 - h.lr * h.weight_decay);
    s.beta1 = float(h.beta1);
    s.one_minus_beta1 = float(1 - h.beta1);
    s.beta2 = float(h.beta2);
    s.one_minus_beta2 = float(1 - h.beta2);
    s.bc2_sqrt = float(std::sqrt(bc2));
    s.eps = float(h.eps);
    s.neg_step_size = float(-(h.lr / bc1));
  });
}

void adamw_step(const adamw_segment* segments, int count, int64_t total, cudaStream_t stream) {
  multi_tensor::launch(adamw_kernel, segments, count, total, stream);
}

cudaError_t adamw_step(const std::vector<adamw_tensor>& tensors, const adamw_hyper& h, adamw_segment* device_segments,
                       cudaStream_t stream) {
  if (tensors.empty()) return cudaSuccess;
  const cudaError_t err = multi_tensor::upload_and_launch(adamw_kernel, adamw_segments(tensors, h), device_segments,
                                                          stream);
  return err != cudaSuccess ? err : cudaGetLastError();
}

}  // namespace cage::CAGE_GPU_NAMESPACE
