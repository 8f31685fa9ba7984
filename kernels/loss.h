// Loss kernels: forward (a scalar loss written into a shape-[] tensor) and hand-written backward for
// cross-entropy, MSE, CAGE's CCC loss and BCE-with-logits. All tensors contiguous; float tensors share one
// dtype (f32 or f64); reductions accumulate in double over fixed blocks, so the result does not depend on
// the thread count. `gout` is the loss's upstream gradient (shape []); an undefined gradient output is skipped.
#pragma once
#include "core/tensor.h"

namespace cage::kernels {

// logits (N, K), labels i64 (N) in [0, K), weights (K) or undefined.
// lse (N): each row's log-sum-exp, kept for the backward. out []: sum_i w[y_i] nll_i / sum_i w[y_i].
void cross_entropy_forward(const Tensor& logits, const Tensor& labels, const Tensor& weights, const Tensor& lse,
                           const Tensor& out);
// glogits (N, K) = gout * w[y_i] / sum_j w[y_j] * (softmax(logits_i) - onehot(y_i)).
void cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& weights, const Tensor& lse,
                            const Tensor& gout, const Tensor& glogits);
// Error naming the first label outside [0, K) by its index and value.
void cross_entropy_check_labels(const Tensor& labels, int64_t classes);

// pred, target: same shape. out [] = mean (pred - target)^2.
void mse_forward(const Tensor& pred, const Tensor& target, const Tensor& out);
// gpred = 2 gout (pred - target) / n, gtarget = -gpred.
void mse_backward(const Tensor& pred, const Tensor& target, const Tensor& gout, const Tensor& gpred,
                  const Tensor& gtarget);

// pred, target (N), N >= 2. moments: f64 (6) = {mean_p, mean_t, var_p, var_t, cov, N}, unbiased (N - 1).
// out [] = -2 cov / (var_p + var_t + (mean_p - mean_t)^2).
void ccc_forward(const Tensor& pred, const Tensor& target, const Tensor& moments, const Tensor& out);
// Closed-form gradients from the saved moments: each is an affine function of (pred_i, target_i).
void ccc_backward(const Tensor& pred, const Tensor& target, const Tensor& moments, const Tensor& gout,
                  const Tensor& gpred, const Tensor& gtarget);

// logits, targets (N, K); pos_weight (K) or undefined. out [] = mean of
// (1 - t) x + (1 + (pw - 1) t) softplus(-x), the stable form of PyTorch's BCEWithLogitsLoss.
void bce_with_logits_forward(const Tensor& logits, const Tensor& targets, const Tensor& pos_weight, const Tensor& out);
// glogits = gout/n ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)); gtargets = gout/n ((pw - 1) softplus(-x) - x).
void bce_with_logits_backward(const Tensor& logits, const Tensor& targets, const Tensor& pos_weight,
                              const Tensor& gout, const Tensor& glogits, const Tensor& gtargets);

}  // namespace cage::kernels
