// CPU loss kernels (kernels/loss.h). Per-element terms are evaluated in double and summed over fixed blocks
// whose partial sums are added in block order: the loss is the same for any thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/loss.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

namespace {

constexpr int64_t kGrain = 1 << 14;
constexpr int64_t kBlock = 1 << 12;  // elements per partial sum

void check_cpu_contiguous(const Tensor& t, const char* what) {
  CAGE_CHECK(t.device() == Device::cpu, what, ": tensor on ", device_name(t.device()), " (CPU kernel)");
  CAGE_CHECK(t.is_contiguous(), what, ": expected a contiguous tensor, got strides ", shape_str(t.strides()));
}

// sum_{i < n} term(i), deterministic: fixed blocks, partials added in order.
template <typename F>
double block_sum(int64_t n, F term) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      for (int64_t i = b * kBlock, e = std::min(n, (b + 1) * kBlock); i < e; ++i) s += term(i);
      partial[b] = s;
    }
  });
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

template <typename T>
void write_scalar(const Tensor& out, double v) {
  check_cpu_contiguous(out, "loss output");
  *out.data<T>() = static_cast<T>(v);
}

double scalar_grad(const Tensor& gout) {
  CAGE_CHECK(gout.numel() == 1, "loss backward: upstream gradient with ", gout.numel(), " elements");
  return gout.item();
}

// softplus(-x) = log(1 + exp(-x)), without overflow for either sign of x.
inline double softplus_neg(double x) { return std::max(-x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }
// sigmoid(-x) = 1 / (1 + exp(x)), exp of a non-positive argument only.
inline double sigmoid_neg(double x) {
  if (x >= 0) {
    double e = std::exp(-x);
    return e / (1 + e);
  }
  return 1 / (1 + std::exp(x));
}

}  // namespace

// ---- cross-entropy ----

void cross_entropy_check_labels(const Tensor& device_labels, int64_t classes) {
  const Tensor labels = device_labels.to(Device::cpu);  // a GPU backend checks its labels on the host too
  check_cpu_contiguous(labels, "cross_entropy labels");
  CAGE_CHECK(labels.dtype() == DType::i64, "cross_entropy: labels must be i64, got ", describe(labels));
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    CAGE_CHECK(y[i] >= 0 && y[i] < classes, "cross_entropy: label at index ", i, " has value ", y[i],
               ", outside [0, ", classes, ")");
}

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, const Tensor& weights, const Tensor& lse,
                           const Tensor& out) {
  CAGE_GPU_DISPATCH(logits.device(), cross_entropy_forward, logits, labels, weights, lse, out);
  check_cpu_contiguous(logits, "cross_entropy_forward");
  check_cpu_contiguous(lse, "cross_entropy_forward lse");
  const int64_t n = logits.size(0), k = logits.size(1);
  cross_entropy_check_labels(labels, k);
  if (weights.defined()) check_cpu_contiguous(weights, "cross_entropy_forward weights");
  CAGE_DISPATCH_FLOAT(logits.dtype(), "cross_entropy_forward", [&] {
    using T = scalar_t;
    const T* x = logits.data<T>();
    const int64_t* y = labels.data<int64_t>();
    const T* w = weights.defined() ? weights.data<T>() : nullptr;
    double* l = lse.data<double>();
    std::vector<double> nll(static_cast<size_t>(n));
    parallel_for(0, n, std::max<int64_t>(1, kGrain / std::max<int64_t>(k, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) {
        const T* row = x + i * k;
        double m = row[0];
        for (int64_t j = 1; j < k; ++j) m = std::max(m, double(row[j]));
        double s = 0;
        for (int64_t j = 0; j < k; ++j) s += std::exp(double(row[j]) - m);
        l[i] = m + std::log(s);
        nll[i] = l[i] - double(row[y[i]]);
      }
    });
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; ++i) {
      double wi = w ? double(w[y[i]]) : 1.0;
      num += wi * nll[i];
      den += wi;
    }
    write_scalar<T>(out, num / den);  // N = 0 or zero total weight: NaN, as in PyTorch
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& weights, const Tensor& lse,
                            const Tensor& gout, const Tensor& glogits) {
  CAGE_GPU_DISPATCH(logits.device(), cross_entropy_backward, logits, labels, weights, lse, gout, glogits);
  check_cpu_contiguous(glogits, "cross_entropy_backward");
  const int64_t n = logits.size(0), k = logits.size(1);
  double g = scalar_grad(gout);
  CAGE_DISPATCH_FLOAT(logits.dtype(), "cross_entropy_backward", [&] {
    using T = scalar_t;
    const T* x = logits.data<T>();
    const int64_t* y = labels.data<int64_t>();
    const T* w = weights.defined() ? weights.data<T>() : nullptr;
    const double* l = lse.data<double>();
    T* gx = glogits.data<T>();
    double den = 0;
    for (int64_t i = 0; i < n; ++i) den += w ? double(w[y[i]]) : 1.0;
    parallel_for(0, n, std::max<int64_t>(1, kGrain / std::max<int64_t>(k, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) {
        double s = g * (w ? double(w[y[i]]) : 1.0) / den;
        const T* row = x + i * k;
        T* grow = gx + i * k;
        for (int64_t j = 0; j < k; ++j) grow[j] = static_cast<T>(s * std::exp(double(row[j]) - l[i]));
        grow[y[i]] = static_cast<T>(s * (std::exp(double(row[y[i]]) - l[i]) - 1.0));
      }
    });
  });
}

// ---- mean squared error ----

void mse_forward(const Tensor& pred, const Tensor& target, const Tensor& out) {
  CAGE_GPU_DISPATCH(pred.device(), mse_forward, pred, target, out);
  check_cpu_contiguous(pred, "mse_forward");
  check_cpu_contiguous(target, "mse_forward");
  CAGE_DISPATCH_FLOAT(pred.dtype(), "mse_forward", [&] {
    using T = scalar_t;
    const T* p = pred.data<T>();
    const T* t = target.data<T>();
    double s = block_sum(pred.numel(), [&](int64_t i) {
      double d = double(p[i]) - double(t[i]);
      return d * d;
    });
    write_scalar<T>(out, s / static_cast<double>(pred.numel()));
  });
}

void mse_backward(const Tensor& pred, const Tensor& target, const Tensor& gout, const Tensor& gpred,
                  const Tensor& gtarget) {
  CAGE_GPU_DISPATCH(pred.device(), mse_backward, pred, target, gout, gpred, gtarget);
  double c = 2 * scalar_grad(gout) / static_cast<double>(pred.numel());
  CAGE_DISPATCH_FLOAT(pred.dtype(), "mse_backward", [&] {
    using T = scalar_t;
    const T* p = pred.data<T>();
    const T* t = target.data<T>();
    T* gp = gpred.defined() ? gpred.data<T>() : nullptr;
    T* gt = gtarget.defined() ? gtarget.data<T>() : nullptr;
    parallel_for(0, pred.numel(), kGrain, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) {
        double v = c * (double(p[i]) - double(t[i]));
        if (gp) gp[i] = static_cast<T>(v);
        if (gt) gt[i] = static_cast<T>(-v);
      }
    });
  });
}

// ---- concordance correlation coefficient loss ----

void ccc_forward(const Tensor& pred, const Tensor& target, const Tensor& moments, const Tensor& out) {
  CAGE_GPU_DISPATCH(pred.device(), ccc_forward, pred, target, moments, out);
  check_cpu_contiguous(pred, "ccc_forward");
  check_cpu_contiguous(target, "ccc_forward");
  check_cpu_contiguous(moments, "ccc_forward moments");
  const int64_t n = pred.numel();
  CAGE_CHECK(n >= 2, "ccc_loss: needs at least 2 samples for unbiased moments, got ", n);
  CAGE_DISPATCH_FLOAT(pred.dtype(), "ccc_forward", [&] {
    using T = scalar_t;
    const T* p = pred.data<T>();
    const T* t = target.data<T>();
    // Sums of values shifted by the first sample: the same moments, less cancellation when |mean| >> std.
    const double kp = p[0], kt = t[0];
    struct Sums { double a = 0, b = 0, aa = 0, bb = 0, ab = 0; };
    int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<Sums> partial(static_cast<size_t>(blocks));
    parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        Sums s;
        for (int64_t i = blk * kBlock, e = std::min(n, (blk + 1) * kBlock); i < e; ++i) {
          double a = double(p[i]) - kp, b = double(t[i]) - kt;
          s.a += a;
          s.b += b;
          s.aa += a * a;
          s.bb += b * b;
          s.ab += a * b;
        }
        partial[blk] = s;
      }
    });
    Sums s;
    for (const Sums& q : partial) {
      s.a += q.a;
      s.b += q.b;
      s.aa += q.aa;
      s.bb += q.bb;
      s.ab += q.ab;
    }
    const double dn = static_cast<double>(n);
    double* mo = moments.data<double>();
    mo[0] = kp + s.a / dn;
    mo[1] = kt + s.b / dn;
    mo[2] = (s.aa - s.a * s.a / dn) / (dn - 1);
    mo[3] = (s.bb - s.b * s.b / dn) / (dn - 1);
    mo[4] = (s.ab - s.a * s.b / dn) / (dn - 1);
    mo[5] = dn;
    double d = mo[0] - mo[1];
    write_scalar<T>(out, -2 * mo[4] / (mo[2] + mo[3] + d * d));
  });
}

void ccc_backward(const Tensor& pred, const Tensor& target, const Tensor& moments, const Tensor& gout,
                  const Tensor& gpred, const Tensor& gtarget) {
  CAGE_GPU_DISPATCH(pred.device(), ccc_backward, pred, target, moments, gout, gpred, gtarget);
  double g = scalar_grad(gout);
  const double* mo = moments.data<double>();
  const double mp = mo[0], mt = mo[1], cov = mo[4], dn = mo[5];
  const double diff = mp - mt, den = mo[2] + mo[3] + diff * diff, u = 1 / (dn - 1);
  // L = -2 cov / D: dL = -2 dcov / D + 2 cov dD / D^2, with dcov/dp_i = u (t_i - mt),
  // dD/dp_i = 2u (p_i - mp) + 2 diff / N, and the mirror images for t_i.
  const double ca = -2 * u * g / den, cb = 4 * u * g * cov / (den * den), cc = 4 * g * cov * diff / (dn * den * den);
  CAGE_DISPATCH_FLOAT(pred.dtype(), "ccc_backward", [&] {
    using T = scalar_t;
    const T* p = pred.data<T>();
    const T* t = target.data<T>();
    T* gp = gpred.defined() ? gpred.data<T>() : nullptr;
    T* gt = gtarget.defined() ? gtarget.data<T>() : nullptr;
    parallel_for(0, pred.numel(), kGrain, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) {
        double dp = double(p[i]) - mp, dt = double(t[i]) - mt;
        if (gp) gp[i] = static_cast<T>(ca * dt + cb * dp + cc);
        if (gt) gt[i] = static_cast<T>(ca * dp + cb * dt - cc);
      }
    });
  });
}

// ---- binary cross-entropy with logits ----

void bce_with_logits_forward(const Tensor& logits, const Tensor& targets, const Tensor& pos_weight, const Tensor& out) {
  CAGE_GPU_DISPATCH(logits.device(), bce_with_logits_forward, logits, targets, pos_weight, out);
  check_cpu_contiguous(logits, "bce_with_logits_forward");
  check_cpu_contiguous(targets, "bce_with_logits_forward");
  if (pos_weight.defined()) check_cpu_contiguous(pos_weight, "bce_with_logits_forward pos_weight");
  const int64_t k = logits.size(-1);
  CAGE_DISPATCH_FLOAT(logits.dtype(), "bce_with_logits_forward", [&] {
    using T = scalar_t;
    const T* x = logits.data<T>();
    const T* t = targets.data<T>();
    const T* pw = pos_weight.defined() ? pos_weight.data<T>() : nullptr;
    double s = block_sum(logits.numel(), [&](int64_t i) {
      double xi = x[i], ti = t[i];
      double lw = pw ? 1 + (double(pw[i % k]) - 1) * ti : 1.0;
      return (1 - ti) * xi + lw * softplus_neg(xi);
    });
    write_scalar<T>(out, s / static_cast<double>(logits.numel()));
  });
}

void bce_with_logits_backward(const Tensor& logits, const Tensor& targets, const Tensor& pos_weight,
                              const Tensor& gout, const Tensor& glogits, const Tensor& gtargets) {
  CAGE_GPU_DISPATCH(logits.device(), bce_with_logits_backward, logits, targets, pos_weight, gout, glogits,
                    gtargets);
  const int64_t k = logits.size(-1);
  double c = scalar_grad(gout) / static_cast<double>(logits.numel());
  CAGE_DISPATCH_FLOAT(logits.dtype(), "bce_with_logits_backward", [&] {
    using T = scalar_t;
    const T* x = logits.data<T>();
    const T* t = targets.data<T>();
    const T* pw = pos_weight.defined() ? pos_weight.data<T>() : nullptr;
    T* gx = glogits.defined() ? glogits.data<T>() : nullptr;
    T* gt = gtargets.defined() ? gtargets.data<T>() : nullptr;
    parallel_for(0, logits.numel(), kGrain, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) {
        double xi = x[i], ti = t[i], pwi = pw ? double(pw[i % k]) : 1.0;
        if (gx) gx[i] = static_cast<T>(c * ((1 - ti) - (1 + (pwi - 1) * ti) * sigmoid_neg(xi)));
        if (gt) gt[i] = static_cast<T>(c * ((pwi - 1) * softplus_neg(xi) - xi));
      }
    });
  });
}

}  // namespace cage::kernels
