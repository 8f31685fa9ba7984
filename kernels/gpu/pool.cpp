// Pooling on a GPU device (kernels/cuda/pool.cu): average pooling with padding and global average pooling, NHWC.
#include "kernels/cuda/pool.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {
pool2d_dims to_cuda(const kernels::Pool2dShape& s) {
  return {s.N, s.H, s.W, s.C, s.kernel, s.stride, s.padding, s.Ho, s.Wo, s.count_include_pad};
}
void check_shape(const Tensor& t, const Shape& want, const char* op, const char* name) {
  CAGE_CHECK(t.shape() == want, op, ": ", name, " is ", describe(t), ", expected ", shape_str(want));
}
}  // namespace

void avg_pool2d_forward(const kernels::Pool2dShape& s, const Tensor& x, const Tensor& y) {
  const char* n = "avg_pool2d_forward";
  check_shape(x, {s.N, s.H, s.W, s.C}, n, "x");
  check_shape(y, {s.N, s.Ho, s.Wo, s.C}, n, "y");
  avg_pool2d_forward(to_cuda(s), f32(x, n, "x"), f32(y, n, "y"), stream());
  check_launch(n);
}

void avg_pool2d_backward(const kernels::Pool2dShape& s, const Tensor& gy, const Tensor& gx) {
  const char* n = "avg_pool2d_backward";
  check_shape(gy, {s.N, s.Ho, s.Wo, s.C}, n, "gy");
  check_shape(gx, {s.N, s.H, s.W, s.C}, n, "gx");
  avg_pool2d_backward(to_cuda(s), f32(gy, n, "gy"), f32(gx, n, "gx"), stream());
  check_launch(n);
}

void global_avg_pool_forward(const Tensor& x, const Tensor& y) {
  const char* n = "global_avg_pool_forward";
  CAGE_CHECK(x.dim() == 4, n, ": expected NHWC input, got ", describe(x));
  check_shape(y, {x.size(0), x.size(3)}, n, "y");
  global_avg_pool_forward(f32(x, n, "x"), f32(y, n, "y"), x.size(0), x.size(1) * x.size(2), x.size(3), stream());
  check_launch(n);
}

void global_avg_pool_backward(const Tensor& gy, const Tensor& gx) {
  const char* n = "global_avg_pool_backward";
  CAGE_CHECK(gx.dim() == 4, n, ": expected NHWC gradient, got ", describe(gx));
  check_shape(gy, {gx.size(0), gx.size(3)}, n, "gy");
  global_avg_pool_backward(f32(gy, n, "gy"), f32(gx, n, "gx"), gx.size(0), gx.size(1) * gx.size(2), gx.size(3),
                           stream());
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
