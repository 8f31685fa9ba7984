// Row-major GEMM on the CPU through OpenBLAS (cblas), for f32 and f64:
// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, op = transpose when trans_* is set.
// lda/ldb/ldc are the row strides of A, B, C as stored.
#pragma once
#include <cstdint>

namespace cage::kernels {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

// Makes OpenBLAS single-threaded (the engine splits large GEMMs over its own pool); called by gemm().
void gemm_sync_threads();

}  // namespace cage::kernels
