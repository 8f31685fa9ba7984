// The GEMM epilogue of kernels/fused.h (bias, GELU, residual in one pass over a block of C), shared by the
// float32 (kernels/cpu/fused.cpp, where it is defined) and bf16 (kernels/cpu/gemm_bf16.cpp) GEMMs so both
// round alike after the products.
#pragma once
#include <cstdint>

#include "kernels/fused.h"

namespace cage::kernels {

// C[r][c0 + j] for r < rows, j < cols: + bias[c0 + j], act, + residual[r * ldr + j].
void apply_epilogue(int64_t rows, int64_t c0, int64_t cols, const float* bias, Act act, const float* residual,
                    int64_t ldr, float* C, int64_t ldc);

}  // namespace cage::kernels
