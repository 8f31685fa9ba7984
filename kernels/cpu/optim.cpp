// CPU optimizer kernels (kernels/optim.h). All tensors of a call are laid end to end in one index space and
// parallel_for splits that space, so many small tensors (biases, norms) cost one pass, not one loop each.
// PyTorch's AVX2 kernels evaluate add(x, alpha=a) and addcmul as fused multiply-adds while mul, div and
// addcdiv round every operation; std::fma below marks exactly those fused steps (the build never contracts).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/optim.h"
#include "kernels/dispatch.h"

namespace cage::kernels {

namespace {

constexpr int64_t kGrain = 1 << 14;

void check_buffer(const Tensor& t, const Tensor& param, const char* what) {
  CAGE_CHECK(t.defined(), "optimizer step: missing ", what, " for a parameter of shape ", shape_str(param.shape()));
  CAGE_CHECK(t.device() == Device::cpu, "optimizer step: ", what, " on ", device_name(t.device()), " (CPU kernel)");
  CAGE_CHECK(t.is_contiguous(), "optimizer step: ", what, " must be contiguous, got strides ", shape_str(t.strides()));
  CAGE_CHECK(t.dtype() == param.dtype() && t.shape() == param.shape(), "optimizer step: ", what, " ", describe(t),
             " does not match the parameter ", describe(param));
}

// Calls body(slot, begin, end) for the parts of [a, b) that fall in each slot; offsets are the slots' prefix sums.
template <typename F>
void for_slices(const std::vector<int64_t>& offsets, int64_t a, int64_t b, F body) {
  size_t s = static_cast<size_t>(std::upper_bound(offsets.begin(), offsets.end(), a) - offsets.begin()) - 1;
  for (int64_t i = a; i < b; ++s) {
    int64_t end = std::min(b, offsets[s + 1]);
    body(s, i - offsets[s], end - offsets[s]);
    i = end;
  }
}

template <typename Item, typename F>
void fused_pass(const std::vector<Item>& items, DType dtype, F run) {
  std::vector<size_t> pick;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].param.dtype() == dtype) pick.push_back(i);
  if (pick.empty()) return;
  std::vector<int64_t> offsets{0};
  for (size_t i : pick) offsets.push_back(offsets.back() + items[i].param.numel());
  parallel_for(0, offsets.back(), kGrain, [&](int64_t a, int64_t b) {
    for_slices(offsets, a, b, [&](size_t s, int64_t begin, int64_t end) { run(pick[s], begin, end); });
  });
}

template <typename T>
struct AdamwScalars {
  T decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
};

template <typename T>
AdamwScalars<T> adamw_scalars(const AdamwHyper& h, int64_t step) {
  // Python floats (double) rounded to T, as PyTorch does when a scalar meets a T tensor.
  double bc1 = 1 - std::pow(h.beta1, static_cast<double>(step));
  double bc2 = 1 - std::pow(h.beta2, static_cast<double>(step));
  return {T(1 - h.lr * h.weight_decay), T(h.beta1), T(1 - h.beta1), T(h.beta2), T(1 - h.beta2),
          T(std::sqrt(bc2)), T(h.eps), T(-(h.lr / bc1))};
}

}  // namespace

void adamw_step(const std::vector<AdamwTensor>& tensors, const AdamwHyper& h) {
  CAGE_GPU_DISPATCH((tensors.empty() ? Device::cpu : tensors[0].param.device()), adamw_step, tensors, h);
  for (const AdamwTensor& t : tensors) {
    CAGE_CHECK(t.step >= 1, "adamw_step: step ", t.step, " (counts from 1)");
    check_buffer(t.param, t.param, "param");
    check_buffer(t.grad, t.param, "grad");
    check_buffer(t.exp_avg, t.param, "exp_avg");
    check_buffer(t.exp_avg_sq, t.param, "exp_avg_sq");
    if (h.amsgrad) check_buffer(t.max_exp_avg_sq, t.param, "max_exp_avg_sq");
  }
  for (DType dtype : {DType::f32, DType::f64}) {
    CAGE_DISPATCH_FLOAT(dtype, "adamw_step", [&] {
      using T = scalar_t;
      std::vector<AdamwScalars<T>> sc;
      for (const AdamwTensor& t : tensors) sc.push_back(adamw_scalars<T>(h, t.step));
      fused_pass(tensors, dtype, [&](size_t k, int64_t begin, int64_t end) {
        const AdamwTensor& t = tensors[k];
        const AdamwScalars<T> c = sc[k];
        T* p = t.param.data<T>();
        const T* g = t.grad.data<T>();
        T* m = t.exp_avg.data<T>();
        T* v = t.exp_avg_sq.data<T>();
        T* vmax = h.amsgrad ? t.max_exp_avg_sq.data<T>() : nullptr;
        for (int64_t i = begin; i < end; ++i) {
          p[i] = p[i] * c.decay;
          m[i] = std::fma(c.one_minus_beta1, g[i], m[i] * c.beta1);
          v[i] = std::fma(c.one_minus_beta2 * g[i], g[i], v[i] * c.beta2);
          T second = v[i];
          if (vmax) second = vmax[i] = std::max(vmax[i], v[i]);
          T denom = std::sqrt(second) / c.bc2_sqrt + c.eps;
          p[i] = p[i] + (c.neg_step_size * m[i]) / denom;
        }
      });
    });
  }
}

void sgd_step(const std::vector<SgdTensor>& tensors, const SgdHyper& h) {
  CAGE_GPU_DISPATCH((tensors.empty() ? Device::cpu : tensors[0].param.device()), sgd_step, tensors, h);
  const bool use_momentum = h.momentum != 0;
  for (const SgdTensor& t : tensors) {
    check_buffer(t.param, t.param, "param");
    check_buffer(t.grad, t.param, "grad");
    if (use_momentum) check_buffer(t.momentum_buffer, t.param, "momentum_buffer");
  }
  for (DType dtype : {DType::f32, DType::f64}) {
    CAGE_DISPATCH_FLOAT(dtype, "sgd_step", [&] {
      using T = scalar_t;
      const T wd = T(h.weight_decay), mom = T(h.momentum), keep = T(1 - h.dampening), neg_lr = T(-h.lr);
      fused_pass(tensors, dtype, [&](size_t k, int64_t begin, int64_t end) {
        const SgdTensor& t = tensors[k];
        T* p = t.param.data<T>();
        const T* g = t.grad.data<T>();
        T* buf = use_momentum ? t.momentum_buffer.data<T>() : nullptr;
        for (int64_t i = begin; i < end; ++i) {
          T d = h.weight_decay != 0 ? std::fma(wd, p[i], g[i]) : g[i];
          if (buf) {
            buf[i] = t.first ? d : std::fma(keep, d, buf[i] * mom);
            d = h.nesterov ? std::fma(mom, buf[i], d) : buf[i];
          }
          p[i] = std::fma(neg_lr, d, p[i]);
        }
      });
    });
  }
}

}  // namespace cage::kernels
