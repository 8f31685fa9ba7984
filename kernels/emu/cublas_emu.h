// The cuBLAS subset of the emulator, under cublas_v2.h's type, enum and function names, so that host code compiles
// unchanged against this header (device emu) or the real <cublas_v2.h> (device cuda). Column-major as cuBLAS;
// arguments are checked in cuBLAS's order and with its status codes; operands must be emulated device memory
// (cudaMalloc or tensors on Device::emu). The products are computed on the CPU by OpenBLAS, synchronously (as all
// work on an emulated stream). Pointer mode is host only (alpha and beta are host pointers), as it is by default.
// Difference from the real library: an operand outside device memory is reported at once as
// CUBLAS_STATUS_EXECUTION_FAILED, where real cuBLAS would launch and fault later with cudaErrorIllegalAddress.
#pragma once
#include "kernels/emu/cuda_runtime_emu.h"

inline namespace cage_cuda_emu {

struct cublasContext;
typedef cublasContext* cublasHandle_t;

typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;

typedef enum {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_TENSOR_OP_MATH = 1,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3
} cublasMath_t;

const char* cublasGetStatusName(cublasStatus_t status);
const char* cublasGetStatusString(cublasStatus_t status);

cublasStatus_t cublasCreate(cublasHandle_t* handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream);
// Recorded only: the CPU computes in float32 whatever the mode (as CUBLAS_DEFAULT_MATH / PEDANTIC do on a GPU).
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode);

// C (m, n) = alpha op(A) op(B) + beta C, column-major.
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc);
// batchCount GEMMs, matrix i at A + i * strideA (and so on); stride 0 repeats one matrix.
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float* alpha, const float* A, int lda,
                                         long long int strideA, const float* B, int ldb, long long int strideB,
                                         const float* beta, float* C, int ldc, long long int strideC,
                                         int batchCount);
// C (m, n) = alpha op(A) + beta op(B), column-major (the usual out-of-place transpose). C may not overlap A or B
// unless it is the same matrix with the same ld and no transpose.
cublasStatus_t cublasSgeam(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           const float* alpha, const float* A, int lda, const float* beta, const float* B, int ldb,
                           float* C, int ldc);

}  // namespace cage_cuda_emu
