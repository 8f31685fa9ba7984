// Fused float32 CPU kernels for inference (no autograd, raw pointers, CPU memory only). They are the
// inference fast path of models/maxvit.cpp: the unfused autograd ops remain the reference and the
// only path on other devices.
//   gemm_epilogue:  C = A @ op(B) + bias, then GELU, then + residual, one pass over each block of C
//                   while it is still in cache (row blocks of the parallel GEMM split).
//   depthwise_bias_gelu: depthwise conv + per-channel bias + GELU, and optionally the per-image channel
//                   sums of the output (the squeeze-excitation pooling) in the same pass.
//   gelu_inplace:   x = GELU(x).
#pragma once
#include <cstdint>

namespace cage::kernels {

enum class Act { none, gelu };

// C (M, N) = A (M, K) @ op(B) + bias (N, may be null); act; + residual (M, N, row stride ldr, may be null;
// must not overlap C). op(B) = B (K, N) or, with trans_b, B stored (N, K).
void gemm_epilogue(bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                   int64_t ldb, const float* bias, Act act, const float* residual, int64_t ldr, float* C, int64_t ldc);

// NHWC depthwise conv, weight (KH, KW, 1, C), padding (KH-1)/2 style given explicitly; y = GELU(conv + bias).
// pooled (N, C), when not null, receives the mean over the output pixels of each image and channel.
void depthwise_bias_gelu(int64_t N, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, int64_t stride,
                         int64_t padding, const float* x, const float* w, const float* bias, float* y,
                         float* pooled);

void gelu_inplace(float* x, int64_t n);

// The squeeze-excitation pooling of the depthwise passes: pooled (N, C) = per-image means of row_sums (N * Ho rows
// of C channel sums, one per output row), summed in double in a fixed order (independent of the thread count).
void pool_row_sums(int64_t N, int64_t Ho, int64_t Wo, int64_t C, const float* row_sums, float* pooled);

}  // namespace cage::kernels
