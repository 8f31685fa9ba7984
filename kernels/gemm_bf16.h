// bfloat16 GEMMs on AVX-512 BF16 (vdpbf16ps): for CPU inference with the epilogues of kernels/fused.h and weights
// packed once (gemm_bf16_epilogue), and a general one packing both operands per call for training (gemm_bf16).
//   C (M, N) fp32 = bf16(A) (M, K) @ bf16(B) (K, N) + bias, then GELU, then + residual.
// A is float32 (activations), rounded to bfloat16 (nearest even) as the kernel reads it; B is packed once
// (pack_bf16) into bf16 pairs of consecutive k, 16 columns per panel, the operand layout vdpbf16ps wants.
// Products of two bf16 are exact in fp32, so the result equals an fp32 GEMM of the bf16-rounded inputs up to
// the order of the fp32 additions. Only one version exists (AVX-512 BF16); the kernel is compiled with a
// target attribute, so the build works anywhere, and gemm_bf16_epilogue throws an Error on CPUs without it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/fused.h"

namespace cage::kernels {

// True when the CPU (and OS) support AVX-512 BF16.
bool bf16_gemm_supported();

// B (K, N) in bf16: panels of 16 columns; in a panel, Kp / 2 rows of 32 values, (k even, k odd) per column,
// zero-padded past K and N. Kp is K rounded up to even.
struct PackedBf16 {
  int64_t K = 0, N = 0, Kp = 0;
  std::vector<uint16_t> storage;  // over-allocated so that data() is 64-byte aligned
  size_t offset = 0;
  const uint16_t* data() const { return storage.data() + offset; }
  bool empty() const { return storage.empty(); }
};

// Packs op(B): B (K, N) with row stride ldb or, with trans_b, B stored (N, K) (nn::Linear's weight).
PackedBf16 pack_bf16(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb);

// C (M, B.N) = A (M, B.K) @ B + bias (B.N, may be null); act; + residual (M, B.N, row stride ldr, may be null;
// must not overlap C). k_scale (B.K, may be null) scales A's columns before the rounding (A[m][k] * k_scale[k]
// in fp32: the squeeze-excitation gate, without a pass over A). Split over the thread pool.
void gemm_bf16_epilogue(int64_t M, const float* A, int64_t lda, const PackedBf16& B, const float* bias, Act act,
                        const float* residual, int64_t ldr, float* C, int64_t ldc, const float* k_scale = nullptr);

// General bf16 GEMM with the contract of kernels::gemm (kernels/gemm.h), single-threaded, for training:
// C = alpha * bf16(op(A)) @ bf16(op(B)) + beta * C with fp32 accumulation (beta = 0: C is not read). Both operands
// are rounded and packed per call, in blocks of 384 k (weights change every step, so nothing is cached).
// kernels::gemm<float> calls it when set_gemm_precision(GemmPrecision::bf16) is in effect and splits it over
// the thread pool. Throws an Error on CPUs without AVX-512 BF16.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Rows of A rounded to bf16 and back to float32, as the kernel sees them (for tests).
std::vector<float> round_to_bf16(const float* x, int64_t n);

}  // namespace cage::kernels
