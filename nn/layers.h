// The standard layers as Modules with PyTorch's parameter names (weight, bias, running_mean, ...).
// Activations are NHWC; Conv2d holds its weight in HWIO (exchanged with checkpoints as OIHW).
#pragma once
#include "nn/functional.h"
#include "nn/module.h"

namespace cage::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0, int64_t groups = 1,
         bool bias = true);
  Tensor forward(const Tensor& x);
  Tensor& weight;  // (KH, KW, in / groups, out)
  Tensor* bias = nullptr;
  Conv2dOptions options;
};

class BatchNorm2d : public Module {
 public:
  // momentum in PyTorch's convention: running = (1 - momentum) * running + momentum * batch.
  BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x);  // also counts num_batches_tracked in training mode
  Tensor forward_gelu(const Tensor& x);  // gelu(forward(x)) as one op (nn::batch_norm2d_gelu)
  Tensor &weight, &bias, &running_mean, &running_var, &num_batches_tracked;
  double eps, momentum;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t width, double eps = 1e-5);
  Tensor forward(const Tensor& x);
  Tensor &weight, &bias;
  double eps;
};

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x);
  Tensor& weight;  // (out, in)
  Tensor* bias = nullptr;
};

}  // namespace cage::nn
