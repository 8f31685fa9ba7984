// Fused relative-position multi-head attention of MaxViT (block = window, grid), forward and backward.
// Tokens are read straight from the NHWC qkv tensor through the partition index map and the output is
// written at each pixel's own NHWC position, so no partition / departition copies exist.
//   qkv   (B, H, W, 3C): q = channels [0, C), k = [C, 2C), v = [2C, 3C); head h = [h*D, (h+1)*D), D = C / heads
//   table ((2P-1)^2, heads): relative position bias
//   out   (B, H, W, C)
// Per (batch, group, head), with N = P*P tokens of the group:
//   S = scale * Q K^T + bias,  A = softmax_rows(S),  O = A V
//   bias[h][i][j] = table[(yi - yj + P - 1) * (2P - 1) + (xi - xj + P - 1)][h], token t at (t / P, t % P).
// Versions: CPU (kernels/cpu/attention.cpp), f32 and f64; under GemmPrecision::bf16 (kernels/gemm.h) float32 runs
// the bf16-product kernels of kernels/fused_bf16.h (attention_bf16.cpp, attention_bf16_backward.cpp), as
// gemm<float> does; GPU (kernels/gpu). Every tensor contiguous.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace cage::kernels {

enum class AttentionPartition { window, grid };

struct RelposAttentionParams {
  AttentionPartition kind = AttentionPartition::window;
  int64_t partition = 7;  // P
  int64_t heads = 1;
  double scale = 1.0;
};

// Pixel (y * W + x) of token t in group g; groups are (H / P) * (W / P), tokens P * P.
//   window: g = (y / P) * (W / P) + x / P,       t = (y % P) * P + x % P
//   grid:   g = (y % ph) * pw + x % pw,          t = (y / ph) * P + x / pw,   ph = H / P, pw = W / P
// (a P x P grid dilated by (ph, pw); for H == W it is torchvision's WindowPartition(H / P) + SwapAxes).
inline int64_t relpos_attention_pixel(AttentionPartition kind, int64_t H, int64_t W, int64_t P, int64_t g,
                                      int64_t t) {
  int64_t ph = H / P, pw = W / P;
  if (kind == AttentionPartition::window) return ((g / pw) * P + t / P) * W + (g % pw) * P + t % P;
  return ((t / P) * ph + g / pw) * W + (t % P) * pw + g % pw;
}

// Throws cage::Error when shapes, dtypes, devices or the partition do not fit together.
void relpos_attention_check(const Tensor& qkv, const Tensor& table, const RelposAttentionParams& p);

void relpos_attention_forward(const Tensor& qkv, const Tensor& table, const RelposAttentionParams& p,
                              const Tensor& out);

// gout (B, H, W, C). Writes gqkv (B, H, W, 3C) and gtable ((2P-1)^2, heads) (overwritten, not accumulated);
// either may be undefined to skip it.
void relpos_attention_backward(const Tensor& qkv, const Tensor& table, const Tensor& gout,
                               const RelposAttentionParams& p, const Tensor& gqkv, const Tensor& gtable);

}  // namespace cage::kernels
