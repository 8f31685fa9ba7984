// Squeeze-excitation (MBConv's channel gate) as one fused op with a hand-written backward (kernels/se.h); the
// backward recomputes the gate from x, so only x and the parameters are captured.
#include "core/autograd.h"
#include "kernels/se.h"
#include "nn/functional.h"

namespace cage::nn {

Tensor squeeze_excitation(const Tensor& x_in, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                          const Tensor& b2) {
  CAGE_CHECK(x_in.dim() == 4, "squeeze_excitation expects NHWC input, got ", describe(x_in));
  const int64_t C = x_in.size(3);
  CAGE_CHECK(w1.dim() == 4 && w1.size(0) == 1 && w1.size(1) == 1 && w1.size(2) == C, "squeeze_excitation: w1 ",
             describe(w1), " is not a (1, 1, ", C, ", R) 1x1 conv weight");
  const int64_t R = w1.size(3);
  CAGE_CHECK(w2.dim() == 4 && w2.shape() == Shape({1, 1, R, C}), "squeeze_excitation: w2 ", describe(w2),
             " is not a (1, 1, ", R, ", ", C, ") 1x1 conv weight");
  CAGE_CHECK(!b1.defined() || b1.shape() == Shape{R}, "squeeze_excitation: b1 ", describe(b1), " for ", R);
  CAGE_CHECK(!b2.defined() || b2.shape() == Shape{C}, "squeeze_excitation: b2 ", describe(b2), " for ", C);
  auto plain = [](const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); };
  Tensor x = x_in.contiguous();
  Tensor xd = x.detach(), w1d = plain(w1), b1d = plain(b1), w2d = plain(w2), b2d = plain(b2);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::squeeze_excitation_forward(xd, w1d, b1d, w2d, b2d, y);
  auto wants = [](const Tensor& t) { return t.defined() && t.requires_grad(); };
  const bool gx = x.requires_grad(), gw1 = wants(w1), gb1 = wants(b1), gw2 = wants(w2), gb2 = wants(b2);
  return record(y, "squeeze_excitation", {x, w1, b1, w2, b2}, [=](const Tensor& g) {
    auto grad_like = [](bool need, const Tensor& t) {
      return need ? Tensor::empty(t.shape(), t.dtype(), t.device()) : Tensor();
    };
    Tensor dx = grad_like(gx, xd), dw1 = grad_like(gw1, w1d), db1 = grad_like(gb1, b1d), dw2 = grad_like(gw2, w2d),
           db2 = grad_like(gb2, b2d);
    kernels::squeeze_excitation_backward(xd, w1d, b1d, w2d, b2d, g.contiguous(), dx, dw1, db1, dw2, db2);
    return std::vector<Tensor>{dx, dw1, db1, dw2, db2};
  });
}

}  // namespace cage::nn
