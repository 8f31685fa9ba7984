// Depthwise convolution (one filter per channel), NHWC, any kernel/stride/padding. The channel loop is
// innermost and contiguous in input, weight (KH, KW, 1, C) and output, so it vectorises.
// Also the inference fusion depthwise conv + eval BatchNorm (per-channel affine) + GELU, as a composition.
#include <algorithm>
#include <cmath>
#include <vector>
#include <type_traits>

#include "core/thread_pool.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/conv.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"

namespace cage::kernels {

void depthwise_conv2d_forward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), depthwise_conv2d_forward, s, x, w, b, y);
  CAGE_DISPATCH_FLOAT(x.dtype(), "depthwise_conv2d", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* wp = w.data<T>();
    const T* bp = b.defined() ? b.data<T>() : nullptr;
    T* yp = y.data<T>();
    const int64_t C = s.Cin;
    parallel_for(0, s.N * s.Ho, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / s.Ho, oh = r % s.Ho;
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          T* out = yp + ((n * s.Ho + oh) * s.Wo + ow) * C;
          for (int64_t c = 0; c < C; ++c) out[c] = bp ? bp[c] : T(0);
          for (int64_t kh = 0; kh < s.KH; ++kh) {
            const int64_t ih = oh * s.stride - s.padding + kh;
            if (ih < 0 || ih >= s.H) continue;
            for (int64_t kw = 0; kw < s.KW; ++kw) {
              const int64_t iw = ow * s.stride - s.padding + kw;
              if (iw < 0 || iw >= s.W) continue;
              const T* in = xp + ((n * s.H + ih) * s.W + iw) * C;
              const T* wk = wp + (kh * s.KW + kw) * C;
              for (int64_t c = 0; c < C; ++c) out[c] += in[c] * wk[c];
            }
          }
        }
      }
    });
  });
}

void depthwise_conv2d_backward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& gy,
                               const Tensor& gx, const Tensor& gw) {
  CAGE_GPU_DISPATCH(x.device(), depthwise_conv2d_backward, s, x, w, gy, gx, gw);
  CAGE_DISPATCH_FLOAT(x.dtype(), "depthwise_conv2d_backward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* wp = w.data<T>();
    const T* g = gy.data<T>();
    const int64_t C = s.Cin;
    if (gx.defined()) {
      T* gxp = gx.data<T>();
      // Gather per input row (n, ih): each input pixel collects the output pixels whose window covers it, so
      // gx is written once (no zero fill, no read-modify-write scatter) and there are N * H parallel rows.
      parallel_for(0, s.N * s.H, 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t n = r / s.H, ih = r % s.H;
          for (int64_t iw = 0; iw < s.W; ++iw) {
            T* gi = gxp + (r * s.W + iw) * C;
            for (int64_t c = 0; c < C; ++c) gi[c] = T(0);
            for (int64_t kh = 0; kh < s.KH; ++kh) {
              const int64_t th = ih + s.padding - kh;
              if (th < 0 || th % s.stride != 0 || th / s.stride >= s.Ho) continue;
              const int64_t oh = th / s.stride;
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t tw = iw + s.padding - kw;
                if (tw < 0 || tw % s.stride != 0 || tw / s.stride >= s.Wo) continue;
                const T* go = g + ((n * s.Ho + oh) * s.Wo + tw / s.stride) * C;
                const T* wk = wp + (kh * s.KW + kw) * C;
                for (int64_t c = 0; c < C; ++c) gi[c] += go[c] * wk[c];
              }
            }
          }
        }
      });
    }
    if (gw.defined()) {
      T* gwp = gw.data<T>();
      // Output rows (n, oh) are split into a fixed number of chunks (independent of the thread count, so the
      // result is deterministic); each chunk accumulates its products in its own double partial, taps outside
      // and pixels inside so the channel loop is contiguous and vectorises, and the partials are added in chunk
      // order. (Parallel over 16-channel blocks with the tap loop innermost it was scalar and had only C / 16
      // parallel tasks.) Float partial sums per row were faster still but drifted by ~1e-4 over 10^5 pixels:
      // only bf16 mixed precision (kernels/gemm.h), whose GEMMs round this gradient's neighbours to 2^-9, takes
      // them (a row's Wo products summed in float, then added to the double partial).
      const int64_t taps = s.KH * s.KW, width = taps * C, rows = s.N * s.Ho;
      const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(32, rows));
      const bool row_sums = std::is_same_v<T, float> && gemm_precision() == GemmPrecision::bf16;
      std::vector<double> partial(static_cast<size_t>(chunks * width), 0.0);
      parallel_for(0, chunks, 1, [&](int64_t q0, int64_t q1) {
        std::vector<T> row(row_sums ? C : 0);
        for (int64_t q = q0; q < q1; ++q) {
          double* acc = partial.data() + q * width;
          for (int64_t r = rows * q / chunks; r < rows * (q + 1) / chunks; ++r) {
            const int64_t n = r / s.Ho, oh = r % s.Ho;
            for (int64_t kh = 0; kh < s.KH; ++kh) {
              const int64_t ih = oh * s.stride - s.padding + kh;
              if (ih < 0 || ih >= s.H) continue;
              const T* in_row = xp + (n * s.H + ih) * s.W * C;
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                double* a = acc + (kh * s.KW + kw) * C;
                T* ra = row_sums ? row.data() : nullptr;
                if (ra) std::fill(ra, ra + C, T(0));
                for (int64_t ow = 0; ow < s.Wo; ++ow) {
                  const int64_t iw = ow * s.stride - s.padding + kw;
                  if (iw < 0 || iw >= s.W) continue;
                  const T* go = g + (r * s.Wo + ow) * C;
                  const T* in = in_row + iw * C;
                  if (ra)
                    for (int64_t c = 0; c < C; ++c) ra[c] += go[c] * in[c];
                  else
                    for (int64_t c = 0; c < C; ++c) a[c] += static_cast<double>(go[c]) * static_cast<double>(in[c]);
                }
                if (ra)
                  for (int64_t c = 0; c < C; ++c) a[c] += static_cast<double>(ra[c]);
              }
            }
          }
        }
      });
      for (int64_t q = 1; q < chunks; ++q)
        for (int64_t i = 0; i < width; ++i) partial[i] += partial[q * width + i];
      for (int64_t i = 0; i < width; ++i) gwp[i] = static_cast<T>(partial[i]);
    }
  });
}

void depthwise_conv2d_bn_gelu_forward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b,
                                      const Tensor& bn_scale, const Tensor& bn_shift, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), depthwise_conv2d_bn_gelu_forward, s, x, w, b, bn_scale, bn_shift, y);
  const int64_t C = s.Cin;
  CAGE_CHECK(bn_scale.numel() == C && bn_shift.numel() == C, "depthwise_conv2d_bn_gelu_forward: scale/shift ",
             shape_str(bn_scale.shape()), "/", shape_str(bn_shift.shape()), " for ", C, " channels");
  depthwise_conv2d_forward(s, x, w, b, y);
  CAGE_DISPATCH_FLOAT(x.dtype(), "depthwise_conv2d_bn_gelu_forward", [&] {
    using T = scalar_t;
    const T* a = bn_scale.data<T>();
    const T* sh = bn_shift.data<T>();
    T* yp = y.data<T>();
    parallel_for(0, s.N * s.Ho * s.Wo, std::max<int64_t>(1, 8192 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) {
          const T v = yp[r * C + c] * a[c] + sh[c];
          if constexpr (std::is_same_v<T, float>) {  // the vectorised GELU of the element-wise kernels
            const float e = exp_nonpositive(-0.5f * v * v);
            yp[r * C + c] = 0.5f * v * (1.0f + erf_with_exp(v * float(M_SQRT1_2), e));
          } else {
            yp[r * C + c] = 0.5 * v * (1.0 + std::erf(v * M_SQRT1_2));
          }
        }
    });
  });
}

}  // namespace cage::kernels
