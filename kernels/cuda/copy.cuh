// Host launchers of the data-movement CUDA kernels (kernels/cuda/copy.cu): the strided copy behind contiguous(),
// clone() and copy_() on a device, fill, and the same-shape add that accumulates gradients. Device pointers;
// errors are left for cudaGetLastError().
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

constexpr int kCopyMaxDims = 8;
struct copy_layout {  // a strided view: dims sizes and strides in elements; the source's
  int dims = 0;
  int64_t size[kCopyMaxDims] = {};
  int64_t stride[kCopyMaxDims] = {};
};

// dst[i] = src[offset(i)], dst contiguous (n elements of elem_bytes = 1, 2, 4 or 8 bytes), src walked by `layout`.
void strided_gather(const void* src, const copy_layout& layout, void* dst, int64_t n, int elem_bytes,
                    cudaStream_t stream = 0);
// dst[offset(i)] = src[i], src contiguous, dst walked by `layout` (which must not overlap itself).
void strided_scatter(const void* src, void* dst, const copy_layout& layout, int64_t n, int elem_bytes,
                     cudaStream_t stream = 0);
// Every element of dst (n elements of elem_bytes = 4 or 8 bytes) set to the bit pattern `bits`.
void fill_pattern(void* dst, uint64_t bits, int64_t n, int elem_bytes, cudaStream_t stream = 0);
// out[i] = (To) in[i], (n) each: float32 <-> float64
void cast_f32_f64(const float* in, double* out, int64_t n, cudaStream_t stream = 0);
void cast_f64_f32(const double* in, float* out, int64_t n, cudaStream_t stream = 0);
// out = a + b, (n) each
void add_f32(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream = 0);
void add_f64(const double* a, const double* b, double* out, int64_t n, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
