// Squeeze-excitation on the CPU (kernels/se.h), the oracle of the GPU kernel: per image, the pooled vector, the two
// small matrix-vector products and the gate are computed in float64 (they are tiny next to the (H, W, C) passes),
// the (H, W, C) passes in the tensor's dtype (their sums over pixels in runs of 16 pixels in the dtype, each run
// added in double). Parameter gradients are sums over images, added in image order
// after the parallel per-image pass.
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/column_reduce.h"
#include "kernels/dispatch.h"
#include "kernels/se.h"

namespace cage::kernels {
namespace {

struct SeShape {
  int64_t N, HW, C, R;
};

SeShape se_shape(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2,
                 const char* op) {
  CAGE_CHECK(x.dim() == 4 && x.is_contiguous(), op, ": expected a contiguous NHWC input, got ", shape_str(x.shape()));
  const int64_t C = x.size(3);
  CAGE_CHECK(C > 0 && w1.numel() % C == 0 && w1.numel() > 0, op, ": w1 ", shape_str(w1.shape()), " for ", C,
             " channels");
  const int64_t R = w1.numel() / C;
  CAGE_CHECK(w2.numel() == R * C, op, ": w2 ", shape_str(w2.shape()), " for ", R, " x ", C);
  CAGE_CHECK(!b1.defined() || b1.numel() == R, op, ": b1 ", shape_str(b1.shape()), " for ", R);
  CAGE_CHECK(!b2.defined() || b2.numel() == C, op, ": b2 ", shape_str(b2.shape()), " for ", C);
  return {x.size(0), x.size(1) * x.size(2), C, R};
}

template <typename T>
const T* opt_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }
double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// The gate of one image: s (C), z1 (R), h (R), a (C) from its pixels xn (HW, C).
template <typename T>
void gate(const SeShape& d, const T* xn, const T* w1, const T* b1, const T* w2, const T* b2, double* s, double* z1,
          double* h, double* a) {
  for (int64_t c = 0; c < d.C; ++c) s[c] = 0;
  add_rows_in_runs<T>(0, d.HW, d.C, s, [&](int64_t p, T* run) {
    for (int64_t c = 0; c < d.C; ++c) run[c] += xn[p * d.C + c];
  });
  for (int64_t c = 0; c < d.C; ++c) s[c] /= static_cast<double>(d.HW);
  for (int64_t r = 0; r < d.R; ++r) z1[r] = b1 ? b1[r] : 0.0;
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t r = 0; r < d.R; ++r) z1[r] += s[c] * w1[c * d.R + r];
  for (int64_t r = 0; r < d.R; ++r) h[r] = silu(z1[r]);
  for (int64_t c = 0; c < d.C; ++c) a[c] = b2 ? b2[c] : 0.0;
  for (int64_t r = 0; r < d.R; ++r)
    for (int64_t c = 0; c < d.C; ++c) a[c] += h[r] * w2[r * d.C + c];
  for (int64_t c = 0; c < d.C; ++c) a[c] = sigmoid(a[c]);
}

}  // namespace

void squeeze_excitation_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                                const Tensor& b2, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), squeeze_excitation_forward, x, w1, b1, w2, b2, y);
  const SeShape d = se_shape(x, w1, b1, w2, b2, "squeeze_excitation_forward");
  CAGE_DISPATCH_FLOAT(x.dtype(), "squeeze_excitation_forward", [&] {
    using T = scalar_t;
    parallel_for(0, d.N, 1, [&](int64_t n0, int64_t n1) {
      std::vector<double> s(d.C), z1(d.R), h(d.R), a(d.C);
      std::vector<T> at(d.C);
      for (int64_t n = n0; n < n1; ++n) {
        const T* xn = x.data<T>() + n * d.HW * d.C;
        gate<T>(d, xn, w1.data<T>(), opt_data<T>(b1), w2.data<T>(), opt_data<T>(b2), s.data(), z1.data(), h.data(),
                a.data());
        for (int64_t c = 0; c < d.C; ++c) at[c] = static_cast<T>(a[c]);
        T* yn = y.data<T>() + n * d.HW * d.C;
        for (int64_t p = 0; p < d.HW; ++p)
          for (int64_t c = 0; c < d.C; ++c) yn[p * d.C + c] = xn[p * d.C + c] * at[c];
      }
    });
  });
}

void squeeze_excitation_backward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                                 const Tensor& b2, const Tensor& gy, const Tensor& gx, const Tensor& gw1,
                                 const Tensor& gb1, const Tensor& gw2, const Tensor& gb2) {
  CAGE_GPU_DISPATCH(x.device(), squeeze_excitation_backward, x, w1, b1, w2, b2, gy, gx, gw1, gb1, gw2, gb2);
  const SeShape d = se_shape(x, w1, b1, w2, b2, "squeeze_excitation_backward");
  CAGE_DISPATCH_FLOAT(x.dtype(), "squeeze_excitation_backward", [&] {
    using T = scalar_t;
    const T* w1p = w1.data<T>();
    const T* w2p = w2.data<T>();
    // Per image, kept for the parameter gradients: s (N, C), h (N, R), gz1 (N, R), gz2 (N, C).
    std::vector<double> S(d.N * d.C), H(d.N * d.R), GZ1(d.N * d.R), GZ2(d.N * d.C);
    parallel_for(0, d.N, 1, [&](int64_t n0, int64_t n1) {
      std::vector<double> z1(d.R), a(d.C), ga(d.C), gs(d.C);
      std::vector<T> at(d.C), gst(d.C);
      for (int64_t n = n0; n < n1; ++n) {
        const T* xn = x.data<T>() + n * d.HW * d.C;
        const T* gn = gy.data<T>() + n * d.HW * d.C;
        double* s = S.data() + n * d.C;
        double* h = H.data() + n * d.R;
        double* gz1 = GZ1.data() + n * d.R;
        double* gz2 = GZ2.data() + n * d.C;
        gate<T>(d, xn, w1p, opt_data<T>(b1), w2p, opt_data<T>(b2), s, z1.data(), h, a.data());
        // dL/da[c] = sum over pixels of gy * x; through the sigmoid, the fc2, the silu, the fc1.
        for (int64_t c = 0; c < d.C; ++c) ga[c] = 0;
        add_rows_in_runs<T>(0, d.HW, d.C, ga.data(), [&](int64_t p, T* run) {
          for (int64_t c = 0; c < d.C; ++c) run[c] += gn[p * d.C + c] * xn[p * d.C + c];
        });
        for (int64_t c = 0; c < d.C; ++c) gz2[c] = ga[c] * a[c] * (1.0 - a[c]);
        for (int64_t r = 0; r < d.R; ++r) {
          double gh = 0;
          for (int64_t c = 0; c < d.C; ++c) gh += gz2[c] * w2p[r * d.C + c];
          const double sg = sigmoid(z1[r]);
          gz1[r] = gh * sg * (1.0 + z1[r] * (1.0 - sg));
        }
        if (!gx.defined()) continue;
        for (int64_t c = 0; c < d.C; ++c) {
          gs[c] = 0;
          for (int64_t r = 0; r < d.R; ++r) gs[c] += gz1[r] * w1p[c * d.R + r];
          at[c] = static_cast<T>(a[c]);
          gst[c] = static_cast<T>(gs[c] / static_cast<double>(d.HW));  // through the mean
        }
        T* gxn = gx.data<T>() + n * d.HW * d.C;
        for (int64_t p = 0; p < d.HW; ++p)
          for (int64_t c = 0; c < d.C; ++c) gxn[p * d.C + c] = gn[p * d.C + c] * at[c] + gst[c];
      }
    });
    auto sum_over_images = [&](const Tensor& out, int64_t rows, int64_t cols, const double* left, int64_t lw,
                               const double* right, int64_t rw) {
      // out[i * cols + j] = sum_n left[n, i] * right[n, j] (left = nullptr: a plain sum of right over images).
      // Images outermost so the inner loop runs along contiguous rows (each element still sums in image order).
      if (!out.defined()) return;
      std::vector<double> acc(static_cast<size_t>(rows * cols), 0.0);
      for (int64_t n = 0; n < d.N; ++n)
        for (int64_t i = 0; i < rows; ++i) {
          const double l = left ? left[n * lw + i] : 1.0;
          const double* r = right + n * rw;
          double* a = acc.data() + i * cols;
          for (int64_t j = 0; j < cols; ++j) a[j] += l * r[j];
        }
      T* o = out.data<T>();
      for (int64_t i = 0; i < rows * cols; ++i) o[i] = static_cast<T>(acc[i]);
    };
    sum_over_images(gw1, d.C, d.R, S.data(), d.C, GZ1.data(), d.R);
    sum_over_images(gb1, 1, d.R, nullptr, 0, GZ1.data(), d.R);
    sum_over_images(gw2, d.R, d.C, H.data(), d.R, GZ2.data(), d.C);
    sum_over_images(gb2, 1, d.C, nullptr, 0, GZ2.data(), d.C);
  });
}

}  // namespace cage::kernels
