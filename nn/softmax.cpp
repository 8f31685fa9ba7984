// Softmax over the last dimension with autograd.
#include "core/autograd.h"
#include "kernels/softmax.h"
#include "nn/functional.h"

namespace cage::nn {

Tensor softmax(const Tensor& x_in) {
  CAGE_CHECK(x_in.dim() >= 1 && x_in.size(-1) > 0, "softmax of ", describe(x_in));
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::softmax_forward(x, y);
  Tensor yd = y.detach();
  return record(y, "softmax", {x}, [yd](const Tensor& g) {
    Tensor gx = Tensor::empty(yd.shape(), yd.dtype(), yd.device());
    kernels::softmax_backward(yd, g.contiguous(), gx);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace cage::nn
