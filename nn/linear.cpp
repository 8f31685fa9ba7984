// matmul and linear with autograd, on OpenBLAS GEMMs on the CPU and cuBLAS (kernels::gemm_device) on a GPU device,
// float32 only there. A 2-D operand that is a transposed view of a contiguous matrix is passed to the GEMM with its
// transpose flag instead of being copied.
#include <algorithm>

#include "core/autograd.h"
#include "core/thread_pool.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "nn/functional.h"

namespace cage::nn {

namespace {

// A matrix as GEMM wants it: data pointer, whether it is stored transposed, and its row stride.
struct GemmOperand {
  Tensor keep;  // owns the memory (a contiguous copy when the view was not GEMM-compatible)
  bool trans = false;
  int64_t ld = 0;
};

GemmOperand as_operand(const Tensor& m) {
  const Shape& st = m.strides();
  int64_t rows = m.size(0), cols = m.size(1);
  if (st[1] == 1 && (st[0] >= std::max<int64_t>(cols, 1) || rows == 1)) return {m, false, std::max<int64_t>(st[0], cols)};
  if (st[0] == 1 && (st[1] >= std::max<int64_t>(rows, 1) || cols == 1)) return {m, true, std::max<int64_t>(st[1], rows)};
  Tensor c = m.contiguous();
  return {c, false, cols};
}

// C = A (M,K) @ B (K,N), all 2-D tensors of one float dtype.
Tensor mm(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Tensor c = Tensor::empty({M, N}, a.dtype(), a.device());
  if (K == 0) return c.fill_(0);
  GemmOperand A = as_operand(a), B = as_operand(b);
  if (a.device() != Device::cpu) {
    kernels::gemm_device(a.device(), A.trans, B.trans, M, N, K, 1, A.keep.data<float>(), A.ld, B.keep.data<float>(),
                         B.ld, 0, c.data<float>(), N);
    return c;
  }
  CAGE_DISPATCH_FLOAT(a.dtype(), "matmul", [&] {
    kernels::gemm<scalar_t>(A.trans, B.trans, M, N, K, 1, A.keep.data<scalar_t>(), A.ld, B.keep.data<scalar_t>(), B.ld,
                            0, c.data<scalar_t>(), N);
  });
  return c;
}

Tensor matmul_2d(const Tensor& a, const Tensor& b) {
  Tensor out = mm(a, b);
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, "matmul", {a, b}, [ad, bd, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{ga ? mm(g, bd.transpose(0, 1)) : Tensor(), gb ? mm(ad.transpose(0, 1), g) : Tensor()};
  });
}

Tensor matmul_batched(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = a_in.contiguous(), b = b_in.contiguous();
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  Tensor out = Tensor::empty({B, M, N}, a.dtype(), a.device());
  auto bmm = [](const Tensor& x, bool tx, const Tensor& y, bool ty, const Tensor& o) {
    const int64_t batches = o.size(0), m = o.size(1), n = o.size(2), k = tx ? x.size(1) : x.size(2);
    if (x.device() != Device::cpu) {
      const int64_t xs = x.size(1) * x.size(2), ys = y.size(1) * y.size(2);
      kernels::gemm_batched_device(x.device(), tx, ty, m, n, k, 1, x.data<float>(), x.size(2), xs, y.data<float>(),
                                   y.size(2), ys, 0, o.data<float>(), n, m * n, batches);
      return;
    }
    CAGE_DISPATCH_FLOAT(x.dtype(), "matmul", [&] {
      for (int64_t i = 0; i < batches; ++i)
        kernels::gemm<scalar_t>(tx, ty, m, n, k, 1, x.data<scalar_t>() + i * x.size(1) * x.size(2), x.size(2),
                                y.data<scalar_t>() + i * y.size(1) * y.size(2), y.size(2), 0,
                                o.data<scalar_t>() + i * m * n, n);
    });
  };
  bmm(a, false, b, false, out);
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, "matmul", {a, b}, [=](const Tensor& g_in) {
    Tensor g = g_in.contiguous(), da, db;
    if (ga) {
      da = Tensor::empty({B, M, K}, ad.dtype(), ad.device());
      bmm(g, false, bd, true, da);
    }
    if (gb) {
      db = Tensor::empty({B, K, N}, ad.dtype(), ad.device());
      bmm(ad, true, g, false, db);
    }
    return std::vector<Tensor>{da, db};
  });
}

// linear with bias on a GPU device, GEMMs only: y = ones (rows, 1) b (1, out) + x w^T, and in backward
// gb = ones (1, rows) g, so the layer needs no elementwise kernel. The CPU keeps matmul + add.
Tensor linear_bias_device(const Tensor& x2, const Tensor& w, const Tensor& b) {
  CAGE_CHECK(x2.device() == w.device() && w.device() == b.device() && b.dtype() == DType::f32, "linear of ",
             describe(x2), " with weight ", describe(w), " and bias ", describe(b));
  const Device d = x2.device();
  const int64_t rows = x2.size(0), in = w.size(1), out_f = w.size(0);
  Tensor y = Tensor::empty({rows, out_f}, DType::f32, d);
  if (rows > 0) {
    Tensor ones = Tensor::full({rows}, 1.0, DType::f32, d);
    GemmOperand X = as_operand(x2.detach()), W = as_operand(w.detach());
    Tensor bc = b.detach().contiguous();
    kernels::gemm_device(d, false, false, rows, out_f, 1, 1, ones.data<float>(), 1, bc.data<float>(), out_f, 0,
                         y.data<float>(), out_f);
    if (in > 0)  // y += x w^T: w (out, in) as stored is op(B) transposed
      kernels::gemm_device(d, X.trans, !W.trans, rows, out_f, in, 1, X.keep.data<float>(), X.ld, W.keep.data<float>(),
                           W.ld, 1, y.data<float>(), out_f);
  }
  Tensor xd = x2.detach(), wd = w.detach();
  const bool gx = x2.requires_grad(), gw = w.requires_grad(), gb = b.requires_grad();
  return record(y, "linear", {x2, w, b}, [=](const Tensor& g) {
    Tensor db;
    if (gb) {
      db = Tensor::zeros({out_f}, DType::f32, d);
      if (rows > 0) {
        Tensor ones = Tensor::full({rows}, 1.0, DType::f32, d), gc = g.contiguous();
        kernels::gemm_device(d, false, false, 1, out_f, rows, 1, ones.data<float>(), rows, gc.data<float>(), out_f, 0,
                             db.data<float>(), out_f);
      }
    }
    return std::vector<Tensor>{gx ? mm(g, wd) : Tensor(), gw ? mm(g.transpose(0, 1), xd) : Tensor(), db};
  });
}

// linear with bias on the CPU: C starts as the bias rows and the GEMM adds x w^T with beta = 1 (no separate
// add pass and output tensor, and OpenBLAS skips its beta = 0 zeroing of C); backward gb = column sums of g.
Tensor linear_bias_cpu(const Tensor& x2, const Tensor& w, const Tensor& b) {
  CAGE_CHECK(x2.dtype() == w.dtype() && w.dtype() == b.dtype(), "linear of ", describe(x2), " with weight ",
             describe(w), " and bias ", describe(b));
  const int64_t rows = x2.size(0), in = w.size(1), out_f = w.size(0);
  Tensor y = Tensor::empty({rows, out_f}, x2.dtype(), Device::cpu);
  Tensor bc = b.detach().contiguous();
  GemmOperand X = as_operand(x2.detach()), W = as_operand(w.detach());
  CAGE_DISPATCH_FLOAT(x2.dtype(), "linear", [&] {
    using T = scalar_t;
    const T* bp = bc.data<T>();
    T* yp = y.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(out_f, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(bp, bp + out_f, yp + r * out_f);
    });
    if (in > 0 && rows > 0)  // y += x w^T: w (out, in) as stored is op(B) transposed
      kernels::gemm<T>(X.trans, !W.trans, rows, out_f, in, T(1), X.keep.data<T>(), X.ld, W.keep.data<T>(), W.ld, T(1),
                       yp, out_f);
  });
  Tensor xd = x2.detach(), wd = w.detach();
  const bool gx = x2.requires_grad(), gw = w.requires_grad(), gb = b.requires_grad();
  return record(y, "linear", {x2, w, b}, [=](const Tensor& g) {
    return std::vector<Tensor>{gx ? mm(g, wd) : Tensor(), gw ? mm(g.transpose(0, 1), xd) : Tensor(),
                               gb ? kernels::sum_to(g, {out_f}) : Tensor()};
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  CAGE_CHECK(a.dtype() == b.dtype() && a.device() == b.device(), "matmul of ", describe(a), " and ", describe(b));
  CAGE_CHECK(a.device() == Device::cpu || a.dtype() == DType::f32, "matmul on device ", device_name(a.device()),
             " is float32 only, got ", describe(a));
  if (a.dim() == 2 && b.dim() == 2) {
    CAGE_CHECK(a.size(1) == b.size(0), "matmul: ", shape_str(a.shape()), " x ", shape_str(b.shape()));
    return matmul_2d(a, b);
  }
  if (a.dim() == 3 && b.dim() == 3) {
    CAGE_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(1), "matmul: ", shape_str(a.shape()), " x ",
               shape_str(b.shape()));
    return matmul_batched(a, b);
  }
  if (a.dim() == 3 && b.dim() == 2) {
    CAGE_CHECK(a.size(2) == b.size(0), "matmul: ", shape_str(a.shape()), " x ", shape_str(b.shape()));
    const int64_t B = a.size(0), M = a.size(1);
    return matmul_2d(a.reshape({B * M, a.size(2)}), b).reshape({B, M, b.size(1)});
  }
  fail("matmul supports 2-D x 2-D, 3-D x 3-D and 3-D x 2-D, got ", shape_str(a.shape()), " x ", shape_str(b.shape()));
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  CAGE_CHECK(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1), "linear: input ", describe(x), " with weight ",
             describe(w));
  CAGE_CHECK(!b.defined() || b.shape() == Shape{w.size(0)}, "linear: bias ", describe(b), " for ", w.size(0), " outputs");
  const int64_t in = w.size(1), out_f = w.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = out_f;
  Tensor x2 = x.reshape({-1, in});
  if (b.defined() && x.device() != Device::cpu) return linear_bias_device(x2, w, b).reshape(out_shape);
  if (b.defined() && x.dtype() == w.dtype() && w.dtype() == b.dtype()) return linear_bias_cpu(x2, w, b).reshape(out_shape);
  Tensor y = matmul(x2, w.transpose(0, 1));
  if (b.defined()) y = add(y, b);
  return y.reshape(out_shape);
}

}  // namespace cage::nn
