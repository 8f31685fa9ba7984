// Host launchers of the reduction CUDA kernels (kernels/cuda/reduce.cu): the sum that undoes a broadcast and the
// whole-tensor sum in double. float32 contiguous device pointers; launch errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

constexpr int kSumToMaxDims = 8;  // kept dims and reduced dims each, after dropping and merging

// The scratch floats sum_to needs for g of `dims` dims `g_shape` reduced where `reduced[d]` is set.
int64_t sum_to_scratch(int dims, const int64_t* g_shape, const bool* reduced);
// out[o] = sum of g over the reduced dims (reduced[d] true: out has size 1 there, or no such dim), for g (g_shape),
// out contiguous with the kept dims in order. Fixed-order two-pass sum: pass 1 adds fixed chunks of the reduced
// elements per output, pass 2 adds the chunks in order. `scratch`: sum_to_scratch(...) floats.
// cudaErrorInvalidValue when more than kSumToMaxDims kept or reduced dims remain after merging.
cudaError_t sum_to(const float* g, float* out, float* scratch, int dims, const int64_t* g_shape, const bool* reduced,
                   cudaStream_t stream = 0);

// The scratch doubles sum_all needs for n elements (at least 1).
int64_t sum_all_scratch(int64_t n);
// *total = sum x[i] in double (device pointer), in a fixed order; x: (n). scratch: sum_all_scratch(n) doubles.
void sum_all(const float* x, int64_t n, double* total, double* scratch, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
