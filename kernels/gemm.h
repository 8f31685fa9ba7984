// Row-major GEMM on the CPU through OpenBLAS (cblas), for f32 and f64:
// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, op = transpose when trans_* is set.
// lda/ldb/ldc are the row strides of A, B, C as stored.
// gemm_device / gemm_batched_device: the same contract for float32 pointers into memory of device `d` (the CPU's
// gemm on Device::cpu, cuBLAS through the GPU backend otherwise), for callers that hold raw pointers of tensors.
#pragma once
#include <cstdint>

#include "core/device.h"

namespace cage::kernels {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

// Precision of float32 CPU GEMMs. bf16: mixed precision as PyTorch's CPU autocast does it for training: both
// operands rounded to bfloat16 (nearest even), products accumulated and C written in float32
// (kernels/gemm_bf16.h, AVX-512 BF16). Degenerate products (min(M, N, K) < 16: bias broadcasts and sums through a
// ones vector) stay float32. Process-wide; set it before the work it applies to, not during. float64 GEMMs and the
// inference fast path (its own switch, models::set_inference_precision) are not affected. Setting bf16 on a CPU
// without AVX-512 BF16 throws an Error. bf16 also switches float32 GELU on the CPU (element-wise and fused with
// BatchNorm, forward and backward) to the bf16 path's piecewise polynomials (kernels/fused_bf16.h, max |error|
// 3.2e-6 for GELU, 1.1e-6 for its derivative): their outputs are rounded to bf16 by the next GEMM anyway.
enum class GemmPrecision { fp32, bf16 };
void set_gemm_precision(GemmPrecision p);
GemmPrecision gemm_precision();

// Sets the GEMM precision for a scope and restores the previous one at its end.
class GemmPrecisionScope {
 public:
  explicit GemmPrecisionScope(GemmPrecision p) : saved_(gemm_precision()) { set_gemm_precision(p); }
  ~GemmPrecisionScope() { set_gemm_precision(saved_); }
  GemmPrecisionScope(const GemmPrecisionScope&) = delete;
  GemmPrecisionScope& operator=(const GemmPrecisionScope&) = delete;

 private:
  GemmPrecision saved_;
};

// Makes OpenBLAS single-threaded (the engine splits large GEMMs over its own pool); called by gemm().
void gemm_sync_threads();

void gemm_device(Device d, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// `batch` GEMMs, matrix i at A + i * stride_a (and so on, in elements); stride 0 repeats one matrix.
void gemm_batched_device(Device d, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                         float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch);

}  // namespace cage::kernels
