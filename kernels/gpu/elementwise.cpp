// Element-wise ops on a GPU device (kernels/cuda/elementwise.cu).
#include "kernels/cuda/elementwise.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {
unary_op to_cuda(kernels::Unary op) {
  switch (op) {
    case kernels::Unary::gelu: return unary_op::gelu;
    case kernels::Unary::silu: return unary_op::silu;
    case kernels::Unary::sigmoid: return unary_op::sigmoid;
    case kernels::Unary::tanh: return unary_op::tanh;
    case kernels::Unary::relu: return unary_op::relu;
  }
  fail("unary op ", static_cast<int>(op));
}
}  // namespace

void unary_forward(kernels::Unary op, const Tensor& x, const Tensor& y) {
  CAGE_CHECK(x.numel() == y.numel(), "unary_forward: ", describe(x), " -> ", describe(y));
  unary_forward(to_cuda(op), f32(x, "unary_forward", "x"), f32(y, "unary_forward", "y"), x.numel(), stream());
  check_launch("unary_forward");
}

void unary_backward(kernels::Unary op, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx) {
  const char* n = "unary_backward";
  unary_backward(to_cuda(op), f32(x, n, "x"), f32(y, n, "y"), f32(gy, n, "gy"), f32(gx, n, "gx"), x.numel(), stream());
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
