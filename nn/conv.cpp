// conv2d (NHWC input, HWIO weight) with autograd.
#include "core/autograd.h"
#include "kernels/conv.h"
#include "nn/functional.h"

namespace cage::nn {

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b, Conv2dOptions opt) {
  kernels::Conv2dShape s = kernels::conv2d_shape(x_in.shape(), w_in.shape(), opt.stride, opt.padding, opt.groups);
  CAGE_CHECK(!b.defined() || b.shape() == Shape{s.Cout}, "conv2d: bias ", describe(b), " for ", s.Cout, " outputs");
  CAGE_CHECK(x_in.dtype() == w_in.dtype(), "conv2d of ", describe(x_in), " with weight ", describe(w_in));
  Tensor x = x_in.contiguous(), w = w_in.contiguous();
  Tensor y = Tensor::empty({s.N, s.Ho, s.Wo, s.Cout}, x.dtype(), x.device());
  kernels::conv2d_forward(s, x, w, b.defined() ? b.detach().contiguous() : Tensor(), y);
  Tensor xd = x.detach(), wd = w.detach();
  bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b.defined() && b.requires_grad();
  return record(y, "conv2d", {x, w, b}, [=](const Tensor& g) {
    Tensor dx = gx ? Tensor::empty(xd.shape(), xd.dtype(), xd.device()) : Tensor();
    Tensor dw = gw ? Tensor::empty(wd.shape(), wd.dtype(), wd.device()) : Tensor();
    Tensor db = gb ? Tensor::empty({s.Cout}, wd.dtype(), wd.device()) : Tensor();
    kernels::conv2d_backward(s, xd, wd, g.contiguous(), dx, dw, db);
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace cage::nn
