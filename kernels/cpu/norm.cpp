// CPU BatchNorm (NHWC, statistics per channel) and LayerNorm (per row), forward and backward, and the fused
// training-mode BatchNorm + GELU (batch_norm_gelu_forward/backward: the normalised value before GELU is never
// stored; backward recomputes it from x). Statistics and gradient sums accumulate in double; the normalisation
// itself runs in the tensor's dtype. Under bf16 mixed precision (kernels/gemm.h) the fused op's GELU and GELU'
// are the bf16 path's polynomials (kernels/fused_bf16.h).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/column_reduce.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm.h"
#include "kernels/norm.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

namespace {

template <typename T>
const T* opt_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Per-channel batch statistics of x (rows, C): mean and the sum of squared deviations m2, accumulated in double per
// element (float64 outputs that the GPU kernels are checked against to ~1e-12, unlike the float runs of the other
// column sums). Rows are cut into blocks of ~256 KiB (a count fixed by the shape, so results do not depend on the
// thread count); each block takes its own mean, then its centred squares while it is still in L2 (two passes,
// accurate when |mean| >> std), and the blocks are merged in order by Chan et al.'s pairwise update. One sweep of
// x through memory instead of two for the global two-pass form, with the same accuracy.
template <typename T>
void batch_stats(const T* xp, int64_t rows, int64_t C, double* mean, std::vector<double>& m2) {
  const int64_t block = std::max<int64_t>(1, (int64_t(1) << 16) / C);
  const int64_t blocks = (rows + block - 1) / block;
  std::vector<double> part(static_cast<size_t>(blocks * 2 * C), 0.0);  // per block: mean (C), m2 (C)
  parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * block, r1 = std::min(rows, r0 + block);
      double* bm = part.data() + b * 2 * C;
      double* bs = bm + C;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) bm[c] += xp[r * C + c];
      const double inv_n = 1.0 / static_cast<double>(r1 - r0);
      for (int64_t c = 0; c < C; ++c) bm[c] *= inv_n;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) {
          double d = xp[r * C + c] - bm[c];
          bs[c] += d * d;
        }
    }
  });
  m2.assign(static_cast<size_t>(C), 0.0);
  std::fill(mean, mean + C, 0.0);
  double n = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    const double nb = static_cast<double>(std::min(rows, (b + 1) * block) - b * block), nn = n + nb;
    const double* bm = part.data() + b * 2 * C;
    for (int64_t c = 0; c < C; ++c) {
      double delta = bm[c] - mean[c];
      mean[c] += delta * (nb / nn);
      m2[c] += bm[C + c] + delta * delta * (n * nb / nn);
    }
    n = nn;
  }
}

// From the batch statistics: invstd, and the running statistics updated as PyTorch does (unbiased variance).
template <typename T>
void finish_batch_stats(const double* mean, const std::vector<double>& m2, int64_t rows, int64_t C, double momentum,
                        double eps, T* rm, T* rv, double* invstd) {
  for (int64_t c = 0; c < C; ++c) {
    double var = m2[c] / rows;
    invstd[c] = 1.0 / std::sqrt(var + eps);
    if (rm) rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mean[c]);
    if (rv) rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * m2[c] / (rows - 1));
  }
}

// y = x * a + shift per channel, a = w * invstd and shift = b - mean * a rounded to T: the same values in the
// forward and in the fused backward's recomputation.
template <typename T>
void bn_affine(const T* w, const T* b, const double* mean, const double* invstd, int64_t C, std::vector<T>& a,
               std::vector<T>& shift) {
  a.resize(C);
  shift.resize(C);
  for (int64_t c = 0; c < C; ++c) {
    double ac = (w ? w[c] : 1.0) * invstd[c];
    a[c] = static_cast<T>(ac);
    shift[c] = static_cast<T>((b ? b[c] : 0.0) - mean[c] * ac);
  }
}

// Per-column coefficients of BatchNorm's input gradient gx = k (g - m1 - xhat m2), xhat = (x - mu) is.
template <typename T>
struct BnInputGrad {
  std::vector<T> k, m1, m2, mu, is;
  BnInputGrad(const T* w, const double* mean, const double* invstd, const std::vector<double>& sums, int64_t rows,
              int64_t C, bool training)
      : k(C), m1(C), m2(C), mu(C), is(C) {
    for (int64_t c = 0; c < C; ++c) {
      k[c] = static_cast<T>((w ? w[c] : 1.0) * invstd[c]);
      m1[c] = training ? static_cast<T>(sums[c] / rows) : T(0);
      m2[c] = training ? static_cast<T>(sums[C + c] / rows) : T(0);
      mu[c] = static_cast<T>(mean[c]);
      is[c] = static_cast<T>(invstd[c]);
    }
  }
};

// gx = w*invstd * (g - mean(g) - xhat * mean(g*xhat)) in training, w*invstd * g in eval, from sums[c] = sum g and
// sums[C + c] = sum g * xhat. gx may alias g (each element is read before it is written).
template <typename T>
void bn_backward_input(const T* xp, const T* g, const T* w, const double* mean, const double* invstd,
                       const std::vector<double>& sums, int64_t rows, int64_t C, bool training, T* gxp) {
  const BnInputGrad<T> q(w, mean, invstd, sums, rows, C, training);
  const T *k = q.k.data(), *m1 = q.m1.data(), *m2 = q.m2.data(), *mu = q.mu.data(), *is = q.is.data();
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / C), [&](int64_t r0, int64_t r1) {
    if (g == gxp) {  // in place: one pointer, so the vectoriser needs no overlap check that would fail
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) {
          T xhat = (xp[r * C + c] - mu[c]) * is[c];
          gxp[r * C + c] = k[c] * (gxp[r * C + c] - m1[c] - xhat * m2[c]);
        }
      return;
    }
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c) {
        T xhat = (xp[r * C + c] - mu[c]) * is[c];
        gxp[r * C + c] = k[c] * (g[r * C + c] - m1[c] - xhat * m2[c]);
      }
  });
}

// BatchNorm's parameter gradients from the backward sums: gw = sum gy * xhat (sums[C + c]), gb = sum gy (sums[c]).
template <typename T>
void write_affine_grads(const std::vector<double>& sums, int64_t C, const Tensor& gw, const Tensor& gb) {
  if (gw.defined())
    for (int64_t c = 0; c < C; ++c) gw.data<T>()[c] = static_cast<T>(sums[C + c]);
  if (gb.defined())
    for (int64_t c = 0; c < C; ++c) gb.data<T>()[c] = static_cast<T>(sums[c]);
}

inline float gelu_t(float x) { return gelu_f32(x); }
inline double gelu_t(double x) { return gelu_f64(x); }
inline float gelu_grad_t(float x) { return gelu_grad_f32(x); }
inline double gelu_grad_t(double x) { return gelu_grad_f64(x); }

// float32 under bf16 mixed precision (kernels/gemm.h): GELU and its derivative from the bf16 path's piecewise
// polynomials (kernels/fused_bf16.h), forward and backward alike.
template <typename T>
bool bf16_gelu() {
  return std::is_same_v<T, float> && gemm_precision() == GemmPrecision::bf16;
}
void bf16_gelu_rows(int64_t rows, int64_t C, const float* x, const float* a, const float* shift, float* y) {
  affine_gelu_rows_bf16(rows, C, x, a, shift, y);
}
// Backward under bf16: pass 1 over rows [r0, r1) adds the sums in float runs of 16 rows (each added to acc in
// double: float sums drift by ~1e-5 over 4e4 rows, far below the bf16 GEMMs' rounding); gz is not kept, pass 2
// (bf16_gelu_input_grad) recomputes it from x and gy, which moves fewer bytes than writing gz and reading it back.
void bf16_gelu_grad_sums(int64_t r0, int64_t r1, int64_t C, const float* x, const float* gy, const float* a,
                         const float* shift, const float* mean, const float* invstd, double* acc) {
  add_rows_in_runs<float>(r0, r1, 2 * C, acc, [&](int64_t r, float* run) {
    affine_gelu_grad_sums_row_bf16(C, x + r * C, gy + r * C, a, shift, mean, invstd, nullptr, run);
  });
}
void bf16_gelu_input_grad(const float* x, const float* gy, const float* a, const float* shift,
                          const BnInputGrad<float>& q, int64_t rows, int64_t C, float* gx) {
  const BnGeluInputCoefs coefs{a, shift, q.mu.data(), q.is.data(), q.k.data(), q.m1.data(), q.m2.data()};
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / C), [&](int64_t r0, int64_t r1) {
    bn_gelu_input_grad_rows_bf16(r1 - r0, C, x + r0 * C, gy + r0 * C, coefs, gx + r0 * C);
  });
}
// float64 never takes the bf16 path (bf16_gelu<double>() is false); these exist only so that the float64
// instantiation of the dispatch compiles, and say so if ever reached.
[[noreturn]] void no_bf16_for_f64() { fail("batch_norm_gelu: float64 has no bf16 path"); }
void bf16_gelu_rows(int64_t, int64_t, const double*, const double*, const double*, double*) { no_bf16_for_f64(); }
void bf16_gelu_grad_sums(int64_t, int64_t, int64_t, const double*, const double*, const double*, const double*,
                         const float*, const float*, double*) {
  no_bf16_for_f64();
}
void bf16_gelu_input_grad(const double*, const double*, const double*, const double*, const BnInputGrad<double>&,
                          int64_t, int64_t, double*) {
  no_bf16_for_f64();
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
      std::vector<double> m2;
      batch_stats(xp, rows, C, mean, m2);
      finish_batch_stats(mean, m2, rows, C, momentum, eps, rm, rv, invstd);
    } else {
      CAGE_CHECK(rm && rv, "batch_norm in eval mode needs running statistics");
      for (int64_t c = 0; c < C; ++c) {
        mean[c] = rm[c];
        invstd[c] = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
      }
    }
    std::vector<T> a, shift;
    bn_affine(w, b, mean, invstd, C, a, shift);
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
    write_affine_grads<T>(sums, C, gw, gb);
    if (!gx.defined()) return;
    bn_backward_input(xp, g, w, mean, invstd, sums, rows, C, training, gx.data<T>());
  });
}

void batch_norm_gelu_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double momentum, double eps, const Tensor& y,
                             const Tensor& mean_out, const Tensor& invstd_out) {
  CAGE_GPU_DISPATCH(x.device(), batch_norm_gelu_forward, x, weight, bias, running_mean, running_var, momentum, eps, y,
                    mean_out, invstd_out);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  CAGE_CHECK(x.is_contiguous() && y.is_contiguous(), "batch_norm_gelu: x and y must be contiguous");
  CAGE_CHECK(rows > 1, "batch_norm in training mode needs more than one value per channel, got ", shape_str(x.shape()));
  CAGE_DISPATCH_FLOAT(x.dtype(), "batch_norm_gelu_forward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    double* mean = mean_out.data<double>();
    double* invstd = invstd_out.data<double>();
    std::vector<double> m2;
    batch_stats(xp, rows, C, mean, m2);
    finish_batch_stats(mean, m2, rows, C, momentum, eps, running_mean.defined() ? running_mean.data<T>() : nullptr,
                       running_var.defined() ? running_var.data<T>() : nullptr, invstd);
    std::vector<T> a, shift;
    bn_affine(opt_data<T>(weight), opt_data<T>(bias), mean, invstd, C, a, shift);
    T* yp = y.data<T>();
    const bool mixed = bf16_gelu<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 8192 / C), [&](int64_t r0, int64_t r1) {
      if (mixed) return bf16_gelu_rows(r1 - r0, C, xp + r0 * C, a.data(), shift.data(), yp + r0 * C);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) yp[r * C + c] = gelu_t(xp[r * C + c] * a[c] + shift[c]);
    });
  });
}

void batch_norm_gelu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean_t,
                              const Tensor& invstd_t, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                              const Tensor& gb) {
  CAGE_GPU_DISPATCH(x.device(), batch_norm_gelu_backward, x, weight, bias, mean_t, invstd_t, gy, gx, gw, gb);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  CAGE_CHECK(x.is_contiguous() && gy.is_contiguous(), "batch_norm_gelu_backward: x and gy must be contiguous");
  CAGE_DISPATCH_FLOAT(x.dtype(), "batch_norm_gelu_backward", [&] {
    using T = scalar_t;
    const T* xp = x.data<T>();
    const T* g = gy.data<T>();
    const T* w = opt_data<T>(weight);
    const double* mean = mean_t.data<double>();
    const double* invstd = invstd_t.data<double>();
    std::vector<T> a, shift;
    bn_affine(w, opt_data<T>(bias), mean, invstd, C, a, shift);
    // gz = gy * gelu'(z), z = x * a + shift recomputed as the forward rounded it. Written into gx when the
    // input gradient is wanted (the second pass reads it back in place), else into a per-chunk row buffer.
    T* gxp = gx.defined() ? gx.data<T>() : nullptr;
    const bool mixed = bf16_gelu<T>();
    std::vector<float> mean_f(mixed ? C : 0), invstd_f(mixed ? C : 0);
    for (int64_t c = 0; mixed && c < C; ++c) {
      mean_f[c] = static_cast<float>(mean[c]);
      invstd_f[c] = static_cast<float>(invstd[c]);
    }
    // sums[c] = sum gz, sums[C + c] = sum gz * xhat, in double per element as batch_norm_backward (bf16 mixed
    // precision: in float runs, gz recomputed in pass 2).
    std::vector<double> sums = column_reduce(rows, 2 * C, [&](int64_t r0, int64_t r1, double* acc) {
      if (mixed)
        return bf16_gelu_grad_sums(r0, r1, C, xp, g, a.data(), shift.data(), mean_f.data(), invstd_f.data(), acc);
      std::vector<T> row_buf(gxp ? 0 : C);
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = xp + r * C;
        const T* gr = g + r * C;
        T* gz = gxp ? gxp + r * C : row_buf.data();
        for (int64_t c = 0; c < C; ++c) gz[c] = gr[c] * gelu_grad_t(xr[c] * a[c] + shift[c]);
        for (int64_t c = 0; c < C; ++c) {
          double gv = gz[c];
          acc[c] += gv;
          acc[C + c] += gv * (xr[c] - mean[c]) * invstd[c];
        }
      }
    });
    write_affine_grads<T>(sums, C, gw, gb);
    if (!gxp) return;
    if (mixed)
      bf16_gelu_input_grad(xp, g, a.data(), shift.data(), BnInputGrad<T>(w, mean, invstd, sums, rows, C, true), rows, C,
                           gxp);
    else
      bn_backward_input(xp, gxp, w, mean, invstd, sums, rows, C, true, gxp);
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
