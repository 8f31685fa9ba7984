// Average pooling over NHWC tensors (kernels/cuda/pool.cuh); the CPU oracle is kernels/cpu/pool.cpp.
//   avg_pool2d forward:  a thread per output element (n, oh, ow, c), consecutive threads on consecutive channels;
//                        it adds its window's pixels in the CPU's (h, w) order and multiplies by 1 / divisor.
//   avg_pool2d backward: a gather instead of the CPU's scatter, a thread per input element: it adds gy * (1 / divisor)
//                        of every window containing its pixel, in the (oh, ow) order the CPU scatters them, so no
//                        atomics and the same sum. Rounding pinned with *_rn so nvcc contracts nothing the CPU does not.
//   global_avg_pool:     forward a thread per (n, c) summing HW pixels in double; backward a thread per element.
// Grid-stride loops over 64-bit indices. All four are bit-exact against the CPU kernels.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/pool.cuh"
#include "kernels/cuda/grid.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

// The window of output (oh, ow) clipped to the image, and PyTorch's divisor for it (kernels/cpu/pool.cpp).
struct window {
  int64_t h0, h1, w0, w1, divisor;
};
__device__ __forceinline__ window window_of(const pool2d_dims& s, int64_t oh, int64_t ow) {
  int64_t h0 = oh * s.stride - s.padding, w0 = ow * s.stride - s.padding;
  int64_t h1 = h0 + s.kernel < s.H + s.padding ? h0 + s.kernel : s.H + s.padding;
  int64_t w1 = w0 + s.kernel < s.W + s.padding ? w0 + s.kernel : s.W + s.padding;
  const int64_t padded_area = (h1 - h0) * (w1 - w0);
  h0 = h0 > 0 ? h0 : 0;
  w0 = w0 > 0 ? w0 : 0;
  h1 = h1 < s.H ? h1 : s.H;
  w1 = w1 < s.W ? w1 : s.W;
  return {h0, h1, w0, w1, s.count_include_pad ? padded_area : (h1 - h0) * (w1 - w0)};
}

__global__ void avg_pool2d_forward_kernel(pool2d_dims s, const float* x, float* y) {
  const int64_t total = s.N * s.Ho * s.Wo * s.C;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t c = i % s.C, ow = (i / s.C) % s.Wo, oh = (i / (s.C * s.Wo)) % s.Ho, n = i / (s.C * s.Wo * s.Ho);
    const window win = window_of(s, oh, ow);
    float acc = 0.0f;
    for (int64_t h = win.h0; h < win.h1; ++h)
      for (int64_t w = win.w0; w < win.w1; ++w) acc = __fadd_rn(acc, x[((n * s.H + h) * s.W + w) * s.C + c]);
    y[i] = __fmul_rn(acc, __fdiv_rn(1.0f, float(win.divisor)));
  }
}

__global__ void avg_pool2d_backward_kernel(pool2d_dims s, const float* gy, float* gx) {
  const int64_t total = s.N * s.H * s.W * s.C;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t c = i % s.C, w = (i / s.C) % s.W, h = (i / (s.C * s.W)) % s.H, n = i / (s.C * s.W * s.H);
    // Outputs whose window [o stride - padding, o stride - padding + kernel) holds h (and w).
    const int64_t ph = h + s.padding, pw = w + s.padding;
    const int64_t oh0 = ph < s.kernel ? 0 : (ph - s.kernel) / s.stride + 1;
    const int64_t ow0 = pw < s.kernel ? 0 : (pw - s.kernel) / s.stride + 1;
    const int64_t oh1 = ph / s.stride + 1 < s.Ho ? ph / s.stride + 1 : s.Ho;
    const int64_t ow1 = pw / s.stride + 1 < s.Wo ? pw / s.stride + 1 : s.Wo;
    float acc = 0.0f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const float inv = __fdiv_rn(1.0f, float(window_of(s, oh, ow).divisor));
        acc = __fadd_rn(acc, __fmul_rn(gy[((n * s.Ho + oh) * s.Wo + ow) * s.C + c], inv));
      }
    gx[i] = acc;
  }
}

__global__ void global_avg_pool_forward_kernel(const float* x, float* y, int64_t N, int64_t HW, int64_t C) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N * C; i += step) {
    const int64_t n = i / C, c = i - n * C;
    const float* p = x + n * HW * C + c;
    double acc = 0;
    for (int64_t k = 0; k < HW; ++k) acc += double(p[k * C]);
    y[i] = float(acc / double(HW));
  }
}

__global__ void global_avg_pool_backward_kernel(const float* gy, float* gx, int64_t N, int64_t HW, int64_t C) {
  const float inv = __fdiv_rn(1.0f, float(HW));
  const int64_t total = N * HW * C;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t c = i % C, n = i / (HW * C);
    gx[i] = __fmul_rn(gy[n * C + c], inv);
  }
}

}  // namespace

void avg_pool2d_forward(const pool2d_dims& s, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = s.N * s.Ho * s.Wo * s.C;
  if (total <= 0) return;
  cage::launch(avg_pool2d_forward_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, s, x, y);
}

void avg_pool2d_backward(const pool2d_dims& s, const float* gy, float* gx, cudaStream_t stream) {
  const int64_t total = s.N * s.H * s.W * s.C;
  if (total <= 0) return;
  cage::launch(avg_pool2d_backward_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, s, gy, gx);
}

void global_avg_pool_forward(const float* x, float* y, int64_t N, int64_t HW, int64_t C, cudaStream_t stream) {
  if (N * C <= 0) return;
  cage::launch(global_avg_pool_forward_kernel, dim3(blocks_for(N * C)), dim3(kThreads), 0, stream, x, y, N, HW, C);
}

void global_avg_pool_backward(const float* gy, float* gx, int64_t N, int64_t HW, int64_t C, cudaStream_t stream) {
  if (N * HW * C <= 0) return;
  cage::launch(global_avg_pool_backward_kernel, dim3(blocks_for(N * HW * C)), dim3(kThreads), 0, stream, gy, gx, N,
               HW, C);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
