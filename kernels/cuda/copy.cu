// Data movement: strided gather (a view made contiguous) and scatter (a contiguous buffer written into a view),
// fill with a bit pattern, and the same-shape add of gradient accumulation. One thread per element in a grid-stride
// loop; the element is moved as an integer of its width, so every dtype goes through the same four kernels.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/copy.cuh"
#include "kernels/cuda/grid.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

__device__ __forceinline__ int64_t layout_offset(const copy_layout& l, int64_t flat) {
  int64_t off = 0;
  for (int d = l.dims - 1; d >= 0; --d) {
    const int64_t i = flat % l.size[d];
    flat /= l.size[d];
    off += i * l.stride[d];
  }
  return off;
}

template <typename T>
__global__ void gather_kernel(const T* src, copy_layout layout, T* dst, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    dst[i] = src[layout_offset(layout, i)];
}

template <typename T>
__global__ void scatter_kernel(const T* src, T* dst, copy_layout layout, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    dst[layout_offset(layout, i)] = src[i];
}

template <typename T>
__global__ void fill_kernel(T* dst, T value, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) dst[i] = value;
}

template <typename T>
__global__ void add_kernel(const T* a, const T* b, T* out, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) out[i] = a[i] + b[i];
}

template <typename From, typename To>
__global__ void cast_kernel(const From* in, To* out, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) out[i] = static_cast<To>(in[i]);
}

template <typename T>
void gather(const void* src, const copy_layout& layout, void* dst, int64_t n, cudaStream_t stream) {
  launch(gather_kernel<T>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, static_cast<const T*>(src), layout,
         static_cast<T*>(dst), n);
}

template <typename T>
void scatter(const void* src, void* dst, const copy_layout& layout, int64_t n, cudaStream_t stream) {
  launch(scatter_kernel<T>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, static_cast<const T*>(src),
         static_cast<T*>(dst), layout, n);
}

}  // namespace

void strided_gather(const void* src, const copy_layout& layout, void* dst, int64_t n, int elem_bytes,
                    cudaStream_t stream) {
  if (n == 0) return;
  switch (elem_bytes) {
    case 1: return gather<uint8_t>(src, layout, dst, n, stream);
    case 2: return gather<uint16_t>(src, layout, dst, n, stream);
    case 4: return gather<uint32_t>(src, layout, dst, n, stream);
    default: return gather<uint64_t>(src, layout, dst, n, stream);
  }
}

void strided_scatter(const void* src, void* dst, const copy_layout& layout, int64_t n, int elem_bytes,
                     cudaStream_t stream) {
  if (n == 0) return;
  switch (elem_bytes) {
    case 1: return scatter<uint8_t>(src, dst, layout, n, stream);
    case 2: return scatter<uint16_t>(src, dst, layout, n, stream);
    case 4: return scatter<uint32_t>(src, dst, layout, n, stream);
    default: return scatter<uint64_t>(src, dst, layout, n, stream);
  }
}

void fill_pattern(void* dst, uint64_t bits, int64_t n, int elem_bytes, cudaStream_t stream) {
  if (n == 0) return;
  if (elem_bytes == 4)
    launch(fill_kernel<uint32_t>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, static_cast<uint32_t*>(dst),
           static_cast<uint32_t>(bits), n);
  else
    launch(fill_kernel<uint64_t>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, static_cast<uint64_t*>(dst), bits,
           n);
}

void cast_f32_f64(const float* in, double* out, int64_t n, cudaStream_t stream) {
  if (n > 0) launch(cast_kernel<float, double>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, in, out, n);
}

void cast_f64_f32(const double* in, float* out, int64_t n, cudaStream_t stream) {
  if (n > 0) launch(cast_kernel<double, float>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, in, out, n);
}

void add_f32(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  if (n > 0) launch(add_kernel<float>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, a, b, out, n);
}

void add_f64(const double* a, const double* b, double* out, int64_t n, cudaStream_t stream) {
  if (n > 0) launch(add_kernel<double>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, a, b, out, n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
