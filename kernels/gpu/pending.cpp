// Ops of the GPU backends whose CUDA kernels are not written yet: each says so with a clear Error instead of
// computing anything. Entries leave this file as their kernels land in kernels/cuda.
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {
[[noreturn]] void pending(const char* op) {
  fail(op, ": no CUDA kernel yet for device ", device_name(kDevice), "; run this op on the cpu device");
}
}  // namespace

void binary_forward(kernels::Binary, const Tensor&, const Tensor&, const Tensor&) { pending("binary_forward"); }
Tensor sum_to(const Tensor&, const Shape&) { pending("sum_to"); }
void scale(const Tensor&, double, const Tensor&) { pending("scale"); }
double sum_all(const Tensor&) { pending("sum_all"); }

void conv2d_forward(const kernels::Conv2dShape&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  pending("conv2d_forward");
}
void conv2d_backward(const kernels::Conv2dShape&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     const Tensor&, const Tensor&) {
  pending("conv2d_backward");
}

void avg_pool2d_forward(const kernels::Pool2dShape&, const Tensor&, const Tensor&) { pending("avg_pool2d_forward"); }
void avg_pool2d_backward(const kernels::Pool2dShape&, const Tensor&, const Tensor&) { pending("avg_pool2d_backward"); }
void global_avg_pool_forward(const Tensor&, const Tensor&) { pending("global_avg_pool_forward"); }
void global_avg_pool_backward(const Tensor&, const Tensor&) { pending("global_avg_pool_backward"); }

void relpos_attention_forward(const Tensor&, const Tensor&, const kernels::RelposAttentionParams&, const Tensor&) {
  pending("relpos_attention_forward");
}
void relpos_attention_backward(const Tensor&, const Tensor&, const Tensor&, const kernels::RelposAttentionParams&,
                               const Tensor&, const Tensor&) {
  pending("relpos_attention_backward");
}

void cross_entropy_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  pending("cross_entropy_forward");
}
void cross_entropy_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                            const Tensor&) {
  pending("cross_entropy_backward");
}
void mse_forward(const Tensor&, const Tensor&, const Tensor&) { pending("mse_forward"); }
void mse_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  pending("mse_backward");
}
void bce_with_logits_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  pending("bce_with_logits_forward");
}
void bce_with_logits_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                              const Tensor&) {
  pending("bce_with_logits_backward");
}

void sgd_step(const std::vector<kernels::SgdTensor>&, const kernels::SgdHyper&) { pending("sgd_step"); }

void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float, float*,
          int64_t) {
  pending("gemm");
}
void gemm_batched(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, const float*, int64_t,
                  int64_t, float, float*, int64_t, int64_t, int64_t) {
  pending("gemm_batched");
}

}  // namespace cage::CAGE_GPU_NAMESPACE
