#include "core/cpu_basic.h"

#include <cstring>

#include "core/thread_pool.h"

namespace cage {

namespace {

template <typename F>
void dispatch_any(DType t, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::i64: f(int64_t{}); return;
    case DType::u8: f(uint8_t{}); return;
    case DType::bf16: break;
  }
  fail("dtype ", dtype_name(t), " has no host arithmetic (bf16 is storage only)");
}

// Walks the elements of `t` in row-major order, calling f(flat index, element offset). The innermost
// dimension is a tight loop so strided copies cost little more than contiguous ones.
template <typename F>
void for_each_offset(const Shape& shape, const Shape& strides, int64_t base, F&& f) {
  int64_t n = shape_numel(shape);
  if (n == 0) return;
  int64_t d = static_cast<int64_t>(shape.size());
  if (d == 0) {
    f(0, base);
    return;
  }
  int64_t inner = shape[d - 1], inner_stride = strides[d - 1];
  std::vector<int64_t> idx(d, 0);
  int64_t flat = 0, off = base;
  while (flat < n) {
    for (int64_t i = 0; i < inner; ++i) f(flat + i, off + i * inner_stride);
    flat += inner;
    for (int64_t k = d - 2; k >= 0; --k) {
      off += strides[k];
      if (++idx[k] < shape[k]) break;
      off -= strides[k] * shape[k];
      idx[k] = 0;
    }
  }
}

}  // namespace

void cpu_copy(const Tensor& dst, const Tensor& src) {
  CAGE_CHECK(dst.shape() == src.shape(), "copy: shape ", shape_str(src.shape()), " into ", shape_str(dst.shape()));
  CAGE_CHECK(dst.device() == Device::cpu && src.device() == Device::cpu, "cpu_copy on ", device_name(dst.device()));
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    std::memcpy(dst.raw_data(), src.raw_data(), src.numel() * dtype_size(src.dtype()));
    return;
  }
  dispatch_any(dst.dtype(), [&](auto d0) {
    using D = decltype(d0);
    dispatch_any(src.dtype(), [&](auto s0) {
      using S = decltype(s0);
      D* dp = static_cast<D*>(dst.storage()->data());
      const S* sp = static_cast<const S*>(src.storage()->data());
      if (dst.is_contiguous()) {
        D* out = dp + dst.offset();
        for_each_offset(src.shape(), src.strides(), src.offset(),
                        [&](int64_t flat, int64_t off) { out[flat] = static_cast<D>(sp[off]); });
      } else {
        Tensor s = src.contiguous();
        const S* in = s.template data<S>();
        for_each_offset(dst.shape(), dst.strides(), dst.offset(),
                        [&](int64_t flat, int64_t off) { dp[off] = static_cast<D>(in[flat]); });
      }
    });
  });
}

void cpu_fill(const Tensor& dst, double value) {
  dispatch_any(dst.dtype(), [&](auto z) {
    using T = decltype(z);
    T* p = static_cast<T*>(dst.storage()->data());
    T v = static_cast<T>(value);
    for_each_offset(dst.shape(), dst.strides(), dst.offset(), [&](int64_t, int64_t off) { p[off] = v; });
  });
}

Tensor cpu_add(const Tensor& a, const Tensor& b) {
  CAGE_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), "add: ", describe(a), " + ", describe(b));
  Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  dispatch_any(a.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* x = ac.template data<T>();
    const T* y = bc.template data<T>();
    T* o = out.template data<T>();
    parallel_for(0, out.numel(), 1 << 15, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) o[i] = x[i] + y[i];
    });
  });
  return out;
}

}  // namespace cage
