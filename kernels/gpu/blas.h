// cuBLAS for the Tensor-level GPU code: the real <cublas_v2.h> for device cuda, the emulator's subset
// (kernels/emu/cublas_emu.h, same names) for device emu. One handle per backend, created on first use and kept for
// the process (a handle owns GPU resources that are costly to make per call), bound to the ops' stream.
#pragma once
#include "kernels/gpu/common.h"

#if defined(CAGE_GPU_REAL_CUDA)
#include <cublas_v2.h>
#else
#include "kernels/emu/cublas_emu.h"
#endif

namespace cage::CAGE_GPU_NAMESPACE {

cublasHandle_t blas_handle();
// Error "<what>: CUBLAS_STATUS_... (<message>)" when s is not CUBLAS_STATUS_SUCCESS.
void check_cublas(cublasStatus_t s, const char* what);
// cuBLAS takes int sizes: larger values are an Error naming the op.
int blas_int(int64_t v, const char* what);

// dst (cols, rows) = src (rows, cols)^T, row-major device matrices with row strides ld_src and ld_dst.
void transpose(const float* src, int64_t rows, int64_t cols, int64_t ld_src, float* dst, int64_t ld_dst);

}  // namespace cage::CAGE_GPU_NAMESPACE
