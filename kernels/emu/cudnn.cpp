// The emulator's cuDNN subset (kernels/emu/cudnn_emu.h): descriptors validated as cuDNN does, convolutions on the
// CPU as im2col + OpenBLAS over chunks of images. im2col rows are output pixels, columns (r, s, c) in the filter's
// NHWC = (K, R, S, C) order, so group g's filter is the (K/G, R*S*C) row block g of the (K, R*S*C) filter matrix.
// CUDNN_CONVOLUTION flips the filter (r -> R-1-r, s -> S-1-s); CROSS_CORRELATION does not.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/emu/cudnn_emu.h"
#include "kernels/emu/internal.h"

inline namespace cage_cuda_emu {

struct cudnnContext {
  cudaStream_t stream = 0;
};
struct cudnnTensorStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
};
struct cudnnFilterStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int k = 0, c = 0, h = 0, w = 0;
};
struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1, groups = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace {

std::mutex g_mu;
std::unordered_set<cudnnContext*>& handles() {
  static auto* h = new std::unordered_set<cudnnContext*>();
  return *h;
}
bool live(cudnnHandle_t h) {
  std::lock_guard<std::mutex> lock(g_mu);
  return h && handles().count(h);
}
bool valid_type(cudnnDataType_t t) { return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_DOUBLE || t == CUDNN_DATA_HALF; }
bool valid_format(cudnnTensorFormat_t f) { return f == CUDNN_TENSOR_NCHW || f == CUDNN_TENSOR_NHWC; }
bool ok(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }

// Offset of element (n, c, h, w) of a fully packed 4-D tensor.
size_t offset(const cudnnTensorStruct& d, int n, int c, int h, int w) {
  if (d.format == CUDNN_TENSOR_NHWC) return ((size_t(n) * d.h + h) * d.w + w) * d.c + c;
  return ((size_t(n) * d.c + c) * d.h + h) * d.w + w;
}
size_t numel(const cudnnTensorStruct& d) { return size_t(d.n) * d.c * d.h * d.w; }

bool device_range(const void* p, size_t elems) {
  return elems == 0 || (p && detail::is_device_range(p, elems * sizeof(float)));
}

// The geometry every convolution call shares, validated against the three descriptors.
struct Geometry {
  int N, H, W, C, K, R, S, Ho, Wo, G, pad_h, pad_w, u, v, dil_h, dil_w;
  bool flip;
  int64_t Cg() const { return C / G; }
  int64_t Kg() const { return K / G; }
  int64_t cols() const { return int64_t(R) * S * Cg(); }  // im2col row length
};

cudnnStatus_t output_dims(const cudnnConvolutionStruct* cv, const cudnnTensorStruct* x, const cudnnFilterStruct* f,
                          int* ho, int* wo) {
  if (!cv || !x || !f || !cv->set || !x->set || !f->set) return CUDNN_STATUS_BAD_PARAM;
  if (x->type != f->type || x->c != f->c * cv->groups || f->k % cv->groups) return CUDNN_STATUS_BAD_PARAM;
  const int eh = (f->h - 1) * cv->dil_h + 1, ew = (f->w - 1) * cv->dil_w + 1;
  const int nh = x->h + 2 * cv->pad_h - eh, nw = x->w + 2 * cv->pad_w - ew;
  if (nh < 0 || nw < 0) return CUDNN_STATUS_BAD_PARAM;
  *ho = nh / cv->u + 1;
  *wo = nw / cv->v + 1;
  return CUDNN_STATUS_SUCCESS;
}

// x (input side) and y (output side) tensors with filter f under convolution cv: BAD_PARAM on any mismatch,
// NOT_SUPPORTED for what the emulator does not compute (not float32, not NHWC).
cudnnStatus_t geometry(cudnnHandle_t handle, const cudnnTensorStruct* x, const cudnnFilterStruct* f,
                       const cudnnConvolutionStruct* cv, const cudnnTensorStruct* y, Geometry* g) {
  if (!live(handle) || !y || !y->set) return CUDNN_STATUS_BAD_PARAM;
  int ho = 0, wo = 0;
  if (cudnnStatus_t s = output_dims(cv, x, f, &ho, &wo); !ok(s)) return s;
  if (y->n != x->n || y->c != f->k || y->h != ho || y->w != wo || y->type != x->type) return CUDNN_STATUS_BAD_PARAM;
  if (x->type != CUDNN_DATA_FLOAT || x->format != CUDNN_TENSOR_NHWC || y->format != CUDNN_TENSOR_NHWC ||
      f->format != CUDNN_TENSOR_NHWC)
    return CUDNN_STATUS_NOT_SUPPORTED;
  *g = Geometry{x->n, x->h,  x->w,  x->c,      f->k,      f->h,      f->w,      ho, wo,
                cv->groups, cv->pad_h, cv->pad_w, cv->u, cv->v, cv->dil_h, cv->dil_w, cv->mode == CUDNN_CONVOLUTION};
  return CUDNN_STATUS_SUCCESS;
}

int64_t images_per_chunk(const Geometry& g) {
  const int64_t per_image = std::max<int64_t>(1, int64_t(g.Ho) * g.Wo * g.cols());
  return std::max<int64_t>(1, std::min<int64_t>(g.N, (int64_t(16) << 20) / per_image));
}

// The input pixel filter tap (r, s) of output pixel (oh, ow) reads, or false in the padding.
bool tap(const Geometry& g, int64_t oh, int64_t ow, int r, int s, int64_t* ih, int64_t* iw) {
  const int rr = g.flip ? g.R - 1 - r : r, ss = g.flip ? g.S - 1 - s : s;
  *ih = oh * g.u - g.pad_h + int64_t(rr) * g.dil_h;
  *iw = ow * g.v - g.pad_w + int64_t(ss) * g.dil_w;
  return *ih >= 0 && *ih < g.H && *iw >= 0 && *iw < g.W;
}

// cols (images * Ho * Wo, R*S*Cg) of group gi for images [n0, n0 + images).
void im2col(const Geometry& g, const float* x, int64_t n0, int64_t images, int64_t gi, float* cols) {
  const int64_t Cg = g.Cg(), L = g.cols();
  cage::parallel_for(0, images * g.Ho, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t n = n0 + row / g.Ho, oh = row % g.Ho;
      for (int64_t ow = 0; ow < g.Wo; ++ow)
        for (int r = 0; r < g.R; ++r)
          for (int s = 0; s < g.S; ++s) {
            float* dst = cols + (row * g.Wo + ow) * L + (int64_t(r) * g.S + s) * Cg;
            int64_t ih, iw;
            if (tap(g, oh, ow, r, s, &ih, &iw))
              std::memcpy(dst, x + ((n * g.H + ih) * g.W + iw) * g.C + gi * Cg, sizeof(float) * Cg);
            else
              std::memset(dst, 0, sizeof(float) * Cg);
          }
    }
  });
}

// acc (images, H, W, C) += col2im(cols) of group gi; parallel over images, whose pixels are disjoint.
void col2im(const Geometry& g, const float* cols, int64_t images, int64_t gi, float* acc) {
  const int64_t Cg = g.Cg(), L = g.cols();
  cage::parallel_for(0, images, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow)
          for (int r = 0; r < g.R; ++r)
            for (int s = 0; s < g.S; ++s) {
              int64_t ih, iw;
              if (!tap(g, oh, ow, r, s, &ih, &iw)) continue;
              const float* src = cols + ((i * g.Ho + oh) * g.Wo + ow) * L + (int64_t(r) * g.S + s) * Cg;
              float* dst = acc + ((i * g.H + ih) * g.W + iw) * g.C + gi * Cg;
              for (int64_t c = 0; c < Cg; ++c) dst[c] += src[c];
            }
  });
}

bool valid_fwd(cudnnConvolutionFwdAlgo_t a) { return a >= 0 && a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; }
bool valid_bwd_data(cudnnConvolutionBwdDataAlgo_t a) { return a >= 0 && a < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; }
bool valid_bwd_filter(cudnnConvolutionBwdFilterAlgo_t a) {
  return a >= 0 && a < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
}
bool computed_fwd(cudnnConvolutionFwdAlgo_t a) { return a <= CUDNN_CONVOLUTION_FWD_ALGO_GEMM; }
bool computed_bwd_data(cudnnConvolutionBwdDataAlgo_t a) { return a <= CUDNN_CONVOLUTION_BWD_DATA_ALGO_1; }
bool computed_bwd_filter(cudnnConvolutionBwdFilterAlgo_t a) {
  return a <= CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

// The checks every convolution call starts with, in this order: its own arguments (args_ok: the pointers it needs,
// algo_valid: a known algorithm; BAD_PARAM), the handle and descriptors (geometry(), into *g), then NOT_SUPPORTED
// unless the emulator computes the algorithm.
cudnnStatus_t checked_geometry(cudnnHandle_t handle, bool args_ok, bool algo_valid, bool algo_computed,
                               const cudnnTensorStruct* x, const cudnnFilterStruct* f, const cudnnConvolutionStruct* cv,
                               const cudnnTensorStruct* y, Geometry* g) {
  if (!args_ok || !algo_valid) return CUDNN_STATUS_BAD_PARAM;
  if (cudnnStatus_t s = geometry(handle, x, f, cv, y, g); !ok(s)) return s;
  return algo_computed ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
}

// The workspace queries: the call's checks, then 0 bytes (no algorithm needs a workspace here), then NOT_SUPPORTED
// for an algorithm the emulator does not compute.
cudnnStatus_t no_workspace(cudnnHandle_t handle, bool algo_valid, bool algo_computed, const cudnnTensorStruct* x,
                           const cudnnFilterStruct* f, const cudnnConvolutionStruct* cv, const cudnnTensorStruct* y,
                           size_t* bytes) {
  Geometry g;
  if (cudnnStatus_t s = checked_geometry(handle, bytes != nullptr, algo_valid, true, x, f, cv, y, &g); !ok(s)) return s;
  *bytes = 0;
  return algo_computed ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
}

template <typename Desc>
cudnnStatus_t create(Desc** d) {
  if (!d) return CUDNN_STATUS_BAD_PARAM;
  *d = new Desc();
  return CUDNN_STATUS_SUCCESS;
}
template <typename Desc>
cudnnStatus_t destroy(Desc* d) {
  delete d;  // null is fine, as in cuDNN
  return CUDNN_STATUS_SUCCESS;
}
// A tensor or filter descriptor (the same layout: set, format, type, four positive sizes).
template <typename Desc>
cudnnStatus_t set_4d(Desc* d, cudnnTensorFormat_t format, cudnnDataType_t type, int n, int c, int h, int w) {
  if (!d || !valid_format(format) || !valid_type(type) || n <= 0 || c <= 0 || h <= 0 || w <= 0)
    return CUDNN_STATUS_BAD_PARAM;
  *d = Desc{true, format, type, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
  }
  return "CUDNN_UNKNOWN_STATUS_FOUND";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  if (!handle) return CUDNN_STATUS_BAD_PARAM;
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });  // the engine's pool splits the work
  auto* h = new cudnnContext();
  std::lock_guard<std::mutex> lock(g_mu);
  handles().insert(h);
  *handle = h;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!handle || !handles().erase(handle)) return CUDNN_STATUS_BAD_PARAM;
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  if (!live(handle)) return CUDNN_STATUS_BAD_PARAM;
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* stream) {
  if (!live(handle) || !stream) return CUDNN_STATUS_BAD_PARAM;
  *stream = handle->stream;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) { return create(d); }
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) { return destroy(d); }
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type,
                                         int n, int c, int h, int w) {
  return set_4d(d, format, type, n, c, h, w);
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) { return create(d); }
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) { return destroy(d); }
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w) {
  return set_4d(d, format, type, k, c, h, w);
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) { return create(d); }
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) { return destroy(d); }
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
  if (!d || pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0 ||
      (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION) || !valid_type(compute))
    return CUDNN_STATUS_BAD_PARAM;
  d->set = true;
  d->pad_h = pad_h, d->pad_w = pad_w, d->u = u, d->v = v, d->dil_h = dilation_h, d->dil_w = dilation_w;
  d->mode = mode, d->compute = compute;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
  if (!d || groups < 1) return CUDNN_STATUS_BAD_PARAM;
  d->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  if (!d || math < CUDNN_DEFAULT_MATH || math > CUDNN_FMA_MATH) return CUDNN_STATUS_BAD_PARAM;
  d->math = math;  // recorded only: float32 arithmetic whatever the mode
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t cv,
                                                    const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t f,
                                                    int* n, int* c, int* h, int* w) {
  if (!n || !c || !h || !w) return CUDNN_STATUS_BAD_PARAM;
  int ho = 0, wo = 0;
  if (cudnnStatus_t s = output_dims(cv, x, f, &ho, &wo); !ok(s)) return s;
  *n = x->n, *c = f->k, *h = ho, *w = wo;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t f,
                                                      const cudnnConvolutionDescriptor_t cv,
                                                      const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t* bytes) {
  return no_workspace(handle, valid_fwd(algo), computed_fwd(algo), x, f, cv, y, bytes);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t handle, const cudnnFilterDescriptor_t f,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t cv,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  return no_workspace(handle, valid_bwd_data(algo), computed_bwd_data(algo), dx, f, cv, dy, bytes);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t x,
                                                             const cudnnTensorDescriptor_t dy,
                                                             const cudnnConvolutionDescriptor_t cv,
                                                             const cudnnFilterDescriptor_t f,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
  return no_workspace(handle, valid_bwd_filter(algo), computed_bwd_filter(algo), x, f, cv, dy, bytes);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xd,
                                      const void* xv, const cudnnFilterDescriptor_t fd, const void* wv,
                                      const cudnnConvolutionDescriptor_t cv, cudnnConvolutionFwdAlgo_t algo, void*,
                                      size_t, const void* beta, const cudnnTensorDescriptor_t yd, void* yv) {
  Geometry g;
  const cudnnStatus_t s = checked_geometry(handle, alpha && beta && xv && wv && yv, valid_fwd(algo), computed_fwd(algo),
                                           xd, fd, cv, yd, &g);
  if (!ok(s)) return s;
  const auto* x = static_cast<const float*>(xv);
  const auto* w = static_cast<const float*>(wv);
  auto* y = static_cast<float*>(yv);
  if (!device_range(x, numel(*xd)) || !device_range(w, size_t(g.K) * g.cols()) || !device_range(y, numel(*yd)))
    return CUDNN_STATUS_EXECUTION_FAILED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  const int64_t P = int64_t(g.Ho) * g.Wo, L = g.cols(), chunk = images_per_chunk(g);
  std::vector<float> cols(size_t(chunk * P * L));
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t imgs = std::min<int64_t>(chunk, g.N - n0);
    for (int64_t gi = 0; gi < g.G; ++gi) {
      im2col(g, x, n0, imgs, gi, cols.data());
      // y_g (rows, Kg) = a * cols (rows, L) @ W_g^T (L, Kg) + b * y_g; beta 0 does not read y (BLAS semantics).
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, imgs * P, g.Kg(), L, a, cols.data(), L, w + gi * g.Kg() * L,
                  L, b, y + n0 * P * g.K + gi * g.Kg(), g.K);
    }
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t fd,
                                           const void* wv, const cudnnTensorDescriptor_t dyd, const void* dyv,
                                           const cudnnConvolutionDescriptor_t cv, cudnnConvolutionBwdDataAlgo_t algo,
                                           void*, size_t, const void* beta, const cudnnTensorDescriptor_t dxd,
                                           void* dxv) {
  Geometry g;
  const cudnnStatus_t s = checked_geometry(handle, alpha && beta && wv && dyv && dxv, valid_bwd_data(algo),
                                           computed_bwd_data(algo), dxd, fd, cv, dyd, &g);
  if (!ok(s)) return s;
  const auto* w = static_cast<const float*>(wv);
  const auto* dy = static_cast<const float*>(dyv);
  auto* dx = static_cast<float*>(dxv);
  if (!device_range(w, size_t(g.K) * g.cols()) || !device_range(dy, numel(*dyd)) || !device_range(dx, numel(*dxd)))
    return CUDNN_STATUS_EXECUTION_FAILED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  const int64_t P = int64_t(g.Ho) * g.Wo, L = g.cols(), chunk = images_per_chunk(g), image = int64_t(g.H) * g.W * g.C;
  std::vector<float> cols(size_t(chunk * P * L)), acc(size_t(chunk * image));
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t imgs = std::min<int64_t>(chunk, g.N - n0);
    std::fill(acc.begin(), acc.begin() + imgs * image, 0.0f);
    for (int64_t gi = 0; gi < g.G; ++gi) {
      // dcols (rows, L) = dy_g (rows, Kg) @ W_g (Kg, L), scattered back to the pixels they came from.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, imgs * P, L, g.Kg(), 1.0f, dy + n0 * P * g.K + gi * g.Kg(),
                  g.K, w + gi * g.Kg() * L, L, 0.0f, cols.data(), L);
      col2im(g, cols.data(), imgs, gi, acc.data());
    }
    float* out = dx + n0 * image;
    for (int64_t i = 0; i < imgs * image; ++i) out[i] = a * acc[i] + (b == 0.0f ? 0.0f : b * out[i]);
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xd,
                                             const void* xv, const cudnnTensorDescriptor_t dyd, const void* dyv,
                                             const cudnnConvolutionDescriptor_t cv,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void*, size_t, const void* beta,
                                             const cudnnFilterDescriptor_t fd, void* dwv) {
  Geometry g;
  const cudnnStatus_t s = checked_geometry(handle, alpha && beta && xv && dyv && dwv, valid_bwd_filter(algo),
                                           computed_bwd_filter(algo), xd, fd, cv, dyd, &g);
  if (!ok(s)) return s;
  const auto* x = static_cast<const float*>(xv);
  const auto* dy = static_cast<const float*>(dyv);
  auto* dw = static_cast<float*>(dwv);
  if (!device_range(x, numel(*xd)) || !device_range(dy, numel(*dyd)) || !device_range(dw, size_t(g.K) * g.cols()))
    return CUDNN_STATUS_EXECUTION_FAILED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  const int64_t P = int64_t(g.Ho) * g.Wo, L = g.cols(), chunk = images_per_chunk(g);
  std::vector<float> cols(size_t(chunk * P * L));
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t imgs = std::min<int64_t>(chunk, g.N - n0);
    for (int64_t gi = 0; gi < g.G; ++gi) {
      im2col(g, x, n0, imgs, gi, cols.data());
      // dW_g (Kg, L) = a * dy_g^T (Kg, rows) @ cols (rows, L) + b * dW_g; later chunks accumulate.
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.Kg(), L, imgs * P, a, dy + n0 * P * g.K + gi * g.Kg(), g.K,
                  cols.data(), L, n0 == 0 ? b : 1.0f, dw + gi * g.Kg() * L, L);
    }
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t dyd,
                                           const void* dyv, const void* beta, const cudnnTensorDescriptor_t dbd,
                                           void* dbv) {
  if (!live(handle) || !alpha || !beta || !dyv || !dbv || !dyd || !dbd || !dyd->set || !dbd->set)
    return CUDNN_STATUS_BAD_PARAM;
  if (dbd->n != 1 || dbd->h != 1 || dbd->w != 1 || dbd->c != dyd->c || dbd->type != dyd->type)
    return CUDNN_STATUS_BAD_PARAM;
  if (dyd->type != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED;
  const auto* dy = static_cast<const float*>(dyv);
  auto* db = static_cast<float*>(dbv);
  if (!device_range(dy, numel(*dyd)) || !device_range(db, numel(*dbd))) return CUDNN_STATUS_EXECUTION_FAILED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  cage::parallel_for(0, dyd->c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double sum = 0;  // one channel's sum in a fixed order: deterministic whatever the split
      for (int n = 0; n < dyd->n; ++n)
        for (int h = 0; h < dyd->h; ++h)
          for (int w = 0; w < dyd->w; ++w) sum += dy[offset(*dyd, n, int(c), h, w)];
      float& out = db[offset(*dbd, 0, int(c), 0, 0)];
      out = a * float(sum) + (b == 0.0f ? 0.0f : b * out);
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t ad, const void* av,
                             const void* beta, const cudnnTensorDescriptor_t cd, void* cv) {
  if (!live(handle) || !alpha || !beta || !av || !cv || !ad || !cd || !ad->set || !cd->set)
    return CUDNN_STATUS_BAD_PARAM;
  auto fits = [](int a, int c) { return a == c || a == 1; };
  if (!fits(ad->n, cd->n) || !fits(ad->c, cd->c) || !fits(ad->h, cd->h) || !fits(ad->w, cd->w) || ad->type != cd->type)
    return CUDNN_STATUS_BAD_PARAM;
  if (cd->type != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED;
  const auto* A = static_cast<const float*>(av);
  auto* C = static_cast<float*>(cv);
  if (!device_range(A, numel(*ad)) || !device_range(C, numel(*cd))) return CUDNN_STATUS_EXECUTION_FAILED;
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  const cudnnTensorStruct& at = *ad;
  const cudnnTensorStruct& ct = *cd;
  cage::parallel_for(0, int64_t(ct.n) * ct.h, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int n = int(r / ct.h), h = int(r % ct.h);
      for (int w = 0; w < ct.w; ++w)
        for (int c = 0; c < ct.c; ++c) {
          const float v = A[offset(at, at.n == 1 ? 0 : n, at.c == 1 ? 0 : c, at.h == 1 ? 0 : h, at.w == 1 ? 0 : w)];
          float& out = C[offset(ct, n, c, h, w)];
          out = a * v + (b == 0.0f ? 0.0f : b * out);
        }
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace cage_cuda_emu
