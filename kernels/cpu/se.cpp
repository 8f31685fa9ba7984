// Squeeze-excitation on the CPU (kernels/se.h), the oracle of the GPU kernel. The pooled vectors, the two small
// products (float64 GEMMs over all images) and the gates are in float64 (tiny next to the (H, W, C) passes); the
// (H, W, C) passes are in the tensor's dtype, their sums over pixels in runs of 16 pixels each added in double.
// Parameter gradients are float64 GEMMs over the images after the parallel per-image passes.
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/column_reduce.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"
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

// The gates of all images, batched: S (N, C) pooled means, Z1 (N, R), H (N, R) = silu(Z1), A (N, C) =
// sigmoid(H W2 + b2). The two small products are float64 GEMMs over all images at once (per image they were
// matrix-vector products converting every weight to double, a few percent of a Fashion-MNIST step at batch 128).
struct Gates {
  std::vector<double> S, Z1, H, A, W1, W2;  // W1 (C, R), W2 (R, C) in double
};

template <typename T>
Gates gates(const SeShape& d, const T* x, const T* w1, const T* b1, const T* w2, const T* b2) {
  Gates g;
  g.S.assign(d.N * d.C, 0.0);
  g.Z1.resize(d.N * d.R);
  g.H.resize(d.N * d.R);
  g.A.resize(d.N * d.C);
  g.W1.assign(w1, w1 + d.C * d.R);
  g.W2.assign(w2, w2 + d.R * d.C);
  parallel_for(0, d.N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const T* xn = x + n * d.HW * d.C;
      double* s = g.S.data() + n * d.C;
      add_rows_in_runs<T>(0, d.HW, d.C, s, [&](int64_t p, T* run) {
        for (int64_t c = 0; c < d.C; ++c) run[c] += xn[p * d.C + c];
      });
      for (int64_t c = 0; c < d.C; ++c) s[c] /= static_cast<double>(d.HW);
    }
  });
  for (int64_t n = 0; n < d.N; ++n) {
    for (int64_t r = 0; r < d.R; ++r) g.Z1[n * d.R + r] = b1 ? b1[r] : 0.0;
    for (int64_t c = 0; c < d.C; ++c) g.A[n * d.C + c] = b2 ? b2[c] : 0.0;
  }
  gemm<double>(false, false, d.N, d.R, d.C, 1.0, g.S.data(), d.C, g.W1.data(), d.R, 1.0, g.Z1.data(), d.R);
  for (int64_t i = 0; i < d.N * d.R; ++i) g.H[i] = silu(g.Z1[i]);
  gemm<double>(false, false, d.N, d.C, d.R, 1.0, g.H.data(), d.R, g.W2.data(), d.C, 1.0, g.A.data(), d.C);
  for (int64_t i = 0; i < d.N * d.C; ++i) g.A[i] = sigmoid(g.A[i]);
  return g;
}

}  // namespace

void squeeze_excitation_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                                const Tensor& b2, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), squeeze_excitation_forward, x, w1, b1, w2, b2, y);
  const SeShape d = se_shape(x, w1, b1, w2, b2, "squeeze_excitation_forward");
  CAGE_DISPATCH_FLOAT(x.dtype(), "squeeze_excitation_forward", [&] {
    using T = scalar_t;
    const Gates g = gates<T>(d, x.data<T>(), w1.data<T>(), opt_data<T>(b1), w2.data<T>(), opt_data<T>(b2));
    parallel_for(0, d.N, 1, [&](int64_t n0, int64_t n1) {
      std::vector<T> at(d.C);
      for (int64_t n = n0; n < n1; ++n) {
        const T* xn = x.data<T>() + n * d.HW * d.C;
        for (int64_t c = 0; c < d.C; ++c) at[c] = static_cast<T>(g.A[n * d.C + c]);
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
    const Gates g = gates<T>(d, x.data<T>(), w1.data<T>(), opt_data<T>(b1), w2.data<T>(), opt_data<T>(b2));
    // dL/da[n, c] = sum over the image's pixels of gy * x; then through the sigmoid, fc2, silu and fc1, batched.
    std::vector<double> GZ2(d.N * d.C, 0.0), GH(d.N * d.R), GZ1(d.N * d.R), GS(d.N * d.C);
    parallel_for(0, d.N, 1, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const T* xn = x.data<T>() + n * d.HW * d.C;
        const T* gn = gy.data<T>() + n * d.HW * d.C;
        add_rows_in_runs<T>(0, d.HW, d.C, GZ2.data() + n * d.C, [&](int64_t p, T* run) {
          for (int64_t c = 0; c < d.C; ++c) run[c] += gn[p * d.C + c] * xn[p * d.C + c];
        });
      }
    });
    for (int64_t i = 0; i < d.N * d.C; ++i) GZ2[i] *= g.A[i] * (1.0 - g.A[i]);
    gemm<double>(false, true, d.N, d.R, d.C, 1.0, GZ2.data(), d.C, g.W2.data(), d.C, 0.0, GH.data(), d.R);
    for (int64_t i = 0; i < d.N * d.R; ++i) {
      const double sg = sigmoid(g.Z1[i]);
      GZ1[i] = GH[i] * sg * (1.0 + g.Z1[i] * (1.0 - sg));
    }
    if (gx.defined()) {
      gemm<double>(false, true, d.N, d.C, d.R, 1.0, GZ1.data(), d.R, g.W1.data(), d.R, 0.0, GS.data(), d.C);
      parallel_for(0, d.N, 1, [&](int64_t n0, int64_t n1) {
        std::vector<T> at(d.C), gst(d.C);
        for (int64_t n = n0; n < n1; ++n) {
          for (int64_t c = 0; c < d.C; ++c) {
            at[c] = static_cast<T>(g.A[n * d.C + c]);
            gst[c] = static_cast<T>(GS[n * d.C + c] / static_cast<double>(d.HW));  // through the mean
          }
          const T* gn = gy.data<T>() + n * d.HW * d.C;
          T* gxn = gx.data<T>() + n * d.HW * d.C;
          for (int64_t p = 0; p < d.HW; ++p)
            for (int64_t c = 0; c < d.C; ++c) gxn[p * d.C + c] = gn[p * d.C + c] * at[c] + gst[c];
        }
      });
    }
    // Parameter gradients: sums over images, left^T right as float64 GEMMs, bias gradients in image order.
    auto product = [&](const Tensor& out, int64_t rows, int64_t cols, const std::vector<double>& left,
                       const std::vector<double>& right) {
      if (!out.defined()) return;
      std::vector<double> acc(rows * cols);
      gemm<double>(true, false, rows, cols, d.N, 1.0, left.data(), rows, right.data(), cols, 0.0, acc.data(), cols);
      for (int64_t i = 0; i < rows * cols; ++i) out.data<T>()[i] = static_cast<T>(acc[i]);
    };
    auto column_sum = [&](const Tensor& out, int64_t cols, const std::vector<double>& v) {
      if (!out.defined()) return;
      for (int64_t j = 0; j < cols; ++j) {
        double acc = 0;
        for (int64_t n = 0; n < d.N; ++n) acc += v[n * cols + j];
        out.data<T>()[j] = static_cast<T>(acc);
      }
    };
    product(gw1, d.C, d.R, g.S, GZ1);
    column_sum(gb1, d.R, GZ1);
    product(gw2, d.R, d.C, g.H, GZ2);
    column_sum(gb2, d.C, GZ2);
  });
}

}  // namespace cage::kernels
