// Element-wise, depthwise, LayerNorm and attention kernels of the bf16 CPU inference path, and the attention's
// forward and backward of bf16 mixed-precision training (raw pointers, CPU memory only, AVX-512: callers check
// bf16_gemm_supported()). Same contracts as their fp32 twins in kernels/fused.h and kernels/attention.h, but GELU
// is the piecewise-cubic gelu_bf16_v of kernels/cpu/bf16_math.h (max |error| ~3e-6): every output here is rounded
// to bf16 by the next GEMM, whose relative error (up to 2e-3) dwarfs it. The fp32 path keeps kernels/fused.h.
//   depthwise_bias_gelu_bf16: depthwise conv + bias + GELU (+ the squeeze-excitation's pooled means), with
//                             the 16-channel accumulators of four output pixels in registers.
//   gelu_bf16:                y = GELU(x) (y may be x).
//   layer_norm_bf16:          LayerNorm over the last dimension (biased variance, affine) with the row
//                             statistics in fp32 (two passes over the row in L1; the fp32 path sums in
//                             double): its output is a GEMM's input, rounded to bf16 next.
//   relpos_attention_forward_bf16: kernels::relpos_attention_forward (kernels/attention.h) for float32 on the
//                             CPU with Q K^T and P V as bf16 products accumulated in fp32 (vdpbf16ps): q, scale * k,
//                             v and the unnormalised probabilities are rounded to bf16; bias, softmax and the
//                             normalisation stay fp32. Arguments checked by relpos_attention_check beforehand.
//                             Also what kernels::relpos_attention_forward runs for float32 under
//                             GemmPrecision::bf16 (mixed-precision training, kernels/gemm.h).
//   relpos_attention_backward_bf16: its backward (kernels/cpu/attention_bf16_backward.cpp), run by
//                             kernels::relpos_attention_backward under GemmPrecision::bf16: the forward recomputed
//                             bit for bit, the four N x N x D gradient products on vdpbf16ps (dO and dS rounded to
//                             bf16), softmax gradient and table gradient in fp32.
// For bf16 mixed-precision training (kernels::gemm_precision() == bf16; element-wise GELU and the fused
// BatchNorm + GELU of kernels/cpu/elementwise.cpp and kernels/cpu/norm.cpp route here, forward and backward):
//   gelu_backward_bf16:       gx = gy * GELU'(x) with gelu_grad_bf16_v (max |error| 1.1e-6; gx may be gy).
//   affine_gelu_rows_bf16:    y = GELU(z), z = fma(x, a[c], shift[c]), over rows of C values (one thread's rows).
//   affine_gelu_grad_sums_row_bf16: one row: gz = gy * GELU'(z) with z formed exactly as affine_gelu_rows_bf16
//                             formed it (not stored when gz is null), and BatchNorm's backward sums added in
//                             float: sums[c] += gz, sums[C + c] += gz * (x - mean[c]) * invstd[c].
//   bn_gelu_input_grad_rows_bf16: BatchNorm + GELU's input gradient over rows of C values with gz recomputed from
//                             x and gy (one read of each and one write, instead of keeping gz between passes).
#pragma once
#include <cstdint>

#include "kernels/attention.h"

namespace cage::kernels {

void depthwise_bias_gelu_bf16(int64_t N, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, int64_t stride,
                              int64_t padding, const float* x, const float* w, const float* bias, float* y,
                              float* pooled);

void gelu_bf16(const float* x, float* y, int64_t n);

void gelu_backward_bf16(const float* x, const float* gy, float* gx, int64_t n);
void affine_gelu_rows_bf16(int64_t rows, int64_t C, const float* x, const float* a, const float* shift, float* y);
void affine_gelu_grad_sums_row_bf16(int64_t C, const float* x, const float* gy, const float* a, const float* shift,
                                    const float* mean, const float* invstd, float* gz, float* sums);
// Per-column coefficients of BatchNorm's input gradient gx = k (gz - m1 - xhat m2), xhat = (x - mu) is, and of
// z = fma(x, a, shift) (each an array of C floats).
struct BnGeluInputCoefs {
  const float *a, *shift, *mu, *is, *k, *m1, *m2;
};
void bn_gelu_input_grad_rows_bf16(int64_t rows, int64_t C, const float* x, const float* gy,
                                  const BnGeluInputCoefs& q, float* gx);

// y (rows, C) = (x - mean) / sqrt(var + eps) * gamma + beta per row of x (rows, C); y may not overlap x.
void layer_norm_bf16(int64_t rows, int64_t C, const float* x, const float* gamma, const float* beta, float eps,
                     float* y);

// qkv (B, H, W, 3C), table ((2P-1)^2, heads), out (B, H, W, C), all contiguous float32.
void relpos_attention_forward_bf16(int64_t B, int64_t H, int64_t W, int64_t C, const float* qkv, const float* table,
                                   const RelposAttentionParams& p, float* out);

// gout (B, H, W, C); writes gqkv (B, H, W, 3C) and gtable ((2P-1)^2, heads) (overwritten; either may be null
// to skip it). Deterministic, and the same bits whatever the thread count.
void relpos_attention_backward_bf16(int64_t B, int64_t H, int64_t W, int64_t C, const float* qkv, const float* table,
                                    const float* gout, const RelposAttentionParams& p, float* gqkv, float* gtable);

}  // namespace cage::kernels
