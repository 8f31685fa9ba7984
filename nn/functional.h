// Differentiable ops. Each returns its result with a backward closure recorded on the tape (core/autograd.h).
// Spatial tensors are NHWC. Convolution weights are HWIO: (KH, KW, Cin / groups, Cout); torchvision's
// OIHW weights are converted once, at import. Linear weights keep PyTorch's (out, in) layout.
#pragma once
#include <optional>
#include <vector>

#include "core/philox.h"
#include "core/tensor.h"

namespace cage::nn {

// ---- element-wise (broadcasting like NumPy) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, double s);  // a * s

Tensor gelu(const Tensor& x);  // exact (erf) form
Tensor silu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);

// ---- reductions ----
Tensor sum(const Tensor& x);   // all elements -> scalar (shape [])
Tensor mean(const Tensor& x);  // all elements -> scalar
Tensor softmax(const Tensor& x);  // over the last dimension

// ---- linear algebra ----
Tensor matmul(const Tensor& a, const Tensor& b);  // (M,K)x(K,N), (B,M,K)x(B,K,N) or (B,M,K)x(K,N)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());  // x (..., in), w (out, in), b (out)

// ---- convolution and pooling (NHWC) ----
struct Conv2dOptions {
  int64_t stride = 1, padding = 0, groups = 1;
};
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), Conv2dOptions opt = {});
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad = true);
Tensor global_avg_pool(const Tensor& x);  // (N, H, W, C) -> (N, C)

// ---- normalisation ----
// Training: batch statistics (biased variance to normalise); running stats updated in place,
// running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance (PyTorch's rule).
// Eval: running statistics. Statistics are per channel over (N, H, W).
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, bool training, double momentum, double eps);
// gelu(batch_norm2d(...)) as one op. In training, one kernel each way (kernels::batch_norm_gelu_*): the normalised
// value before GELU is not kept (backward recomputes it from x), saving a full-size tensor and two memory passes
// each way; eval mode is the plain composition.
Tensor batch_norm2d_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum, double eps);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);  // over the last dim

// ---- squeeze-excitation (MBConv), fused ----
// x (N, H, W, C); w1 (1, 1, C, R), b1 (R), w2 (1, 1, R, C), b2 (C): the HWIO weights of torchvision's fc1/fc2 1x1
// convs (biases may be undefined). y = x * sigmoid(silu(mean_hw(x) W1 + b1) W2 + b2), the gate broadcast over H, W.
Tensor squeeze_excitation(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2);

// ---- shape ----
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);

// ---- regularisation (Philox: the mask depends only on the generator's seed, stream and offset) ----
Tensor dropout(const Tensor& x, double p, bool training, Philox& rng);
// Per-sample residual-branch drop (torchvision's StochasticDepth, mode "row"): each sample of the batch is
// zeroed with probability p, survivors scaled by 1 / (1 - p).
Tensor stochastic_depth(const Tensor& x, double p, bool training, Philox& rng);

// ---- fused relative-position attention (MaxViT block / grid attention, no partition copies) ----
enum class Partition { window, grid };
struct AttentionOptions {
  Partition kind = Partition::window;
  int64_t partition = 7;  // P: windows of P x P pixels (window) or a P x P dilated grid (grid)
  int64_t heads = 1;
  double scale = 1.0;     // multiplies q k^T (torchvision: C^-0.5 with C the layer width)
};
// qkv: (B, H, W, 3C) with q, k, v the three C-wide chunks of the last dim, head h = channels [h*C/heads, ...);
// bias_table: ((2P-1)^2, heads). Output (B, H, W, C): each pixel's attention output in its own NHWC position.
Tensor relpos_attention(const Tensor& qkv, const Tensor& bias_table, const AttentionOptions& opt);

// ---- losses (scalar outputs) ----
// logits (N, K), labels i64 (N). With class weights: sum_i w[y_i] * nll_i / sum_i w[y_i] (PyTorch's weighted mean).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const Tensor& class_weights = Tensor());
Tensor mse_loss(const Tensor& pred, const Tensor& target);  // mean over all elements
// CAGE's CCC loss on 1-D predictions and targets: -(2 cov) / (var_p + var_t + (mean_p - mean_t)^2), with
// unbiased (N - 1) variances and covariance; one fused pass for the moments.
Tensor ccc_loss(const Tensor& pred, const Tensor& target);
// logits, targets (N, K); pos_weight (K) optional: mean over all elements of
// -[pos_weight * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x))].
Tensor bce_with_logits(const Tensor& logits, const Tensor& targets, const Tensor& pos_weight = Tensor());

}  // namespace cage::nn
