// Depthwise 2-D convolution (one KH x KW filter per channel), NHWC float32, any kernel size, stride and padding.
//   forward:  y[n,oh,ow,c] = b[c] + sum_{kh,kw} x[n, oh*s - p + kh, ow*s - p + kw, c] * w[kh,kw,c]
//   fused:    y = gelu((conv + b) * scale + shift)   (inference: an eval BatchNorm folded into scale/shift)
//   backward: gx[n,ih,iw,c] = sum over the taps that reach (ih, iw) of gy * w   (a gather: no atomics)
//             gw[kh,kw,c]   = sum over (n, oh, ow) of gy * x at the tap's input pixel
// Versions: forward and gx give each thread VEC consecutive channels of one pixel (VEC = 4 with float4 loads when
// C % 4 == 0 and the tensors are 16-byte aligned, else 1), so a warp reads contiguous channels of a pixel: coalesced
// over C; both are also compiled for K = 3 (MaxViT's only size), where the tap loops unroll, and index in 32 bits
// when every index fits. gw is a deterministic two-level column reduction: a (32, 8) block owns 32 channels of one
// chunk of output pixels (each thread sums every 8th pixel in float, 8 partials added in a fixed order in shared
// memory), then a thread per (tap, channel) adds the chunks in float64 in order. 3x3 filters keep all 9 taps in
// registers (one read of gy per pixel); other sizes use one tap per blockIdx.z.
// The CPU oracle is kernels/cpu/depthwise.cpp.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/depthwise_conv.cuh"
#include "kernels/cuda/grid.cuh"

#include <cstdint>
#include <initializer_list>

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int64_t kMaxDepthwiseBlocks = 8192;  // grid-stride blocks (kThreads each, grid.cuh)
constexpr int kCols = 32;
constexpr int kRowGroups = 8;
constexpr int64_t kMinPixelsPerChunk = 256;
constexpr int64_t kMaxChunks = 512;

template <int VEC>
struct vec_io;
template <>
struct vec_io<1> {
  __device__ __forceinline__ static void load(const float* p, float* v) { v[0] = p[0]; }
  __device__ __forceinline__ static void store(float* p, const float* v) { p[0] = v[0]; }
};
template <>
struct vec_io<4> {
  __device__ __forceinline__ static void load(const float* p, float* v) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  }
  __device__ __forceinline__ static void store(float* p, const float* v) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};

__device__ __forceinline__ float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

// The shape in the kernels' index type: int when every index fits (32-bit division is far cheaper than the 64-bit
// one, and the index registers halve), int64_t otherwise.
template <typename I>
struct dims {
  I N, H, W, C, KH, KW, stride, padding, Ho, Wo;
};
template <typename I>
dims<I> dims_of(const depthwise_shape& s) {
  return {I(s.N), I(s.H), I(s.W), I(s.C), I(s.KH), I(s.KW), I(s.stride), I(s.padding), I(s.Ho), I(s.Wo)};
}
// Grid-stride loops may step one grid past the end: keep that below 2^31 too.
bool fits_int(const depthwise_shape& s) {
  const int64_t limit = (int64_t(1) << 31) - 1 - kMaxDepthwiseBlocks * kThreads;
  return s.N * s.H * s.W * s.C <= limit && s.N * s.Ho * s.Wo * s.C <= limit &&
         kMaxChunks * s.KH * s.KW * s.C <= limit;  // the gw partials
}

template <typename I, int VEC, bool FUSED, int K>
__global__ void depthwise_forward_kernel(dims<I> s, const float* x, const float* w, const float* b,
                                         const float* scale, const float* shift, float* y) {
  const I KH = K > 0 ? I(K) : s.KH, KW = K > 0 ? I(K) : s.KW;  // K = 3: the tap loops unroll
  const I CV = s.C / VEC;
  const I total = s.N * s.Ho * s.Wo * CV;
  const I step = I(gridDim.x) * blockDim.x;
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const I c = (i % CV) * VEC;
    I pix = i / CV;
    const I ow = pix % s.Wo;
    pix /= s.Wo;
    const I oh = pix % s.Ho, n = pix / s.Ho;
    float acc[VEC], xv[VEC], wv[VEC];
    if (b)
      vec_io<VEC>::load(b + c, acc);
    else
      for (int v = 0; v < VEC; ++v) acc[v] = 0.0f;
    #pragma unroll
    for (I kh = 0; kh < KH; ++kh) {
      const I ih = oh * s.stride - s.padding + kh;
      if (ih < 0 || ih >= s.H) continue;
      #pragma unroll
      for (I kw = 0; kw < KW; ++kw) {
        const I iw = ow * s.stride - s.padding + kw;
        if (iw < 0 || iw >= s.W) continue;
        vec_io<VEC>::load(x + ((n * s.H + ih) * s.W + iw) * s.C + c, xv);
        vec_io<VEC>::load(w + (kh * KW + kw) * s.C + c, wv);
        for (int v = 0; v < VEC; ++v) acc[v] += xv[v] * wv[v];
      }
    }
    if (FUSED) {
      vec_io<VEC>::load(scale + c, xv);
      vec_io<VEC>::load(shift + c, wv);
      for (int v = 0; v < VEC; ++v) acc[v] = gelu(acc[v] * xv[v] + wv[v]);
    }
    vec_io<VEC>::store(y + i * VEC, acc);
  }
}

template <typename I, int VEC, int K>
__global__ void depthwise_backward_input_kernel(dims<I> s, const float* w, const float* gy, float* gx) {
  const I KH = K > 0 ? I(K) : s.KH, KW = K > 0 ? I(K) : s.KW;
  const I CV = s.C / VEC;
  const I total = s.N * s.H * s.W * CV;
  const I step = I(gridDim.x) * blockDim.x;
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const I c = (i % CV) * VEC;
    I pix = i / CV;
    const I iw = pix % s.W;
    pix /= s.W;
    const I ih = pix % s.H, n = pix / s.H;
    float acc[VEC], gv[VEC], wv[VEC];
    for (int v = 0; v < VEC; ++v) acc[v] = 0.0f;
    #pragma unroll
    for (I kh = 0; kh < KH; ++kh) {
      const I th = ih + s.padding - kh;  // = oh * stride
      if (th < 0 || th % s.stride) continue;
      const I oh = th / s.stride;
      if (oh >= s.Ho) continue;
      #pragma unroll
      for (I kw = 0; kw < KW; ++kw) {
        const I tw = iw + s.padding - kw;
        if (tw < 0 || tw % s.stride) continue;
        const I ow = tw / s.stride;
        if (ow >= s.Wo) continue;
        vec_io<VEC>::load(gy + ((n * s.Ho + oh) * s.Wo + ow) * s.C + c, gv);
        vec_io<VEC>::load(w + (kh * KW + kw) * s.C + c, wv);
        for (int v = 0; v < VEC; ++v) acc[v] += gv[v] * wv[v];
      }
    }
    vec_io<VEC>::store(gx + i * VEC, acc);
  }
}

// partial (chunks, KH*KW, C) floats. TAPS = 9: a 3x3 filter, every tap in registers; TAPS = 1: the tap
// blockIdx.z of any filter.
template <typename I, int TAPS>
__global__ void depthwise_backward_weight_partial_kernel(dims<I> s, const float* x, const float* gy,
                                                         float* partial, I pixels_per_chunk) {
  __shared__ float part[kRowGroups][kCols];
  const I c = I(blockIdx.x) * kCols + threadIdx.x;
  const I taps = s.KH * s.KW;
  const I tap0 = TAPS == 1 ? I(blockIdx.z) : 0;
  const I P = s.N * s.Ho * s.Wo;
  const I p0 = I(blockIdx.y) * pixels_per_chunk;
  const I p1 = p0 + pixels_per_chunk < P ? p0 + pixels_per_chunk : P;
  float acc[TAPS];
  for (int t = 0; t < TAPS; ++t) acc[t] = 0.0f;
  if (c < s.C) {
    for (I p = p0 + threadIdx.y; p < p1; p += kRowGroups) {
      const I ow = p % s.Wo, oh = (p / s.Wo) % s.Ho, n = p / (s.Wo * s.Ho);
      const float g = gy[p * s.C + c];
#pragma unroll
      for (int t = 0; t < TAPS; ++t) {
        const I tap = tap0 + t;
        const I kh = TAPS == 9 ? t / 3 : tap / s.KW, kw = TAPS == 9 ? t % 3 : tap % s.KW;
        const I ih = oh * s.stride - s.padding + kh, iw = ow * s.stride - s.padding + kw;
        if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) acc[t] += g * x[((n * s.H + ih) * s.W + iw) * s.C + c];
      }
    }
  }
  for (int t = 0; t < TAPS; ++t) {
    part[threadIdx.y][threadIdx.x] = acc[t];
    __syncthreads();
    if (threadIdx.y == 0 && c < s.C) {
      float v = acc[t];
      for (int k = 1; k < kRowGroups; ++k) v += part[k][threadIdx.x];
      partial[(I(blockIdx.y) * taps + tap0 + t) * s.C + c] = v;
    }
    __syncthreads();  // part is rewritten by the next tap
  }
}

// A thread per (tap, channel): the chunks in order, in float64.
__global__ void depthwise_backward_weight_finalize_kernel(const float* partial, int64_t chunks, int64_t taps_c,
                                                          float* gw) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= taps_c) return;
  double acc = 0.0;
  for (int64_t k = 0; k < chunks; ++k) acc += partial[k * taps_c + i];
  gw[i] = float(acc);
}

// float4 loads need C % 4 == 0 and 16-byte aligned tensors (a view into a packed buffer may not be; nullptr is).
bool vec4_ok(int64_t C, std::initializer_list<const float*> ptrs) {
  if (C % 4) return false;
  for (const float* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16) return false;
  return true;
}

int64_t chunk_count(const depthwise_shape& s) {
  const int64_t P = s.N * s.Ho * s.Wo;
  const int64_t c = (P + kMinPixelsPerChunk - 1) / kMinPixelsPerChunk;
  return c < 1 ? 1 : (c > kMaxChunks ? kMaxChunks : c);
}

template <typename I, bool FUSED, int K>
void forward(const depthwise_shape& s, const float* x, const float* w, const float* b, const float* scale,
             const float* shift, float* y, cudaStream_t stream) {
  const int64_t outputs = s.N * s.Ho * s.Wo * s.C;
  const dims<I> d = dims_of<I>(s);
  if (vec4_ok(s.C, {x, w, b, scale, shift, y}))
    cage::launch(depthwise_forward_kernel<I, 4, FUSED, K>, dim3(blocks_for(outputs / 4, kMaxDepthwiseBlocks)),
                 dim3(kThreads), 0, stream, d, x, w, b, scale, shift, y);
  else
    cage::launch(depthwise_forward_kernel<I, 1, FUSED, K>, dim3(blocks_for(outputs, kMaxDepthwiseBlocks)),
                 dim3(kThreads), 0, stream, d, x, w, b, scale, shift, y);
}

template <bool FUSED>
void forward_any(const depthwise_shape& s, const float* x, const float* w, const float* b, const float* scale,
                 const float* shift, float* y, cudaStream_t stream) {
  if (s.N * s.Ho * s.Wo * s.C <= 0) return;
  if (!fits_int(s))
    forward<int64_t, FUSED, 0>(s, x, w, b, scale, shift, y, stream);
  else if (s.KH == 3 && s.KW == 3)
    forward<int, FUSED, 3>(s, x, w, b, scale, shift, y, stream);
  else
    forward<int, FUSED, 0>(s, x, w, b, scale, shift, y, stream);
}

template <typename I, int K>
void backward(const depthwise_shape& s, const float* x, const float* w, const float* gy, float* gx, float* gw,
              float* scratch, cudaStream_t stream) {
  const dims<I> d = dims_of<I>(s);
  const int64_t inputs = s.N * s.H * s.W * s.C;
  if (gx && inputs > 0) {
    if (vec4_ok(s.C, {w, gy, gx}))
      cage::launch(depthwise_backward_input_kernel<I, 4, K>, dim3(blocks_for(inputs / 4, kMaxDepthwiseBlocks)),
                   dim3(kThreads), 0, stream, d, w, gy, gx);
    else
      cage::launch(depthwise_backward_input_kernel<I, 1, K>, dim3(blocks_for(inputs, kMaxDepthwiseBlocks)),
                   dim3(kThreads), 0, stream, d, w, gy, gx);
  }
  if (!gw) return;
  const int64_t taps = s.KH * s.KW;
  const int64_t chunks = chunk_count(s);
  const int64_t P = s.N * s.Ho * s.Wo;
  const I pixels_per_chunk = I((P + chunks - 1) / chunks);
  const unsigned col_blocks = static_cast<unsigned>((s.C + kCols - 1) / kCols);
  if (s.KH == 3 && s.KW == 3)
    cage::launch(depthwise_backward_weight_partial_kernel<I, 9>, dim3(col_blocks, static_cast<unsigned>(chunks), 1),
                 dim3(kCols, kRowGroups), 0, stream, d, x, gy, scratch, pixels_per_chunk);
  else
    cage::launch(depthwise_backward_weight_partial_kernel<I, 1>,
                 dim3(col_blocks, static_cast<unsigned>(chunks), static_cast<unsigned>(taps)),
                 dim3(kCols, kRowGroups), 0, stream, d, x, gy, scratch, pixels_per_chunk);
  cage::launch(depthwise_backward_weight_finalize_kernel, dim3(static_cast<unsigned>((taps * s.C + 255) / 256)),
               dim3(256), 0, stream, static_cast<const float*>(scratch), chunks, taps * s.C, gw);
}

}  // namespace

void depthwise_conv2d_forward(const depthwise_shape& s, const float* x, const float* w, const float* b, float* y,
                              cudaStream_t stream) {
  forward_any<false>(s, x, w, b, nullptr, nullptr, y, stream);
}

void depthwise_conv2d_bn_gelu_forward(const depthwise_shape& s, const float* x, const float* w, const float* b,
                                      const float* scale, const float* shift, float* y, cudaStream_t stream) {
  forward_any<true>(s, x, w, b, scale, shift, y, stream);
}

int64_t depthwise_conv2d_scratch_floats(const depthwise_shape& s) { return chunk_count(s) * s.KH * s.KW * s.C; }

void depthwise_conv2d_backward(const depthwise_shape& s, const float* x, const float* w, const float* gy, float* gx,
                               float* gw, float* scratch, cudaStream_t stream) {
  if (s.C <= 0) return;
  if (!fits_int(s))
    backward<int64_t, 0>(s, x, w, gy, gx, gw, scratch, stream);
  else if (s.KH == 3 && s.KW == 3)
    backward<int, 3>(s, x, w, gy, gx, gw, scratch, stream);
  else
    backward<int, 0>(s, x, w, gy, gx, gw, scratch, stream);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
