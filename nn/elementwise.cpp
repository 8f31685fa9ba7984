// Element-wise ops and whole-tensor reductions with autograd.
#include "core/autograd.h"
#include "kernels/elementwise.h"
#include "nn/functional.h"

namespace cage::nn {

namespace {

Tensor binary(kernels::Binary op, const char* name, const Tensor& a, const Tensor& b) {
  Shape shape = kernels::broadcast_shape(a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  kernels::binary_forward(op, a, b, out);
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, name, {a, b}, [op, ad, bd, ga, gb](const Tensor& g) {
    Tensor grad_a, grad_b;
    switch (op) {
      case kernels::Binary::add:
        if (ga) grad_a = kernels::sum_to(g, ad.shape());
        if (gb) grad_b = kernels::sum_to(g, bd.shape());
        break;
      case kernels::Binary::sub:
        if (ga) grad_a = kernels::sum_to(g, ad.shape());
        if (gb) grad_b = kernels::sum_to(scale(g, -1.0), bd.shape());
        break;
      case kernels::Binary::mul:
        if (ga) grad_a = kernels::sum_to(mul(g, bd), ad.shape());
        if (gb) grad_b = kernels::sum_to(mul(g, ad), bd.shape());
        break;
    }
    return std::vector<Tensor>{grad_a, grad_b};
  });
}

Tensor unary(kernels::Unary op, const char* name, const Tensor& x_in) {
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::unary_forward(op, x, y);
  Tensor xd = x.detach(), yd = y.detach();
  return record(y, name, {x}, [op, xd, yd](const Tensor& g) {
    Tensor gx = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
    kernels::unary_backward(op, xd, yd, g.contiguous(), gx);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(kernels::Binary::add, "add", a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(kernels::Binary::sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(kernels::Binary::mul, "mul", a, b); }

Tensor scale(const Tensor& a, double s) {
  Tensor x = a.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::scale(x, s, out);
  return record(out, "scale", {x}, [s](const Tensor& g) { return std::vector<Tensor>{scale(g, s)}; });
}

Tensor gelu(const Tensor& x) { return unary(kernels::Unary::gelu, "gelu", x); }
Tensor silu(const Tensor& x) { return unary(kernels::Unary::silu, "silu", x); }
Tensor sigmoid(const Tensor& x) { return unary(kernels::Unary::sigmoid, "sigmoid", x); }
Tensor tanh(const Tensor& x) { return unary(kernels::Unary::tanh, "tanh", x); }
Tensor relu(const Tensor& x) { return unary(kernels::Unary::relu, "relu", x); }

Tensor sum(const Tensor& x) {
  Tensor out = Tensor::full({}, kernels::sum_all(x), x.dtype(), x.device());
  Shape shape = x.shape();
  DType dt = x.dtype();
  return record(out, "sum", {x}, [shape, dt](const Tensor& g) {
    return std::vector<Tensor>{Tensor::full(shape, g.item(), dt, g.device())};
  });
}

Tensor mean(const Tensor& x) {
  CAGE_CHECK(x.numel() > 0, "mean of an empty tensor");
  return scale(sum(x), 1.0 / static_cast<double>(x.numel()));
}

}  // namespace cage::nn
