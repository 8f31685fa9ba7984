// Convolution as GEMMs. im2col rows are output pixels, columns (kh, kw, ci) in the weight's HWIO order,
// so weight group g is the (KH*KW*Cg, Og) block at column g*Og of the (KH*KW*Cg, Cout) weight matrix.
// The forward works through chunks of output rows, the backward through chunks of images, so the column
// buffer stays small whatever the batch size.
#include <cstring>
#include <type_traits>

#include "core/thread_pool.h"
#include "kernels/conv.h"
#include "kernels/cpu/column_reduce.h"
#include "kernels/gemm.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

Conv2dShape conv2d_shape(const Shape& x, const Shape& w, int64_t stride, int64_t padding, int64_t groups) {
  CAGE_CHECK(x.size() == 4, "conv2d expects NHWC input, got ", shape_str(x));
  CAGE_CHECK(w.size() == 4, "conv2d expects an HWIO weight (KH, KW, Cin/groups, Cout), got ", shape_str(w));
  CAGE_CHECK(stride >= 1 && padding >= 0 && groups >= 1, "conv2d: stride ", stride, " padding ", padding, " groups ",
             groups);
  Conv2dShape s{x[0], x[1], x[2], x[3], w[0], w[1], w[3], stride, padding, groups, 0, 0};
  CAGE_CHECK(s.Cin % groups == 0 && s.Cout % groups == 0, "conv2d: channels ", s.Cin, " -> ", s.Cout,
             " not divisible by groups ", groups);
  CAGE_CHECK(w[2] == s.Cin / groups, "conv2d: weight ", shape_str(w), " expects ", w[2] * groups,
             " input channels, input has ", s.Cin);
  s.Ho = (s.H + 2 * padding - s.KH) / stride + 1;
  s.Wo = (s.W + 2 * padding - s.KW) / stride + 1;
  CAGE_CHECK(s.Ho > 0 && s.Wo > 0, "conv2d: input ", shape_str(x), " smaller than kernel ", s.KH, "x", s.KW);
  return s;
}

namespace {

// Elements of the im2col buffer per chunk of output rows (2 MiB of float), forward and backward:
// small enough that the columns are still in L2 or nearby L3 when the GEMM packs them, so they never go out to
// memory and back. The Fashion-MNIST stem's 3x3 convolution at batch 128 (BM_Conv3x3Train) trains in 26.5 ms
// instead of 34-36 ms with 8 MiB forward and 64 MiB backward chunks (the whole batch, 38 MB of columns); below
// 2 MiB no faster.
constexpr int64_t kColumnBudget = 1 << 19;

// The column buffer comes from the pooled tensor allocator: a std::vector would be a fresh, zero-filled
// mmap on every call (page faults and a memset of up to 64 MiB at the stem).
template <typename T>
Tensor column_buffer(int64_t elements) {
  return Tensor::empty({elements}, std::is_same_v<T, float> ? DType::f32 : DType::f64);
}

// cols ((r1 - r0) * Wo, KH*KW*Cg) for group g of the output rows [r0, r1), rows counted over images
// (r = n * Ho + oh).
template <typename T>
void im2col_rows(const Conv2dShape& s, const T* x, int64_t r_begin, int64_t r_end, int64_t g, T* cols) {
  const int64_t Cg = s.Cin / s.groups, K = s.KH * s.KW * Cg;
  parallel_for(r_begin, r_end, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / s.Ho, oh = r % s.Ho;
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        T* row = cols + ((r - r_begin) * s.Wo + ow) * K;
        for (int64_t kh = 0; kh < s.KH; ++kh) {
          const int64_t ih = oh * s.stride - s.padding + kh;
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            const int64_t iw = ow * s.stride - s.padding + kw;
            T* dst = row + (kh * s.KW + kw) * Cg;
            if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W)
              std::memset(dst, 0, sizeof(T) * Cg);
            else
              std::memcpy(dst, x + ((n * s.H + ih) * s.W + iw) * s.Cin + g * Cg, sizeof(T) * Cg);
          }
        }
      }
    }
  });
}

// gx += col2im(cols) for group g, cols holding the output rows [r_begin, r_end) (r = n * Ho + oh). Gathered per
// input row: each input pixel adds the columns of the chunk's output pixels whose window covers it, so threads
// own disjoint input rows (a scatter over output rows would race on the rows two windows share) and a chunk may
// cut an image anywhere; input rows on a chunk boundary collect from both chunks, one after the other.
template <typename T>
void col2im_rows(const Conv2dShape& s, const T* cols, int64_t r_begin, int64_t r_end, int64_t g, T* gx) {
  const int64_t Cg = s.Cin / s.groups, K = s.KH * s.KW * Cg;
  // Input rows (counted over images, n * H + ih) that the chunk's windows reach.
  const int64_t n_first = r_begin / s.Ho, n_last = (r_end - 1) / s.Ho;
  const int64_t ih_first = std::max<int64_t>(0, (r_begin % s.Ho) * s.stride - s.padding);
  const int64_t ih_last = std::min<int64_t>(s.H - 1, ((r_end - 1) % s.Ho) * s.stride - s.padding + s.KH - 1);
  parallel_for(n_first * s.H + ih_first, n_last * s.H + ih_last + 1, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n = q / s.H, ih = q % s.H;
      for (int64_t kh = 0; kh < s.KH; ++kh) {
        const int64_t th = ih + s.padding - kh;
        if (th < 0 || th % s.stride != 0 || th / s.stride >= s.Ho) continue;
        const int64_t r = n * s.Ho + th / s.stride;
        if (r < r_begin || r >= r_end) continue;
        for (int64_t iw = 0; iw < s.W; ++iw) {
          T* dst = gx + (q * s.W + iw) * s.Cin + g * Cg;
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            const int64_t tw = iw + s.padding - kw;
            if (tw < 0 || tw % s.stride != 0 || tw / s.stride >= s.Wo) continue;
            const T* src = cols + ((r - r_begin) * s.Wo + tw / s.stride) * K + (kh * s.KW + kw) * Cg;
            for (int64_t c = 0; c < Cg; ++c) dst[c] += src[c];
          }
        }
      }
    }
  });
}

template <typename T>
void add_bias_rows(T* y, const T* b, int64_t rows, int64_t C) {
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c) y[r * C + c] += b[c];
  });
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), conv2d_forward, s, x, w, b, y);
  if (s.is_depthwise()) return depthwise_conv2d_forward(s, x, w, b, y);
  CAGE_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* wp = w.data<T>();
    T* yp = y.data<T>();
    const int64_t Cg = s.Cin / s.groups, Og = s.Cout / s.groups, K = s.KH * s.KW * Cg, P = s.Ho * s.Wo;
    if (s.is_pointwise()) {
      gemm<T>(false, false, s.N * P, s.Cout, s.Cin, 1, xp, s.Cin, wp, s.Cout, 0, yp, s.Cout);
    } else {
      const int64_t rows = s.N * s.Ho;
      const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rows, kColumnBudget / (s.Wo * K)));
      Tensor buffer = column_buffer<T>(chunk * s.Wo * K);
      T* cols = buffer.data<T>();
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t r1 = std::min(rows, r0 + chunk);
        for (int64_t g = 0; g < s.groups; ++g) {
          im2col_rows(s, xp, r0, r1, g, cols);
          gemm<T>(false, false, (r1 - r0) * s.Wo, Og, K, 1, cols, K, wp + g * Og, s.Cout, 0,
                  yp + r0 * s.Wo * s.Cout + g * Og, s.Cout);
        }
      }
    }
    if (b.defined()) add_bias_rows(yp, b.data<T>(), s.N * P, s.Cout);
  });
}

void conv2d_backward(const Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx,
                     const Tensor& gw, const Tensor& gb) {
  CAGE_GPU_DISPATCH(x.device(), conv2d_backward, s, x, w, gy, gx, gw, gb);
  CAGE_DISPATCH_FLOAT(x.dtype(), "conv2d_backward", [&] {
    using T = scalar_t;
    const T* g = gy.data<T>();
    const int64_t P = s.Ho * s.Wo, rows = s.N * P;
    if (gb.defined()) {
      std::vector<double> sums = column_reduce(rows, s.Cout, [&](int64_t r0, int64_t r1, double* acc) {
        add_rows_in_runs<T>(r0, r1, s.Cout, acc, [&](int64_t r, T* run) {
          for (int64_t c = 0; c < s.Cout; ++c) run[c] += g[r * s.Cout + c];
        });
      });
      for (int64_t c = 0; c < s.Cout; ++c) gb.data<T>()[c] = static_cast<T>(sums[c]);
    }
    if (s.is_depthwise()) return depthwise_conv2d_backward(s, x, w, gy, gx, gw);
    const T* xp = x.data<T>();
    const T* wp = w.data<T>();
    if (s.is_pointwise()) {
      if (gx.defined()) gemm<T>(false, true, rows, s.Cin, s.Cout, 1, g, s.Cout, wp, s.Cout, 0, gx.data<T>(), s.Cin);
      if (gw.defined()) gemm<T>(true, false, s.Cin, s.Cout, rows, 1, xp, s.Cin, g, s.Cout, 0, gw.data<T>(), s.Cout);
      return;
    }
    const int64_t Cg = s.Cin / s.groups, Og = s.Cout / s.groups, K = s.KH * s.KW * Cg, rows_out = s.N * s.Ho;
    // Chunks of output rows (counted over images), not whole images: one MaxViT-T stem image is 29 MB of columns.
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rows_out, kColumnBudget / (s.Wo * K)));
    Tensor buffer = column_buffer<T>(chunk * s.Wo * K);
    T* cols = buffer.data<T>();
    if (gx.defined()) gx.fill_(0);
    for (int64_t r0 = 0; r0 < rows_out; r0 += chunk) {
      const int64_t r1 = std::min(rows_out, r0 + chunk), m = (r1 - r0) * s.Wo;
      for (int64_t gi = 0; gi < s.groups; ++gi) {
        const T* gchunk = g + r0 * s.Wo * s.Cout + gi * Og;
        if (gw.defined()) {
          im2col_rows(s, xp, r0, r1, gi, cols);
          // gW_g (K, Og) += cols^T (K, m) @ gY_g (m, Og); the first chunk overwrites.
          gemm<T>(true, false, K, Og, m, 1, cols, K, gchunk, s.Cout, r0 == 0 ? 0 : 1, gw.data<T>() + gi * Og, s.Cout);
        }
        if (gx.defined()) {
          // dcols (m, K) = gY_g (m, Og) @ W_g^T (Og, K), then gathered back to pixels.
          gemm<T>(false, true, m, K, Og, 1, gchunk, s.Cout, wp + gi * Og, s.Cout, 0, cols, K);
          col2im_rows(s, cols, r0, r1, gi, gx.data<T>());
        }
      }
    }
  });
}

}  // namespace cage::kernels
