// Unary activations, forward y = f(x) and backward gx = gy * f'(x), for gelu (erf), silu, sigmoid, tanh and relu.
// Each op is one functor (f and its derivative df(x, y), y = f(x)) plugged into one forward and one backward kernel.
// Versions: one, float32, a grid-stride loop with one element per thread per step. x, y, gy, gx: (n), contiguous.
// The CPU oracle is kernels/cpu/elementwise.cpp.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/grid.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

struct gelu_functor {
  __device__ __forceinline__ float f(float x) const { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
  __device__ __forceinline__ float df(float x, float) const {
    const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    return cdf + x * expf(-0.5f * x * x) * 0.39894228040143268f;  // 1/sqrt(2 pi)
  }
};
struct silu_functor {
  __device__ __forceinline__ float f(float x) const { return x / (1.0f + expf(-x)); }
  __device__ __forceinline__ float df(float x, float) const {
    const float s = 1.0f / (1.0f + expf(-x));
    return s * (1.0f + x * (1.0f - s));
  }
};
struct sigmoid_functor {
  __device__ __forceinline__ float f(float x) const { return 1.0f / (1.0f + expf(-x)); }
  __device__ __forceinline__ float df(float, float y) const { return y * (1.0f - y); }
};
struct tanh_functor {
  __device__ __forceinline__ float f(float x) const { return tanhf(x); }
  __device__ __forceinline__ float df(float, float y) const { return 1.0f - y * y; }
};
struct relu_functor {
  __device__ __forceinline__ float f(float x) const { return x > 0.0f ? x : 0.0f; }
  __device__ __forceinline__ float df(float x, float) const { return x > 0.0f ? 1.0f : 0.0f; }
};

template <typename op_t>
__global__ void unary_forward_kernel(const float* x, float* y, int64_t n) {
  const op_t op;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) y[i] = op.f(x[i]);
}

template <typename op_t>
__global__ void unary_backward_kernel(const float* x, const float* y, const float* gy, float* gx, int64_t n) {
  const op_t op;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    gx[i] = gy[i] * op.df(x[i], y[i]);
}

template <typename fn_t>
void with_functor(unary_op op, fn_t&& fn) {
  switch (op) {
    case unary_op::gelu: return fn(gelu_functor{});
    case unary_op::silu: return fn(silu_functor{});
    case unary_op::sigmoid: return fn(sigmoid_functor{});
    case unary_op::tanh: return fn(tanh_functor{});
    case unary_op::relu: return fn(relu_functor{});
  }
}

}  // namespace

void unary_forward(unary_op op, const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  with_functor(op, [&](auto functor) {
    cage::launch(unary_forward_kernel<decltype(functor)>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, x, y, n);
  });
}

void unary_backward(unary_op op, const float* x, const float* y, const float* gy, float* gx, int64_t n,
                    cudaStream_t stream) {
  if (n <= 0) return;
  with_functor(op, [&](auto functor) {
    cage::launch(unary_backward_kernel<decltype(functor)>, dim3(blocks_for(n)), dim3(kThreads), 0, stream, x, y, gy,
                 gx, n);
  });
}

}  // namespace cage::CAGE_GPU_NAMESPACE
