// CPU element-wise kernels. The unary ops share one parallel loop; each op is a small functor with
// forward f(x) and derivative df(x, y) (y = f(x)).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/column_reduce.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/elementwise.h"
#include "kernels/dispatch.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm.h"

namespace cage::kernels {

namespace {

constexpr int64_t kGrain = 1 << 14;

// float: erf and exp from vec_math.h (vectorised, PyTorch's float32 erf formula); double: libm.
struct GeluOp {
  static double f(double x) { return gelu_f64(x); }
  static double df(double x, double) { return gelu_grad_f64(x); }
  static float f(float x) { return gelu_f32(x); }
  static float df(float x, float) { return gelu_grad_f32(x); }
};
struct SigmoidOp {
  template <typename T> static T f(T x) { return T(1) / (T(1) + std::exp(-x)); }
  template <typename T> static T df(T, T y) { return y * (T(1) - y); }
};
struct SiluOp {
  template <typename T> static T f(T x) { return x / (T(1) + std::exp(-x)); }
  template <typename T> static T df(T x, T) {
    T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s));
  }
};
struct TanhOp {
  template <typename T> static T f(T x) { return std::tanh(x); }
  template <typename T> static T df(T, T y) { return T(1) - y * y; }
};
struct ReluOp {
  template <typename T> static T f(T x) { return x > T(0) ? x : T(0); }
  template <typename T> static T df(T x, T) { return x > T(0) ? T(1) : T(0); }
};

template <typename F>
void with_unary(Unary op, F&& f) {
  switch (op) {
    case Unary::gelu: return f(GeluOp{});
    case Unary::silu: return f(SiluOp{});
    case Unary::sigmoid: return f(SigmoidOp{});
    case Unary::tanh: return f(TanhOp{});
    case Unary::relu: return f(ReluOp{});
  }
}

// float32 GELU under bf16 mixed precision (kernels/gemm.h) takes the bf16 path's piecewise polynomials
// (kernels/fused_bf16.h), forward and backward alike.
bool bf16_gelu(Unary op, const Tensor& x) {
  return op == Unary::gelu && x.dtype() == DType::f32 && gemm_precision() == GemmPrecision::bf16;
}

void check_cpu_contiguous(const Tensor& t, const char* what) {
  CAGE_CHECK(t.device() == Device::cpu, what, ": tensor on ", device_name(t.device()), " (CPU kernel)");
  CAGE_CHECK(t.is_contiguous(), what, ": expected a contiguous tensor, got strides ", shape_str(t.strides()));
}

}  // namespace

void unary_forward(Unary op, const Tensor& x, const Tensor& y) {
  CAGE_GPU_DISPATCH(x.device(), unary_forward, op, x, y);
  check_cpu_contiguous(x, "unary_forward");
  check_cpu_contiguous(y, "unary_forward");
  if (bf16_gelu(op, x)) return gelu_bf16(x.data<float>(), y.data<float>(), x.numel());
  CAGE_DISPATCH_FLOAT(x.dtype(), "unary_forward", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    scalar_t* yp = y.data<scalar_t>();
    with_unary(op, [&](auto fn) {
      using Op = decltype(fn);
      parallel_for(0, x.numel(), kGrain, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; ++i) yp[i] = Op::f(xp[i]);
      });
    });
  });
}

void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx) {
  CAGE_GPU_DISPATCH(x.device(), unary_backward, op, x, y, gy, gx);
  check_cpu_contiguous(gy, "unary_backward");
  if (bf16_gelu(op, x)) return gelu_backward_bf16(x.data<float>(), gy.data<float>(), gx.data<float>(), x.numel());
  CAGE_DISPATCH_FLOAT(x.dtype(), "unary_backward", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    const scalar_t* yp = y.data<scalar_t>();
    const scalar_t* gyp = gy.data<scalar_t>();
    scalar_t* gxp = gx.data<scalar_t>();
    with_unary(op, [&](auto fn) {
      using Op = decltype(fn);
      parallel_for(0, x.numel(), kGrain, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; ++i) gxp[i] = gyp[i] * Op::df(xp[i], yp[i]);
      });
    });
  });
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    CAGE_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b), " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

// Strides of `t` seen through the broadcast shape `out` (0 where t is broadcast).
Shape broadcast_strides(const Tensor& t, const Shape& out) {
  Shape st(out.size(), 0);
  size_t lead = out.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

template <typename T, typename F>
void binary_loop(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const Shape& shape = out.shape();
  const T* ap = static_cast<const T*>(a.storage()->data()) + a.offset();
  const T* bp = static_cast<const T*>(b.storage()->data()) + b.offset();
  T* op = out.data<T>();
  int64_t n = out.numel();
  if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
    parallel_for(0, n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) op[i] = f(ap[i], bp[i]);
    });
    return;
  }
  Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape);
  int64_t d = static_cast<int64_t>(shape.size());
  int64_t inner = d ? shape[d - 1] : 1;
  int64_t ia = d ? sa[d - 1] : 0, ib = d ? sb[d - 1] : 0;
  int64_t rows = inner ? n / inner : 0;
  parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t oa = 0, ob = 0, rem = r;
      for (int64_t k = d - 2; k >= 0; --k) {
        int64_t idx = rem % shape[k];
        rem /= shape[k];
        oa += idx * sa[k];
        ob += idx * sb[k];
      }
      T* o = op + r * inner;
      for (int64_t i = 0; i < inner; ++i) o[i] = f(ap[oa + i * ia], bp[ob + i * ib]);
    }
  });
}

// sum_to for the shapes autograd produces (biases, per-channel scales, per-image gates): g seen as (P, R, Q)
// with out as (P, Q), i.e. the reduced dimensions form one block. Deterministic and parallel: over P when there
// are enough outer slices, else over a fixed number of row chunks of R whose double partials are added in
// order. Returns false for other patterns (the serial loop of sum_to handles them).
bool sum_to_blocked(const Tensor& g, const Tensor& out) {
  const Shape& gs = g.shape();
  const size_t d = gs.size(), lead = d - out.shape().size();
  auto out_dim = [&](size_t i) { return i < lead ? int64_t{1} : out.shape()[i - lead]; };
  // Dimensions of size 1 in g are neutral; the others are kept (out == g) or reduced (out == 1).
  int phase = 0;  // 0: outer kept, 1: reduced, 2: inner kept
  int64_t P = 1, R = 1, Q = 1;
  for (size_t i = 0; i < d; ++i) {
    if (gs[i] == 1) continue;
    const bool reduced = out_dim(i) == 1;
    if (reduced && phase == 0) phase = 1;
    if (!reduced && phase == 1) phase = 2;
    if (reduced && phase == 2) return false;
    (phase == 0 ? P : phase == 1 ? R : Q) *= gs[i];
  }
  if (R <= 1) return false;  // nothing to reduce
  CAGE_DISPATCH_FLOAT(g.dtype(), "sum_to", [&] {
    using T = scalar_t;
    const T* gp = g.data<T>();
    T* op = out.data<T>();
    // Rows [r0, r1) of slice p added into acc[0 .. Q), in T over short runs of rows then in double.
    auto rows_into = [&](int64_t p, int64_t r0, int64_t r1, double* acc) {
      add_rows_in_runs<T>(r0, r1, Q, acc, [&](int64_t r, T* run) {
        const T* row = gp + (p * R + r) * Q;
        for (int64_t i = 0; i < Q; ++i) run[i] += row[i];
      });
    };
    if (P >= 4 * num_threads() || R < 64) {
      parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
        std::vector<double> acc(static_cast<size_t>(Q));
        for (int64_t p = p0; p < p1; ++p) {
          std::fill(acc.begin(), acc.end(), 0.0);
          rows_into(p, 0, R, acc.data());
          for (int64_t i = 0; i < Q; ++i) op[p * Q + i] = static_cast<T>(acc[i]);
        }
      });
      return;
    }
    for (int64_t p = 0; p < P; ++p) {
      std::vector<double> total = column_reduce(R, Q, [&](int64_t r0, int64_t r1, double* acc) {
        rows_into(p, r0, r1, acc);
      });
      for (int64_t i = 0; i < Q; ++i) op[p * Q + i] = static_cast<T>(total[i]);
    }
  });
  return true;
}

}  // namespace

void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& out) {
  CAGE_GPU_DISPATCH(a.device(), binary_forward, op, a, b, out);
  CAGE_CHECK(a.dtype() == b.dtype() && a.dtype() == out.dtype(), "binary op on ", describe(a), " and ", describe(b));
  check_cpu_contiguous(out, "binary_forward");
  CAGE_DISPATCH_FLOAT(a.dtype(), "binary_forward", [&] {
    using T = scalar_t;
    switch (op) {
      case Binary::add: return binary_loop<T>(a, b, out, [](T x, T y) { return x + y; });
      case Binary::sub: return binary_loop<T>(a, b, out, [](T x, T y) { return x - y; });
      case Binary::mul: return binary_loop<T>(a, b, out, [](T x, T y) { return x * y; });
    }
  });
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  CAGE_GPU_DISPATCH(g.device(), sum_to, g, shape);
  if (g.shape() == shape) return g;
  Tensor out = Tensor::zeros(shape, g.dtype(), g.device());
  Tensor gc = g.contiguous();
  Shape st = broadcast_strides(out, g.shape());
  const Shape& gs = g.shape();
  int64_t d = static_cast<int64_t>(gs.size());
  if (sum_to_blocked(gc, out)) return out;
  CAGE_DISPATCH_FLOAT(g.dtype(), "sum_to", [&] {
    const scalar_t* gp = gc.data<scalar_t>();
    scalar_t* op = out.data<scalar_t>();
    int64_t inner = d ? gs[d - 1] : 1, inner_stride = d ? st[d - 1] : 0;
    int64_t rows = inner ? gc.numel() / inner : 0;
    for (int64_t r = 0; r < rows; ++r) {
      int64_t off = 0, rem = r;
      for (int64_t k = d - 2; k >= 0; --k) {
        off += (rem % gs[k]) * st[k];
        rem /= gs[k];
      }
      const scalar_t* row = gp + r * inner;
      if (inner_stride == 0) {
        scalar_t s = 0;
        for (int64_t i = 0; i < inner; ++i) s += row[i];
        op[off] += s;
      } else {
        for (int64_t i = 0; i < inner; ++i) op[off + i * inner_stride] += row[i];
      }
    }
  });
  return out;
}

void scale(const Tensor& x, double s, const Tensor& out) {
  CAGE_GPU_DISPATCH(x.device(), scale, x, s, out);
  check_cpu_contiguous(x, "scale");
  CAGE_DISPATCH_FLOAT(x.dtype(), "scale", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    scalar_t* op = out.data<scalar_t>();
    scalar_t f = static_cast<scalar_t>(s);
    parallel_for(0, x.numel(), kGrain, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) op[i] = xp[i] * f;
    });
  });
}

double sum_all(const Tensor& x) {
  CAGE_GPU_DISPATCH(x.device(), sum_all, x);
  Tensor c = x.contiguous();
  return CAGE_DISPATCH_FLOAT(x.dtype(), "sum_all", [&] {
    const scalar_t* p = c.data<scalar_t>();
    double s = 0;
    for (int64_t i = 0; i < c.numel(); ++i) s += p[i];
    return s;
  });
}

}  // namespace cage::kernels
