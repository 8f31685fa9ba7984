#include <cmath>

#include "core/thread_pool.h"
#include "kernels/softmax.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

void softmax_forward(const Tensor& x, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), softmax_forward, x, y);
  const int64_t C = x.size(-1), rows = x.numel() / std::max<int64_t>(C, 1);
  CAGE_DISPATCH_FLOAT(x.dtype(), "softmax_forward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 4096 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* in = xp + r * C;
        T* out = yp + r * C;
        T m = in[0];
        for (int64_t c = 1; c < C; ++c) m = std::max(m, in[c]);
        T s = 0;
        for (int64_t c = 0; c < C; ++c) {
          out[c] = std::exp(in[c] - m);
          s += out[c];
        }
        T inv = T(1) / s;
        for (int64_t c = 0; c < C; ++c) out[c] *= inv;
      }
    });
  });
}

void softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx) {
  CAGE_GPU_DISPATCH(y.device(), softmax_backward, y, gy, gx);
  const int64_t C = y.size(-1), rows = y.numel() / std::max<int64_t>(C, 1);
  CAGE_DISPATCH_FLOAT(y.dtype(), "softmax_backward", [&] {
    using T = scalar_t;
    const T* yp = y.data<T>();
    const T* g = gy.data<T>();
    T* out = gx.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 4096 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T dot = 0;
        for (int64_t c = 0; c < C; ++c) dot += g[r * C + c] * yp[r * C + c];
        for (int64_t c = 0; c < C; ++c) out[r * C + c] = yp[r * C + c] * (g[r * C + c] - dot);
      }
    });
  });
}

}  // namespace cage::kernels
