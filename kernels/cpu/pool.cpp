#include "core/thread_pool.h"
#include "kernels/pool.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

Pool2dShape pool2d_shape(const Shape& x, int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad) {
  CAGE_CHECK(x.size() == 4, "pooling expects NHWC input, got ", shape_str(x));
  CAGE_CHECK(kernel > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel, "pooling: kernel ", kernel, " stride ",
             stride, " padding ", padding, " (padding must be at most half the kernel)");
  Pool2dShape s{x[0], x[1], x[2], x[3], kernel, stride, padding, 0, 0, count_include_pad};
  s.Ho = (s.H + 2 * padding - kernel) / stride + 1;
  s.Wo = (s.W + 2 * padding - kernel) / stride + 1;
  CAGE_CHECK(s.Ho > 0 && s.Wo > 0, "pooling: input ", shape_str(x), " is smaller than the kernel ", kernel);
  return s;
}

namespace {

// The window of output (oh, ow) clipped to the image, and the divisor PyTorch uses for it.
struct Window {
  int64_t h0, h1, w0, w1, divisor;
};
Window window_of(const Pool2dShape& s, int64_t oh, int64_t ow) {
  int64_t h0 = oh * s.stride - s.padding, w0 = ow * s.stride - s.padding;
  int64_t h1 = std::min(h0 + s.kernel, s.H + s.padding), w1 = std::min(w0 + s.kernel, s.W + s.padding);
  int64_t padded_area = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, s.H);
  w1 = std::min(w1, s.W);
  return {h0, h1, w0, w1, s.count_include_pad ? padded_area : (h1 - h0) * (w1 - w0)};
}

}  // namespace

void avg_pool2d_forward(const Pool2dShape& s, const Tensor& x, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), avg_pool2d_forward, s, x, y);
  CAGE_DISPATCH_FLOAT(x.dtype(), "avg_pool2d", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    const int64_t C = s.C;
    parallel_for(0, s.N * s.Ho, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t n = r / s.Ho, oh = r % s.Ho;
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          Window win = window_of(s, oh, ow);
          T* out = yp + ((n * s.Ho + oh) * s.Wo + ow) * C;
          for (int64_t c = 0; c < C; ++c) out[c] = 0;
          for (int64_t h = win.h0; h < win.h1; ++h)
            for (int64_t w = win.w0; w < win.w1; ++w) {
              const T* in = xp + ((n * s.H + h) * s.W + w) * C;
              for (int64_t c = 0; c < C; ++c) out[c] += in[c];
            }
          T inv = T(1) / static_cast<T>(win.divisor);
          for (int64_t c = 0; c < C; ++c) out[c] *= inv;
        }
      }
    });
  });
}

void avg_pool2d_backward(const Pool2dShape& s, const Tensor& gy, const Tensor& gx) {
  CAGE_GPU_DISPATCH(gy.device(), avg_pool2d_backward, s, gy, gx);
  gx.fill_(0);
  CAGE_DISPATCH_FLOAT(gy.dtype(), "avg_pool2d_backward", [&] {
    using T = scalar_t;
    const T* g = gy.data<T>();
    T* gxp = gx.data<T>();
    const int64_t C = s.C;
    // Parallel over images: windows of one image overlap, those of different images never do.
    parallel_for(0, s.N, 1, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t oh = 0; oh < s.Ho; ++oh)
          for (int64_t ow = 0; ow < s.Wo; ++ow) {
            Window win = window_of(s, oh, ow);
            const T* go = g + ((n * s.Ho + oh) * s.Wo + ow) * C;
            T inv = T(1) / static_cast<T>(win.divisor);
            for (int64_t h = win.h0; h < win.h1; ++h)
              for (int64_t w = win.w0; w < win.w1; ++w) {
                T* gi = gxp + ((n * s.H + h) * s.W + w) * C;
                for (int64_t c = 0; c < C; ++c) gi[c] += go[c] * inv;
              }
          }
    });
  });
}

void global_avg_pool_forward(const Tensor& x, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), global_avg_pool_forward, x, y);
  const int64_t N = x.size(0), HW = x.size(1) * x.size(2), C = x.size(3);
  CAGE_DISPATCH_FLOAT(x.dtype(), "global_avg_pool", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
      std::vector<double> acc(C);
      for (int64_t n = n0; n < n1; ++n) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t p = 0; p < HW; ++p)
          for (int64_t c = 0; c < C; ++c) acc[c] += xp[(n * HW + p) * C + c];
        for (int64_t c = 0; c < C; ++c) yp[n * C + c] = static_cast<T>(acc[c] / HW);
      }
    });
  });
}

void global_avg_pool_backward(const Tensor& gy, const Tensor& gx) {
  CAGE_GPU_DISPATCH(gy.device(), global_avg_pool_backward, gy, gx);
  const int64_t N = gx.size(0), HW = gx.size(1) * gx.size(2), C = gx.size(3);
  CAGE_DISPATCH_FLOAT(gy.dtype(), "global_avg_pool_backward", [&] {
    using T = scalar_t;
    const T* g = gy.data<T>();
    T* out = gx.data<T>();
    T inv = T(1) / static_cast<T>(HW);
    parallel_for(0, N * HW, 256, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) out[r * C + c] = g[(r / HW) * C + c] * inv;
    });
  });
}

}  // namespace cage::kernels
