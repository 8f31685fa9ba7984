// Ops of the GPU backends whose CUDA kernels are not written yet: each says so with a clear Error instead of
// computing anything. Entries leave this file as their kernels land in kernels/cuda.
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {
[[noreturn]] void pending(const char* op) {
  fail(op, ": no CUDA kernel yet for device ", device_name(kDevice), "; run this op on the cpu device");
}
}  // namespace

void batch_norm_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double,
                        double, const Tensor&, const Tensor&, const Tensor&) {
  pending("batch_norm_forward");
}
void batch_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool,
                         const Tensor&, const Tensor&, const Tensor&) {
  pending("batch_norm_backward");
}

void depthwise_conv2d_forward(const kernels::Conv2dShape&, const Tensor&, const Tensor&, const Tensor&,
                              const Tensor&) {
  pending("depthwise_conv2d_forward");
}
void depthwise_conv2d_backward(const kernels::Conv2dShape&, const Tensor&, const Tensor&, const Tensor&,
                               const Tensor&, const Tensor&) {
  pending("depthwise_conv2d_backward");
}

}  // namespace cage::CAGE_GPU_NAMESPACE
