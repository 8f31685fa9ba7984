#include "nn/layers.h"

#include "core/autograd.h"

namespace cage::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t groups, bool has_bias)
    : weight(register_parameter("weight", Tensor::zeros({kernel, kernel, in / groups, out}), Layout::conv_hwio)),
      options{stride, padding, groups} {
  if (has_bias) bias = &register_parameter("bias", Tensor::zeros({out}));
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias ? *bias : Tensor(), options); }

BatchNorm2d::BatchNorm2d(int64_t c, double eps_, double momentum_)
    : weight(register_parameter("weight", Tensor::full({c}, 1.0))),
      bias(register_parameter("bias", Tensor::zeros({c}))),
      running_mean(register_buffer("running_mean", Tensor::zeros({c}))),
      running_var(register_buffer("running_var", Tensor::full({c}, 1.0))),
      num_batches_tracked(register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64))),
      eps(eps_),
      momentum(momentum_) {}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) num_batches_tracked.data<int64_t>()[0] += 1;
  return batch_norm2d(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Tensor BatchNorm2d::forward_gelu(const Tensor& x) {
  if (is_training()) num_batches_tracked.data<int64_t>()[0] += 1;
  return batch_norm2d_gelu(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

LayerNorm::LayerNorm(int64_t width, double eps_)
    : weight(register_parameter("weight", Tensor::full({width}, 1.0))),
      bias(register_parameter("bias", Tensor::zeros({width}))),
      eps(eps_) {}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }

Linear::Linear(int64_t in, int64_t out, bool has_bias) : weight(register_parameter("weight", Tensor::zeros({out, in}))) {
  if (has_bias) bias = &register_parameter("bias", Tensor::zeros({out}));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias ? *bias : Tensor()); }

}  // namespace cage::nn
