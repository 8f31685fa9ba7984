// Normalisation kernels over NHWC rows: BatchNorm statistics per channel over (N, H, W), LayerNorm per row.
// x is viewed as (rows, C), contiguous. Weight and bias may be undefined (1 and 0).
#pragma once
#include "core/tensor.h"

namespace cage::kernels {

// Training: y from batch statistics; writes the batch mean and inverse std (for backward) into mean/invstd
// (f64, (C)) and updates running stats in place: running = (1 - momentum) * running + momentum * batch,
// with the unbiased batch variance. Eval: y from running statistics (mean/invstd still filled for backward).
void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd);
// gx (undefined = skip), gw, gb (undefined = skip). training selects the batch-statistics gradient.
void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb);

// Training-mode BatchNorm followed by GELU (exact erf form) in one op: y = gelu(z), z = BatchNorm(x) with batch
// statistics, running statistics updated as batch_norm_forward does; z itself is not stored. Backward takes bias
// too, to recompute z from x; gx (may be undefined), gw, gb (undefined = skip) as batch_norm_backward.
void batch_norm_gelu_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double momentum, double eps, const Tensor& y,
                             const Tensor& mean, const Tensor& invstd);
void batch_norm_gelu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                              const Tensor& invstd, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                              const Tensor& gb);

// mean/invstd: f64 (rows).
void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd);
void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb);

}  // namespace cage::kernels
