// Fused optimizer kernels: one call updates many parameter tensors in a single parallel pass over all their
// elements. The arithmetic follows PyTorch 1.13's single-tensor (foreach=False) CPU code step by step,
// including where its vectorised kernels fuse a multiply-add, so float32 results agree to about one ulp.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace cage::kernels {

// One parameter's buffers (contiguous, one float dtype, same shape). `step` counts this update (1 = first).
struct AdamwTensor {
  Tensor param, grad, exp_avg, exp_avg_sq;
  Tensor max_exp_avg_sq;  // amsgrad only
  int64_t step = 1;
};
struct AdamwHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  bool amsgrad = false;
};
// torch.optim.AdamW: p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2 (amsgrad: vmax = max(vmax, v),
// used in place of v below); p += -(lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), bc_k = 1 - b_k^step.
void adamw_step(const std::vector<AdamwTensor>& tensors, const AdamwHyper& h);

// `momentum_buffer` is required when momentum != 0; `first` marks its first use (it is then set to d_p).
struct SgdTensor {
  Tensor param, grad, momentum_buffer;
  bool first = false;
};
struct SgdHyper {
  double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
// torch.optim.SGD: d = g + wd p; buf = momentum buf + (1 - dampening) d (buf = d at first);
// d = nesterov ? d + momentum buf : buf; p -= lr d.
void sgd_step(const std::vector<SgdTensor>& tensors, const SgdHyper& h);

}  // namespace cage::kernels
