// BatchNorm2d (NHWC), BatchNorm2d + GELU (fused in training) and LayerNorm with autograd.
#include "core/autograd.h"
#include "kernels/norm.h"
#include "nn/functional.h"

namespace cage::nn {

namespace {

// The channel count of an NHWC BatchNorm input, with every per-channel tensor checked against it.
int64_t bn_channels(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Tensor& running_mean, const Tensor& running_var) {
  CAGE_CHECK(x.dim() == 4, op, " expects NHWC input, got ", describe(x));
  const int64_t C = x.size(3);
  for (const Tensor* p : {&weight, &bias, &running_mean, &running_var})
    CAGE_CHECK(!p->defined() || p->shape() == Shape{C}, op, ": parameter ", describe(*p), " for ", C, " channels");
  return C;
}

}  // namespace

Tensor batch_norm2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum, double eps) {
  const int64_t C = bn_channels("batch_norm2d", x_in, weight, bias, running_mean, running_var);
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({C}, DType::f64, x.device()), invstd = Tensor::empty({C}, DType::f64, x.device());
  {
    NoGradGuard no_grad;  // running statistics are buffers, never part of the graph
    kernels::batch_norm_forward(x, weight.defined() ? weight.detach().contiguous() : Tensor(),
                                bias.defined() ? bias.detach().contiguous() : Tensor(), running_mean, running_var,
                                training, momentum, eps, y, mean, invstd);
  }
  Tensor xd = x.detach(), wd = weight.defined() ? weight.detach().contiguous() : Tensor();
  bool gw = weight.defined() && weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  bool gx = x.requires_grad();
  std::vector<Tensor> inputs{x, weight, bias};
  return record(y, "batch_norm2d", inputs, [=](const Tensor& g) {
    Tensor dx = gx ? Tensor::empty(xd.shape(), xd.dtype(), xd.device()) : Tensor();
    Tensor dw = gw ? Tensor::empty({C}, xd.dtype(), xd.device()) : Tensor();
    Tensor db = gb ? Tensor::empty({C}, xd.dtype(), xd.device()) : Tensor();
    kernels::batch_norm_backward(xd, wd, mean, invstd, g.contiguous(), training, dx, dw, db);
    return std::vector<Tensor>{dx, dw, db};
  });
}

Tensor batch_norm2d_gelu(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum, double eps) {
  if (!training) return gelu(batch_norm2d(x_in, weight, bias, running_mean, running_var, false, momentum, eps));
  const int64_t C = bn_channels("batch_norm2d_gelu", x_in, weight, bias, running_mean, running_var);
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({C}, DType::f64, x.device()), invstd = Tensor::empty({C}, DType::f64, x.device());
  Tensor wd = weight.defined() ? weight.detach().contiguous() : Tensor();
  Tensor bd = bias.defined() ? bias.detach().contiguous() : Tensor();
  {
    NoGradGuard no_grad;  // running statistics are buffers, never part of the graph
    kernels::batch_norm_gelu_forward(x, wd, bd, running_mean, running_var, momentum, eps, y, mean, invstd);
  }
  Tensor xd = x.detach();
  bool gw = weight.defined() && weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  bool gx = x.requires_grad();
  std::vector<Tensor> inputs{x, weight, bias};
  return record(y, "batch_norm2d_gelu", inputs, [=](const Tensor& g) {
    Tensor dx = gx ? Tensor::empty(xd.shape(), xd.dtype(), xd.device()) : Tensor();
    Tensor dw = gw ? Tensor::empty({C}, xd.dtype(), xd.device()) : Tensor();
    Tensor db = gb ? Tensor::empty({C}, xd.dtype(), xd.device()) : Tensor();
    kernels::batch_norm_gelu_backward(xd, wd, bd, mean, invstd, g.contiguous(), dx, dw, db);
    return std::vector<Tensor>{dx, dw, db};
  });
}

Tensor layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t C = x_in.size(-1);
  CAGE_CHECK(!weight.defined() || weight.shape() == Shape{C}, "layer_norm: weight ", describe(weight), " for width ", C);
  CAGE_CHECK(!bias.defined() || bias.shape() == Shape{C}, "layer_norm: bias ", describe(bias), " for width ", C);
  Tensor x = x_in.contiguous();
  const int64_t rows = x.numel() / C;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({rows}, DType::f64, x.device()), invstd = Tensor::empty({rows}, DType::f64, x.device());
  Tensor wd = weight.defined() ? weight.detach().contiguous() : Tensor();
  kernels::layer_norm_forward(x, wd, bias.defined() ? bias.detach().contiguous() : Tensor(), eps, y, mean, invstd);
  Tensor xd = x.detach();
  bool gw = weight.defined() && weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  bool gx = x.requires_grad();
  return record(y, "layer_norm", {x, weight, bias}, [=](const Tensor& g) {
    Tensor dx = gx ? Tensor::empty(xd.shape(), xd.dtype(), xd.device()) : Tensor();
    Tensor dw = gw ? Tensor::empty({C}, xd.dtype(), xd.device()) : Tensor();
    Tensor db = gb ? Tensor::empty({C}, xd.dtype(), xd.device()) : Tensor();
    kernels::layer_norm_backward(xd, wd, mean, invstd, g.contiguous(), dx, dw, db);
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace cage::nn
