#include "core/tensor.h"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "core/autograd.h"
#include "core/cpu_basic.h"
#include "core/device_ops.h"

namespace cage {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t strided_offset(int64_t flat, const Shape& shape, const Shape& strides) {
  int64_t off = 0;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    off += (flat % shape[i]) * strides[i];
    flat /= shape[i];
  }
  return off;
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape()) + " " + device_name(t.device());
}

namespace {

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* what) {
  int64_t w = d < 0 ? d + ndim : d;
  CAGE_CHECK(w >= 0 && w < ndim, what, ": dimension ", d, " out of range for a ", ndim, "-d tensor");
  return w;
}

}  // namespace

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) CAGE_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

// ---- accessors ----

const Shape& Tensor::shape() const { return impl_->shape; }
const Shape& Tensor::strides() const { return impl_->strides; }
int64_t Tensor::offset() const { return impl_->offset; }
int64_t Tensor::size(int64_t d) const { return impl_->shape[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::numel() const { return shape_numel(impl_->shape); }
DType Tensor::dtype() const { return impl_->dtype; }
Device Tensor::device() const { return impl_->storage->device(); }
const StoragePtr& Tensor::storage() const { return impl_->storage; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (impl_->shape[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= impl_->shape[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<int64_t>(dtype_size(dtype()));
}

double Tensor::item() const {
  CAGE_CHECK(numel() == 1, "item() of a tensor with ", numel(), " elements");
  Tensor d = detach().to(Device::cpu).to(DType::f64);
  return *d.data<double>();
}

// ---- views ----

Tensor Tensor::reshape(const Shape& requested) const {
  Shape shape = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CAGE_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    CAGE_CHECK(known > 0 && numel() % known == 0, "reshape ", shape_str(this->shape()), " to ", shape_str(requested));
    shape[infer] = numel() / known;
  }
  CAGE_CHECK(shape_numel(shape) == numel(), "reshape: ", shape_str(this->shape()), " (", numel(),
             " elements) to ", shape_str(requested));
  Tensor src = contiguous();
  Tensor out = make_view(src, shape, contiguous_strides(shape), src.offset());
  Shape in_shape = this->shape();
  return record(out, "reshape", {src}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(in_shape)};
  });
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  CAGE_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute: ", dims.size(), " dims for a ", dim(), "-d tensor");
  Shape shape(dim()), strides(dim());
  std::vector<int64_t> inverse(dim(), -1);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    CAGE_CHECK(inverse[d] < 0, "permute: dimension ", d, " repeated");
    inverse[d] = i;
    shape[i] = impl_->shape[d];
    strides[i] = impl_->strides[d];
  }
  Tensor out = make_view(*this, shape, strides, offset());
  return record(out, "permute", {*this}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{g.permute(inverse)};
  });
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(a, dim(), "transpose")], dims[wrap_dim(b, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  d = wrap_dim(d, dim(), "slice");
  int64_t n = impl_->shape[d];
  CAGE_CHECK(0 <= start && start <= end && end <= n, "slice [", start, ", ", end, ") of dimension ", d, " with size ", n,
             " (tensor ", shape_str(impl_->shape), ")");
  Shape shape = impl_->shape;
  shape[d] = end - start;
  Tensor out = make_view(*this, shape, impl_->strides, offset() + start * impl_->strides[d]);
  Shape full_shape = impl_->shape;
  DType dt = dtype();
  return record(out, "slice", {*this}, [full_shape, dt, d, start, end](const Tensor& g) {
    Tensor gin = Tensor::zeros(full_shape, dt, g.device());
    gin.slice(d, start, end).copy_(g);
    return std::vector<Tensor>{gin};
  });
}

std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t d) const {
  d = wrap_dim(d, dim(), "chunk");
  CAGE_CHECK(chunks > 0, "chunk: ", chunks, " chunks");
  int64_t n = impl_->shape[d];
  int64_t step = (n + chunks - 1) / chunks;  // PyTorch's rule: equal chunks, the last one may be smaller
  std::vector<Tensor> parts;
  for (int64_t s = 0; s < n; s += step) parts.push_back(slice(d, s, std::min(n, s + step)));
  return parts;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_any(out, *this);
  return record(out, "clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target, device());
  copy_any(out, *this);
  if (!dtype_is_floating(target) || !dtype_is_floating(dtype())) return out;
  DType source = dtype();
  return record(out, "to", {*this}, [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor out = empty(shape(), dtype(), target);
  copy_any(out, *this);
  if (!dtype_is_floating(dtype())) return out;
  Device source = device();
  return record(out, "to_device", {*this}, [source](const Tensor& g) { return std::vector<Tensor>{g.to(source)}; });
}

const Tensor& Tensor::fill_(double value) const {
  fill_any(*this, value);
  return *this;
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  copy_any(*this, src);
  return *this;
}

// ---- autograd ----

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  CAGE_CHECK(!impl_->grad_fn, "set_requires_grad on a non-leaf tensor (", describe(*this), ")");
  CAGE_CHECK(!on || dtype_is_floating(dtype()), "only floating tensors can require grad, not ", dtype_name(dtype()));
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl_->grad; }
void Tensor::zero_grad() { impl_->grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return impl_->grad_fn; }
void Tensor::backward(const Tensor& grad) const { run_backward(*this, grad); }

}  // namespace cage
