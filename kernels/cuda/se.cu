// Squeeze-excitation, fused: s = mean_hw(x) (N, C); h = silu(s W1 + b1) (N, R); a = sigmoid(h W2 + b2) (N, C);
// y = x * a. W1 (C, R), W2 (R, C) row-major (the HWIO 1x1 conv weights (1, 1, C, R) / (1, 1, R, C)).
// Backward, per image: ga = sum_hw(gy * x); gz2 = ga * a (1 - a); gz1 = (gz2 W2^T) * silu'(z1); gs = gz1 W1^T;
// gx = gy * a + gs / HW; and over images gW1 = s^T gz1, gb1 = sum gz1, gW2 = h^T gz2, gb2 = sum gz2.
// Versions: one. A block of 256 threads per image, the small vectors in shared memory: the pooled sums are column
// reductions (32 channels x 8 pixel groups, partials added in a fixed order), the products with W1 are a thread
// per output (coalesced over R), with W2 a thread per channel (coalesced over C), the product gz2 W2^T a warp per
// output with a shuffle sum. The gate is recomputed in the backward pass, which reads x and gy once for ga and
// once for gx. Parameter gradients: each image writes s, h, gz1, gz2 to scratch and a second kernel (a thread per
// parameter) sums them over images in order: deterministic, no atomics. The CPU oracle is kernels/cpu/se.cpp.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/se.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kThreads = 256;
constexpr int kCols = 32;
constexpr int kGroups = kThreads / kCols;  // pixel groups of a column reduction (= warps)

__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// Column sums over the image's HW pixels of f(p, c) for c in [0, C), written to out[c] * mul.
// Every thread of the block must call it.
template <typename F>
__device__ void column_sums(int64_t HW, int64_t C, float mul, float* out, float (*part)[kCols], F f) {
  const int tx = threadIdx.x % kCols, ty = threadIdx.x / kCols;
  for (int64_t c0 = 0; c0 < C; c0 += kCols) {
    const int64_t c = c0 + tx;
    float acc = 0.0f;
    if (c < C)
      for (int64_t p = ty; p < HW; p += kGroups) acc += f(p, c);
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && c < C) {
      for (int k = 1; k < kGroups; ++k) acc += part[k][tx];
      out[c] = acc * mul;
    }
    __syncthreads();
  }
}

// s (C), z1 (R), h (R), a (C) of one image, in shared memory; ends with a barrier.
__device__ void se_gate(const float* xn, const float* w1, const float* b1, const float* w2, const float* b2,
                        int64_t HW, int64_t C, int64_t R, float* s, float* z1, float* h, float* a,
                        float (*part)[kCols]) {
  column_sums(HW, C, 1.0f / float(HW), s, part, [&](int64_t p, int64_t c) { return xn[p * C + c]; });
  for (int64_t r = threadIdx.x; r < R; r += blockDim.x) {
    float acc = b1 ? b1[r] : 0.0f;
    for (int64_t c = 0; c < C; ++c) acc += s[c] * w1[c * R + r];
    z1[r] = acc;
    h[r] = acc * sigmoid(acc);
  }
  __syncthreads();
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = b2 ? b2[c] : 0.0f;
    for (int64_t r = 0; r < R; ++r) acc += h[r] * w2[r * C + c];
    a[c] = sigmoid(acc);
  }
  __syncthreads();
}

__global__ void squeeze_excitation_forward_kernel(const float* x, const float* w1, const float* b1, const float* w2,
                                                  const float* b2, float* y, int64_t HW, int64_t C, int64_t R) {
  __shared__ float part[kGroups][kCols];
  CAGE_DYNAMIC_SHARED(float, smem);
  float* s = smem;        // (C)
  float* a = s + C;       // (C)
  float* z1 = a + C;      // (R)
  float* h = z1 + R;      // (R)
  const int64_t base = int64_t(blockIdx.x) * HW * C;
  se_gate(x + base, w1, b1, w2, b2, HW, C, R, s, z1, h, a, part);
  const int tx = threadIdx.x % kCols, ty = threadIdx.x / kCols;
  for (int64_t p = ty; p < HW; p += kGroups)
    for (int64_t c = tx; c < C; c += kCols) y[base + p * C + c] = x[base + p * C + c] * a[c];
}

// scratch: S (N, C), H (N, R), GZ1 (N, R), GZ2 (N, C).
__global__ void squeeze_excitation_backward_kernel(const float* x, const float* w1, const float* b1, const float* w2,
                                                   const float* b2, const float* gy, float* gx, float* scratch,
                                                   int64_t N, int64_t HW, int64_t C, int64_t R) {
  __shared__ float part[kGroups][kCols];
  CAGE_DYNAMIC_SHARED(float, smem);
  float* s = smem;        // (C)
  float* a = s + C;       // (C)
  float* gz2 = a + C;     // (C): ga, then the gradient at fc2's output
  float* gs = gz2 + C;    // (C)
  float* z1 = gs + C;     // (R)
  float* h = z1 + R;      // (R)
  float* gz1 = h + R;     // (R)
  const int64_t n = blockIdx.x;
  const int64_t base = n * HW * C;
  const float* xn = x + base;
  const float* gn = gy + base;
  se_gate(xn, w1, b1, w2, b2, HW, C, R, s, z1, h, a, part);
  column_sums(HW, C, 1.0f, gz2, part, [&](int64_t p, int64_t c) { return gn[p * C + c] * xn[p * C + c]; });
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) gz2[c] *= a[c] * (1.0f - a[c]);
  __syncthreads();
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t r = warp; r < R; r += kThreads / 32) {
    float acc = 0.0f;
    for (int64_t c = lane; c < C; c += 32) acc += gz2[c] * w2[r * C + c];
    acc = warp_sum(acc);
    if (lane == 0) {
      const float sg = sigmoid(z1[r]);
      gz1[r] = acc * sg * (1.0f + z1[r] * (1.0f - sg));
    }
  }
  __syncthreads();
  float* S = scratch;
  float* H = S + N * C;
  float* GZ1 = H + N * R;
  float* GZ2 = GZ1 + N * R;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t r = 0; r < R; ++r) acc += gz1[r] * w1[c * R + r];
    gs[c] = acc / float(HW);
    S[n * C + c] = s[c];
    GZ2[n * C + c] = gz2[c];
  }
  for (int64_t r = threadIdx.x; r < R; r += blockDim.x) {
    H[n * R + r] = h[r];
    GZ1[n * R + r] = gz1[r];
  }
  __syncthreads();
  if (!gx) return;
  const int tx = threadIdx.x % kCols, ty = threadIdx.x / kCols;
  for (int64_t p = ty; p < HW; p += kGroups)
    for (int64_t c = tx; c < C; c += kCols) gx[base + p * C + c] = gn[p * C + c] * a[c] + gs[c];
}

// A thread per parameter, summing over images in order: gw1 (C, R), gb1 (R), gw2 (R, C), gb2 (C).
__global__ void squeeze_excitation_params_kernel(const float* scratch, float* gw1, float* gb1, float* gw2, float* gb2,
                                                 int64_t N, int64_t C, int64_t R) {
  const float* S = scratch;
  const float* H = S + N * C;
  const float* GZ1 = H + N * R;
  const float* GZ2 = GZ1 + N * R;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  float acc = 0.0f;
  if (i < C * R) {
    if (!gw1) return;
    const int64_t c = i / R, r = i % R;
    for (int64_t n = 0; n < N; ++n) acc += S[n * C + c] * GZ1[n * R + r];
    gw1[i] = acc;
    return;
  }
  i -= C * R;
  if (i < R) {
    if (!gb1) return;
    for (int64_t n = 0; n < N; ++n) acc += GZ1[n * R + i];
    gb1[i] = acc;
    return;
  }
  i -= R;
  if (i < R * C) {
    if (!gw2) return;
    const int64_t r = i / C, c = i % C;
    for (int64_t n = 0; n < N; ++n) acc += H[n * R + r] * GZ2[n * C + c];
    gw2[i] = acc;
    return;
  }
  i -= R * C;
  if (i < C && gb2) {
    for (int64_t n = 0; n < N; ++n) acc += GZ2[n * C + i];
    gb2[i] = acc;
  }
}

}  // namespace

int64_t squeeze_excitation_shared_bytes(int64_t C, int64_t R) {
  return (4 * C + 3 * R) * int64_t(sizeof(float)) + kGroups * kCols * int64_t(sizeof(float));
}

int64_t squeeze_excitation_scratch_floats(int64_t N, int64_t C, int64_t R) { return 2 * N * (C + R); }

void squeeze_excitation_forward(const float* x, const float* w1, const float* b1, const float* w2, const float* b2,
                                float* y, int64_t N, int64_t HW, int64_t C, int64_t R, cudaStream_t stream) {
  if (N <= 0 || C <= 0) return;
  cage::launch(squeeze_excitation_forward_kernel, dim3(static_cast<unsigned>(N)), dim3(kThreads),
               static_cast<size_t>((2 * C + 2 * R) * sizeof(float)), stream, x, w1, b1, w2, b2, y, HW, C, R);
}

void squeeze_excitation_backward(const float* x, const float* w1, const float* b1, const float* w2, const float* b2,
                                 const float* gy, float* gx, float* gw1, float* gb1, float* gw2, float* gb2,
                                 float* scratch, int64_t N, int64_t HW, int64_t C, int64_t R, cudaStream_t stream) {
  if (C <= 0 || R <= 0) return;
  if (N > 0)
    cage::launch(squeeze_excitation_backward_kernel, dim3(static_cast<unsigned>(N)), dim3(kThreads),
                 static_cast<size_t>((4 * C + 3 * R) * sizeof(float)), stream, x, w1, b1, w2, b2, gy, gx, scratch, N,
                 HW, C, R);
  if (gw1 || gb1 || gw2 || gb2) {
    const int64_t total = 2 * C * R + R + C;
    cage::launch(squeeze_excitation_params_kernel, dim3(static_cast<unsigned>((total + 255) / 256)), dim3(256), 0,
                 stream, static_cast<const float*>(scratch), gw1, gb1, gw2, gb2, N, C, R);
  }
}

}  // namespace cage::CAGE_GPU_NAMESPACE
