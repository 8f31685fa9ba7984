// The emulator's cuBLAS subset (kernels/emu/cublas_emu.h): handles, argument checks in cuBLAS's order, operands
// checked against the emulated device memory, products by OpenBLAS's column-major cblas_sgemm on the CPU.
// OpenBLAS runs single-threaded (as the engine's CPU GEMMs do); large products and batches are split over the
// engine's thread pool by columns of C or by batch entries, which are disjoint, so the result does not depend on
// the split.
#include <cblas.h>

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "core/thread_pool.h"
#include "kernels/emu/cublas_emu.h"
#include "kernels/emu/internal.h"

inline namespace cage_cuda_emu {

struct cublasContext {
  cudaStream_t stream = 0;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

std::mutex g_handles_mu;
std::unordered_set<cublasContext*>& handles() {
  static auto* h = new std::unordered_set<cublasContext*>();
  return *h;
}
bool live(cublasHandle_t h) {
  if (!h) return false;
  std::lock_guard<std::mutex> lock(g_handles_mu);
  return handles().count(h) != 0;
}

bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }
CBLAS_TRANSPOSE cblas_op(cublasOperation_t op) { return op == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

// A column-major (rows, cols) matrix with leading dimension ld at p lies in one device allocation.
bool in_device(const float* p, int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return true;
  if (!p) return false;
  const size_t elems = size_t((cols - 1) * ld + rows);
  return detail::is_device_range(p, elems * sizeof(float));
}

// C = beta C on a column-major (m, n) matrix; beta == 0 writes zeros without reading C (NaN does not survive).
void scale_c(int64_t m, int64_t n, float beta, float* C, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) C[j * ldc + i] = beta == 0.0f ? 0.0f : beta * C[j * ldc + i];
}

void sgemm_cpu(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (k == 0 || alpha == 0.0f) return scale_c(m, n, beta, C, ldc);
  cblas_sgemm(CblasColMajor, cblas_op(ta), cblas_op(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sync_threads_once() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// The checks every GEMM entry shares, in cuBLAS's order: handle, operations, sizes, leading dimensions.
cublasStatus_t check_gemm(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                          int lda, int ldb, int ldc) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!valid_op(ta) || !valid_op(tb)) return CUBLAS_STATUS_INVALID_VALUE;
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const int a_rows = ta == CUBLAS_OP_N ? m : k, b_rows = tb == CUBLAS_OP_N ? k : n;
  if (lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m)) return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the feature required is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "license error";
  }
  return "unknown error";
}

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  sync_threads_once();
  auto* h = new cublasContext();
  std::lock_guard<std::mutex> lock(g_handles_mu);
  handles().insert(h);
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  std::lock_guard<std::mutex> lock(g_handles_mu);
  if (!handle || !handles().erase(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!stream) return CUBLAS_STATUS_INVALID_VALUE;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode < CUBLAS_DEFAULT_MATH || mode > CUBLAS_TF32_TENSOR_OP_MATH) return CUBLAS_STATUS_INVALID_VALUE;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
  *mode = handle->math;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  return cublasSgemmStridedBatched(handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float* alpha, const float* A, int lda,
                                         long long int strideA, const float* B, int ldb, long long int strideB,
                                         const float* beta, float* C, int ldc, long long int strideC,
                                         int batchCount) {
  if (cublasStatus_t s = check_gemm(handle, transa, transb, m, n, k, lda, ldb, ldc); s != CUBLAS_STATUS_SUCCESS)
    return s;
  if (batchCount < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
  if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  const float a = *alpha, b = *beta;
  const bool reads_ab = k > 0 && a != 0.0f;
  const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  for (int i = 0; i < batchCount; ++i) {
    if (reads_ab && (!in_device(A + i * strideA, a_rows, a_cols, lda) || !in_device(B + i * strideB, b_rows, b_cols, ldb)))
      return CUBLAS_STATUS_EXECUTION_FAILED;
    if (!in_device(C + i * strideC, m, n, ldc)) return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  const int threads = cage::num_threads();
  if (batchCount > 1) {
    cage::parallel_for(0, batchCount, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        sgemm_cpu(transa, transb, m, n, k, a, A + i * strideA, lda, B + i * strideB, ldb, b, C + i * strideC, ldc);
    });
  } else if (threads > 1 && 2.0 * m * n * k >= 4e6 && n >= 32) {
    // Column panels of C (contiguous in column-major) need the matching columns of op(B).
    const int64_t parts = std::min<int64_t>(threads, n / 16);
    cage::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c0 = n * p / parts, c1 = n * (p + 1) / parts;
        const float* bp = transb == CUBLAS_OP_N ? B + c0 * ldb : B + c0;
        sgemm_cpu(transa, transb, m, c1 - c0, k, a, A, lda, bp, ldb, b, C + c0 * ldc, ldc);
      }
    });
  } else {
    sgemm_cpu(transa, transb, m, n, k, a, A, lda, B, ldb, b, C, ldc);
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgeam(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           const float* alpha, const float* A, int lda, const float* beta, const float* B, int ldb,
                           float* C, int ldc) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!valid_op(transa) || !valid_op(transb)) return CUBLAS_STATUS_INVALID_VALUE;
  if (m < 0 || n < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (lda < std::max(1, transa == CUBLAS_OP_N ? m : n) || ldb < std::max(1, transb == CUBLAS_OP_N ? m : n) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  // In place only as an element-wise update: same matrix, same leading dimension, not transposed.
  if ((C == A && (lda != ldc || transa != CUBLAS_OP_N)) || (C == B && (ldb != ldc || transb != CUBLAS_OP_N)))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  const float a = *alpha, b = *beta;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  if ((a != 0.0f && !in_device(A, ta ? n : m, ta ? m : n, lda)) || (b != 0.0f && !in_device(B, tb ? n : m, tb ? m : n, ldb)) ||
      !in_device(C, m, n, ldc))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  cage::parallel_for(0, n, std::max(1, 4096 / std::max(m, 1)), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j)
      for (int64_t i = 0; i < m; ++i) {
        float v = 0.0f;
        if (a != 0.0f) v = a * (ta ? A[i * lda + j] : A[j * lda + i]);
        if (b != 0.0f) v += b * (tb ? B[i * ldb + j] : B[j * ldb + i]);
        C[j * ldc + i] = v;
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace cage_cuda_emu
