// Average pooling (NHWC) with autograd.
#include "core/autograd.h"
#include "kernels/pool.h"
#include "nn/functional.h"

namespace cage::nn {

Tensor avg_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad) {
  kernels::Pool2dShape s = kernels::pool2d_shape(x_in.shape(), kernel, stride, padding, count_include_pad);
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty({s.N, s.Ho, s.Wo, s.C}, x.dtype(), x.device());
  kernels::avg_pool2d_forward(s, x, y);
  DType dt = x.dtype();
  return record(y, "avg_pool2d", {x}, [s, dt](const Tensor& g) {
    Tensor gx = Tensor::empty({s.N, s.H, s.W, s.C}, dt, g.device());
    kernels::avg_pool2d_backward(s, g.contiguous(), gx);
    return std::vector<Tensor>{gx};
  });
}

Tensor global_avg_pool(const Tensor& x_in) {
  CAGE_CHECK(x_in.dim() == 4, "global_avg_pool expects NHWC input, got ", describe(x_in));
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(3)}, x.dtype(), x.device());
  kernels::global_avg_pool_forward(x, y);
  Shape shape = x.shape();
  DType dt = x.dtype();
  return record(y, "global_avg_pool", {x}, [shape, dt](const Tensor& g) {
    Tensor gx = Tensor::empty(shape, dt, g.device());
    kernels::global_avg_pool_backward(g.contiguous(), gx);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace cage::nn
