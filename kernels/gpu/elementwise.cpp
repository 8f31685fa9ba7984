// Element-wise ops on a GPU device: unary activations (kernels/cuda/elementwise.cu), broadcasting binary ops and
// scale (kernels/cuda/binary.cu), sum_to and sum_all (kernels/cuda/reduce.cu).
#include "kernels/cuda/binary.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/reduce.cuh"
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

binary_op to_cuda(kernels::Binary op) {
  switch (op) {
    case kernels::Binary::add: return binary_op::add;
    case kernels::Binary::sub: return binary_op::sub;
    case kernels::Binary::mul: return binary_op::mul;
  }
  fail("binary op ", static_cast<int>(op));
}

// A float32 tensor of this device with any strides (binary_forward's inputs).
const float* strided_f32(const Tensor& t, const char* op, const char* name) {
  CAGE_CHECK(t.defined(), op, ": ", name, " is undefined");
  CAGE_CHECK(t.device() == kDevice, op, ": ", name, " is on ", device_name(t.device()), ", expected ",
             device_name(kDevice));
  CAGE_CHECK(t.dtype() == DType::f32, op, ": ", name, " is ", dtype_name(t.dtype()), ", expected f32 on ",
             device_name(kDevice));
  return static_cast<const float*>(t.raw_data());
}

// t's element strides seen through the broadcast shape `out` (0 where t is broadcast); Error if t does not broadcast.
Shape broadcast_strides(const Tensor& t, const Shape& out, const char* op) {
  CAGE_CHECK(t.shape().size() <= out.size(), op, ": ", describe(t), " does not broadcast to ", shape_str(out));
  Shape st(out.size(), 0);
  const size_t lead = out.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i) {
    CAGE_CHECK(t.shape()[i] == out[lead + i] || t.shape()[i] == 1, op, ": ", describe(t), " does not broadcast to ",
               shape_str(out));
    st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  }
  return st;
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

void binary_forward(kernels::Binary op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const char* n = "binary_forward";
  const float* pa = strided_f32(a, n, "a");
  const float* pb = strided_f32(b, n, "b");
  float* po = f32(out, n, "out");
  const Shape& shape = out.shape();
  const Shape sa = broadcast_strides(a, shape, n), sb = broadcast_strides(b, shape, n);
  CAGE_CHECK(shape.size() <= 64, n, ": rank ", shape.size());
  check_cuda(binary_forward(to_cuda(op), pa, pb, po, static_cast<int>(shape.size()), shape.data(), sa.data(),
                            sb.data(), stream()),
             n);
  check_launch(n);
}

Tensor sum_to(const Tensor& g_in, const Shape& shape) {
  const char* n = "sum_to";
  if (g_in.shape() == shape) return g_in;
  const Tensor g = g_in.contiguous();
  const Shape& gs = g.shape();
  CAGE_CHECK(shape.size() <= gs.size(), n, ": ", shape_str(shape), " does not broadcast to ", shape_str(gs));
  const size_t lead = gs.size() - shape.size();
  CAGE_CHECK(gs.size() <= 64, n, ": rank ", gs.size());
  bool reduced[64] = {};
  for (size_t d = 0; d < gs.size(); ++d) {
    const int64_t want = d < lead ? 1 : shape[d - lead];
    CAGE_CHECK(want == gs[d] || want == 1, n, ": ", shape_str(shape), " does not broadcast to ", shape_str(gs));
    reduced[d] = want == 1 && gs[d] != 1;
  }
  const bool* red = reduced;
  Tensor out = device_empty(shape, DType::f32);
  const int dims = static_cast<int>(gs.size());
  const int64_t scratch_n = sum_to_scratch(dims, gs.data(), red);
  Tensor scratch = scratch_n > 0 ? device_empty({scratch_n}, DType::f32) : Tensor();
  check_cuda(sum_to(f32(g, n, "g"), f32(out, n, "out"), scratch_n > 0 ? f32(scratch, n, "scratch") : nullptr, dims,
                    gs.data(), red, stream()),
             n);
  check_launch(n);
  return out;
}

void scale(const Tensor& x, double s, const Tensor& out) {
  const char* n = "scale";
  CAGE_CHECK(x.numel() == out.numel(), n, ": ", describe(x), " -> ", describe(out));
  scale(f32(x, n, "x"), static_cast<float>(s), f32(out, n, "out"), x.numel(), stream());
  check_launch(n);
}

double sum_all(const Tensor& x_in) {
  const char* n = "sum_all";
  const Tensor x = x_in.contiguous();
  Tensor scratch = device_empty({sum_all_scratch(x.numel()) + 1}, DType::f64);
  double* s = f64(scratch, n, "scratch");
  sum_all(f32(x, n, "x"), x.numel(), s, s + 1, stream());
  check_launch(n);
  double total = 0;
  copy_to_host(&total, s, sizeof(double), n);
  return total;
}

}  // namespace cage::CAGE_GPU_NAMESPACE
