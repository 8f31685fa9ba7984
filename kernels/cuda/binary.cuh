// Host launchers of the broadcasting binary CUDA kernels and scale (kernels/cuda/binary.cu). float32 device pointers;
// launch errors are left for cudaGetLastError(); binary_forward returns an error for arguments it cannot take.
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

enum class binary_op { add, sub, mul };
constexpr int kBinaryMaxDims = 8;  // rank of the broadcast shape (after dropping and merging dims)

// out (contiguous, `dims` dims of `shape`) = a (op) b, where element i of out reads a[sum idx_d stride_a[d]] and
// b[sum idx_d stride_b[d]]: the inputs' element strides seen through the broadcast shape (0 where broadcast), any
// non-negative values (transposed and permuted views included). Dims of size 1 are dropped and dims laid out
// back to back in both inputs merged before launching; cudaErrorInvalidValue when more than kBinaryMaxDims remain.
cudaError_t binary_forward(binary_op op, const float* a, const float* b, float* out, int dims, const int64_t* shape,
                           const int64_t* stride_a, const int64_t* stride_b, cudaStream_t stream = 0);

// out = x * s with s rounded to float first (the CPU kernel's order); x, out: (n), contiguous.
void scale(const float* x, float s, float* out, int64_t n, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
