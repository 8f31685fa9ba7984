// Broadcasting binary ops out = a (op) b for add, sub and mul, and scale out = x * s (kernels/cuda/binary.cuh).
// Each op is a one-line functor plugged into two kernel templates (ggml unary.cu style):
//   binary_flat_kernel:    a, b and out contiguous with one shape, a plain grid-stride loop;
//   binary_strided_kernel: anything else. The host drops size-1 dims and merges dims that are back to back in both
//                          inputs (the usual (N, H, W, C) * (C) becomes 2 dims, a transposed input keeps its 2-3),
//                          then each thread unravels its output index over the remaining dims. 32-bit index maths
//                          when every index and offset fits, since 64-bit division costs several times more.
// The CPU oracle is kernels/cpu/elementwise.cpp; each element is one IEEE operation, so results are bit-exact.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/binary.cuh"
#include "kernels/cuda/grid.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

struct add_functor {
  __device__ __forceinline__ float operator()(float x, float y) const { return x + y; }
};
struct sub_functor {
  __device__ __forceinline__ float operator()(float x, float y) const { return x - y; }
};
struct mul_functor {
  __device__ __forceinline__ float operator()(float x, float y) const { return x * y; }
};

template <typename index_t>
struct binary_view {
  int dims;
  index_t size[kBinaryMaxDims], stride_a[kBinaryMaxDims], stride_b[kBinaryMaxDims];
};

template <typename op_t>
__global__ void binary_flat_kernel(const float* a, const float* b, float* out, int64_t n) {
  const op_t op;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) out[i] = op(a[i], b[i]);
}

template <typename op_t, typename index_t>
__global__ void binary_strided_kernel(const float* a, const float* b, float* out, index_t n, binary_view<index_t> v) {
  const op_t op;
  const index_t step = index_t(gridDim.x) * blockDim.x;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    index_t rem = i, oa = 0, ob = 0;
    // Unrolled over the maximum rank with constant indices: a loop over v.dims would index the parameter struct
    // dynamically and make nvcc copy it to local memory (a 104-byte stack frame).
#pragma unroll
    for (int d = kBinaryMaxDims - 1; d > 0; --d) {
      if (d < v.dims) {
        const index_t q = rem / v.size[d], idx = rem - q * v.size[d];
        oa += idx * v.stride_a[d];
        ob += idx * v.stride_b[d];
        rem = q;
      }
    }
    oa += rem * v.stride_a[0];  // the outermost index needs no division
    ob += rem * v.stride_b[0];
    out[i] = op(a[oa], b[ob]);
  }
}

__global__ void scale_kernel(const float* x, float s, float* out, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) out[i] = x[i] * s;
}

template <typename fn_t>
void with_functor(binary_op op, fn_t&& fn) {
  switch (op) {
    case binary_op::add: return fn(add_functor{});
    case binary_op::sub: return fn(sub_functor{});
    case binary_op::mul: return fn(mul_functor{});
  }
}

template <typename op_t, typename index_t>
void launch_strided(const float* a, const float* b, float* out, int64_t n, int dims, const int64_t* size,
                    const int64_t* sa, const int64_t* sb, cudaStream_t stream) {
  binary_view<index_t> v{};
  v.dims = dims;
  for (int d = 0; d < dims; ++d) {
    v.size[d] = index_t(size[d]);
    v.stride_a[d] = index_t(sa[d]);
    v.stride_b[d] = index_t(sb[d]);
  }
  cage::launch(binary_strided_kernel<op_t, index_t>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, a, b, out,
               index_t(n), v);
}

}  // namespace

cudaError_t binary_forward(binary_op op, const float* a, const float* b, float* out, int dims, const int64_t* shape,
                           const int64_t* stride_a, const int64_t* stride_b, cudaStream_t stream) {
  // Collapse from the innermost dim outwards: drop size-1 dims, merge an outer dim into the current inner one when
  // both inputs step over it by (inner size * inner stride).
  int64_t size[64], sa[64], sb[64];
  if (dims < 0 || dims > 64) return cudaErrorInvalidValue;
  int64_t n = 1;
  int k = 0;  // collapsed dims, stored innermost first
  for (int d = dims - 1; d >= 0; --d) {
    n *= shape[d];
    if (shape[d] == 1) continue;
    if (k > 0 && stride_a[d] == sa[k - 1] * size[k - 1] && stride_b[d] == sb[k - 1] * size[k - 1]) {
      size[k - 1] *= shape[d];
      continue;
    }
    size[k] = shape[d];
    sa[k] = stride_a[d];
    sb[k] = stride_b[d];
    ++k;
  }
  if (n <= 0) return cudaSuccess;
  if (k == 0) {  // a single element
    size[0] = 1;
    sa[0] = sb[0] = 0;
    k = 1;
  }
  if (k > kBinaryMaxDims) return cudaErrorInvalidValue;
  int64_t rsize[kBinaryMaxDims], rsa[kBinaryMaxDims], rsb[kBinaryMaxDims];  // outermost first
  int64_t max_offset = 0;
  for (int d = 0; d < k; ++d) {
    rsize[d] = size[k - 1 - d];
    rsa[d] = sa[k - 1 - d];
    rsb[d] = sb[k - 1 - d];
    if (rsa[d] < 0 || rsb[d] < 0) return cudaErrorInvalidValue;
    const int64_t reach = (rsize[d] - 1) * (rsa[d] > rsb[d] ? rsa[d] : rsb[d]);
    max_offset += reach;
  }
  with_functor(op, [&](auto functor) {
    using op_t = decltype(functor);
    if (k == 1 && rsa[0] == 1 && rsb[0] == 1) {
      cage::launch(binary_flat_kernel<op_t>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, a, b, out, n);
    } else if (n + kThreads * kMaxBlocks < (int64_t(1) << 31) && max_offset < (int64_t(1) << 31)) {
      launch_strided<op_t, uint32_t>(a, b, out, n, k, rsize, rsa, rsb, stream);
    } else {
      launch_strided<op_t, int64_t>(a, b, out, n, k, rsize, rsa, rsb, stream);
    }
  });
  return cudaSuccess;  // launch errors are left for cudaGetLastError(), as after <<<...>>>
}

void scale(const float* x, float s, float* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  cage::launch(scale_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, x, s, out, n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
