// CPU BatchNorm (NHWC, statistics per channel) and LayerNorm (per row), forward and backward.
// Statistics accumulate in double; the normalisation itself runs in the tensor's dtype.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/column_reduce.h"
#include "kernels/norm.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

namespace {

template <typename T>
const T* opt_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                        const Tensor& mean_out, const Tensor& invstd_out) {
  CAGE_GPU_DISPATCH(x.device(), batch_norm_forward, x, weight, bias, running_mean, running_var, training, momentum, eps,
                    y, mean_out, invstd_out);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  CAGE_CHECK(x.is_contiguous(), "batch_norm: x must be contiguous");
  CAGE_CHECK(!training || rows > 1, "batch_norm in training mode needs more than one value per channel, got ",
             shape_str(x.shape()));
  CAGE_DISPATCH_FLOAT(x.dtype(), "batch_norm_forward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* w = opt_data<T>(weight);
    const T* b = opt_data<T>(bias);
    double* mean = mean_out.data<double>();
    double* invstd = invstd_out.data<double>();
    T* rm = running_mean.defined() ? running_mean.data<T>() : nullptr;
    T* rv = running_var.defined() ? running_var.data<T>() : nullptr;
    if (training) {
      // Two passes (mean, then centred squares) keep the variance accurate when |mean| >> std.
      // The statistics are float64 outputs (the GPU kernels are checked against them to ~1e-12), so they
      // accumulate in double per element, unlike the float runs of the other column sums.
      std::vector<double> s = column_reduce(rows, C, [&](int64_t r0, int64_t r1, double* acc) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = 0; c < C; ++c) acc[c] += xp[r * C + c];
      });
      for (int64_t c = 0; c < C; ++c) mean[c] = s[c] / rows;
      std::vector<double> ss = column_reduce(rows, C, [&](int64_t r0, int64_t r1, double* acc) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = 0; c < C; ++c) {
            double d = xp[r * C + c] - mean[c];
            acc[c] += d * d;
          }
      });
      for (int64_t c = 0; c < C; ++c) {
        double var = ss[c] / rows;
        invstd[c] = 1.0 / std::sqrt(var + eps);
        if (rm) rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mean[c]);
        if (rv) rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * ss[c] / (rows - 1));
      }
    } else {
      CAGE_CHECK(rm && rv, "batch_norm in eval mode needs running statistics");
      for (int64_t c = 0; c < C; ++c) {
        mean[c] = rm[c];
        invstd[c] = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
      }
    }
    // y = x * a + b' with per-channel a = w * invstd, b' = b - mean * a.
    std::vector<T> a(C), shift(C);
    for (int64_t c = 0; c < C; ++c) {
      double ac = (w ? w[c] : 1.0) * invstd[c];
      a[c] = static_cast<T>(ac);
      shift[c] = static_cast<T>((b ? b[c] : 0.0) - mean[c] * ac);
    }
    T* yp = y.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 8192 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) yp[r * C + c] = xp[r * C + c] * a[c] + shift[c];
    });
  });
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean_t, const Tensor& invstd_t,
                         const Tensor& gy, bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  CAGE_GPU_DISPATCH(x.device(), batch_norm_backward, x, weight, mean_t, invstd_t, gy, training, gx, gw, gb);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  CAGE_DISPATCH_FLOAT(x.dtype(), "batch_norm_backward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* g = gy.data<T>();
    const T* w = opt_data<T>(weight);
    const double* mean = mean_t.data<double>();
    const double* invstd = invstd_t.data<double>();
    // sums[c] = sum gy, sums[C + c] = sum gy * xhat, in double per element: float runs of 16 rows (as the other
    // column sums use) drifted by ~1e-5 over 4e4 rows, beyond what the GPU kernels are checked against.
    std::vector<double> sums = column_reduce(rows, 2 * C, [&](int64_t r0, int64_t r1, double* acc) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) {
          double gv = g[r * C + c];
          acc[c] += gv;
          acc[C + c] += gv * (xp[r * C + c] - mean[c]) * invstd[c];
        }
    });
    if (gw.defined())
      for (int64_t c = 0; c < C; ++c) gw.data<T>()[c] = static_cast<T>(sums[C + c]);
    if (gb.defined())
      for (int64_t c = 0; c < C; ++c) gb.data<T>()[c] = static_cast<T>(sums[c]);
    if (!gx.defined()) return;
    T* gxp = gx.data<T>();
    // Training: gx = w*invstd * (gy - mean(gy) - xhat * mean(gy*xhat)); eval: gx = w*invstd * gy.
    std::vector<T> k(C), m1(C), m2(C), mu(C), is(C);
    for (int64_t c = 0; c < C; ++c) {
      k[c] = static_cast<T>((w ? w[c] : 1.0) * invstd[c]);
      m1[c] = training ? static_cast<T>(sums[c] / rows) : T(0);
      m2[c] = training ? static_cast<T>(sums[C + c] / rows) : T(0);
      mu[c] = static_cast<T>(mean[c]);
      is[c] = static_cast<T>(invstd[c]);
    }
    parallel_for(0, rows, std::max<int64_t>(1, 8192 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) {
          T xhat = (xp[r * C + c] - mu[c]) * is[c];
          gxp[r * C + c] = k[c] * (g[r * C + c] - m1[c] - xhat * m2[c]);
        }
    });
  });
}

namespace {

// sum of f(x[c]) in double over eight interleaved partial sums: one serial chain of C dependent adds was
// most of LayerNorm's time; eight lanes vectorise (the order differs from a plain loop only by double rounding).
template <typename T, typename F>
double lane_sum(const T* x, int64_t C, F f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= C; c += 8)
    for (int k = 0; k < 8; ++k) acc[k] += f(static_cast<double>(x[c + k]));
  double tail = 0;
  for (; c < C; ++c) tail += f(static_cast<double>(x[c]));
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

}  // namespace

void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean_out, const Tensor& invstd_out) {
  CAGE_GPU_DISPATCH(x.device(), layer_norm_forward, x, weight, bias, eps, y, mean_out, invstd_out);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  CAGE_DISPATCH_FLOAT(x.dtype(), "layer_norm_forward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* w = opt_data<T>(weight);
    const T* b = opt_data<T>(bias);
    T* yp = y.data<T>();
    double* mean = mean_out.data<double>();
    double* invstd = invstd_out.data<double>();
    parallel_for(0, rows, std::max<int64_t>(1, 4096 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = xp + r * C;
        double m = lane_sum(row, C, [](double a) { return a; }) / C;
        double v = lane_sum(row, C, [m](double a) { return (a - m) * (a - m); });
        double is = 1.0 / std::sqrt(v / C + eps);
        mean[r] = m;
        invstd[r] = is;
        T mt = static_cast<T>(m), it = static_cast<T>(is);
        T* out = yp + r * C;
        for (int64_t c = 0; c < C; ++c) {
          T xh = (row[c] - mt) * it;
          out[c] = (w ? xh * w[c] : xh) + (b ? b[c] : T(0));
        }
      }
    });
  });
}

void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean_t, const Tensor& invstd_t,
                         const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  CAGE_GPU_DISPATCH(x.device(), layer_norm_backward, x, weight, mean_t, invstd_t, gy, gx, gw, gb);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  CAGE_DISPATCH_FLOAT(x.dtype(), "layer_norm_backward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* g = gy.data<T>();
    const T* w = opt_data<T>(weight);
    const double* mean = mean_t.data<double>();
    const double* invstd = invstd_t.data<double>();
    if (gw.defined() || gb.defined()) {
      std::vector<double> sums = column_reduce(rows, 2 * C, [&](int64_t r0, int64_t r1, double* acc) {
        add_rows_in_runs<T>(r0, r1, 2 * C, acc, [&](int64_t r, T* run) {
          const T m = static_cast<T>(mean[r]), is = static_cast<T>(invstd[r]);
          for (int64_t c = 0; c < C; ++c) {
            const T gv = g[r * C + c];
            run[c] += gv * ((xp[r * C + c] - m) * is);
            run[C + c] += gv;
          }
        });
      });
      if (gw.defined())
        for (int64_t c = 0; c < C; ++c) gw.data<T>()[c] = static_cast<T>(sums[c]);
      if (gb.defined())
        for (int64_t c = 0; c < C; ++c) gb.data<T>()[c] = static_cast<T>(sums[C + c]);
    }
    if (!gx.defined()) return;
    T* gxp = gx.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 4096 / C), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        // gx = invstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)), gxhat = gy * w
        // eight interleaved partial sums each, as lane_sum (serial chains of dependent adds are slow)
        double a1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const double mr = mean[r], ir = invstd[r];
        const T* gr = g + r * C;
        const T* xr = xp + r * C;
        int64_t c = 0;
        for (; c + 8 <= C; c += 8)
          for (int k = 0; k < 8; ++k) {
            double gh = gr[c + k] * (w ? w[c + k] : T(1));
            a1[k] += gh;
            a2[k] += gh * ((xr[c + k] - mr) * ir);
          }
        double s1 = 0, s2 = 0;
        for (; c < C; ++c) {
          double gh = gr[c] * (w ? w[c] : T(1));
          s1 += gh;
          s2 += gh * ((xr[c] - mr) * ir);
        }
        for (int k = 0; k < 8; ++k) {
          s1 += a1[k];
          s2 += a2[k];
        }
        T m1 = static_cast<T>(s1 / C), m2 = static_cast<T>(s2 / C);
        T mt = static_cast<T>(mean[r]), it = static_cast<T>(invstd[r]);
        for (int64_t c = 0; c < C; ++c) {
          T gh = g[r * C + c] * (w ? w[c] : T(1));
          T xh = (xp[r * C + c] - mt) * it;
          gxp[r * C + c] = it * (gh - m1 - xh * m2);
        }
      }
    });
  });
}

}  // namespace cage::kernels
