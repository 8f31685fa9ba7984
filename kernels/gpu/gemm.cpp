// Row-major GEMMs on a GPU device through cuBLAS (column-major). The one place the layouts meet: a row-major
// (R, C) matrix with row stride ld is, read column-major, its transpose (C, R) with leading dimension ld, so
// row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first, A second, sizes N, M, K and
// the same transpose flags. cuBLAS's default math mode keeps float32 products in float32 (no TF32).
#include <climits>

#include "kernels/gpu/blas.h"

namespace cage::CAGE_GPU_NAMESPACE {

cublasHandle_t blas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    check_cublas(cublasCreate(&h), "cublasCreate");
    return h;
  }();
  check_cublas(cublasSetStream(handle, stream()), "cublasSetStream");
  return handle;
}

void check_cublas(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  fail(what, ": ", cublasGetStatusName(s), " (", cublasGetStatusString(s), ") on device ", device_name(kDevice));
}

int blas_int(int64_t v, const char* what) {
  CAGE_CHECK(v >= INT_MIN && v <= INT_MAX, what, ": size ", v, " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const char* n = "gemm";
  if (M == 0 || N == 0) return;
  check_cublas(cublasSgemm(blas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                           blas_int(N, n), blas_int(M, n), blas_int(K, n), &alpha, B, blas_int(ldb, n), A,
                           blas_int(lda, n), &beta, C, blas_int(ldc, n)),
               "gemm (cublasSgemm)");
}

void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C,
                  int64_t ldc, int64_t stride_c, int64_t batch) {
  const char* n = "gemm_batched";
  if (M == 0 || N == 0 || batch == 0) return;
  check_cublas(cublasSgemmStridedBatched(blas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, blas_int(N, n), blas_int(M, n),
                                         blas_int(K, n), &alpha, B, blas_int(ldb, n), stride_b, A, blas_int(lda, n),
                                         stride_a, &beta, C, blas_int(ldc, n), stride_c, blas_int(batch, n)),
               "gemm_batched (cublasSgemmStridedBatched)");
}

void transpose(const float* src, int64_t rows, int64_t cols, int64_t ld_src, float* dst, int64_t ld_dst) {
  // Column-major: src is (cols, rows) with ld_src, dst is (rows, cols) with ld_dst = src^T.
  const char* n = "transpose";
  if (rows == 0 || cols == 0) return;
  const float one = 1.0f, zero = 0.0f;
  check_cublas(cublasSgeam(blas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, blas_int(rows, n), blas_int(cols, n), &one, src,
                           blas_int(ld_src, n), &zero, dst, blas_int(ld_dst, n), dst, blas_int(ld_dst, n)),
               "transpose (cublasSgeam)");
}

}  // namespace cage::CAGE_GPU_NAMESPACE
