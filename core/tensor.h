// Tensor: a strided view of a Storage, with the autograd fields of define-by-run differentiation.
// Views (reshape of a contiguous tensor, permute, transpose, slice, chunk) share storage; ops that need
// contiguous memory call contiguous() explicitly.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace cage {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Factories.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor scalar(double value, DType dtype = DType::f32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  const StoragePtr& storage() const;

  // Typed pointer to the first element (offset applied); the dtype must match T.
  template <typename T> T* data() const;
  void* raw_data() const;  // untyped, offset applied

  template <typename T> std::vector<T> to_vector() const;  // contiguous copy to the host
  double item() const;                                     // single-element tensor as double

  // Views and copies.
  Tensor reshape(const Shape& shape) const;  // a view when contiguous, else a copy; one dim may be -1
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;  // [start, end) along dim, a view
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim) const;
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy (with autograd)
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;  // a copy on `device` (itself when already there); gradients flow back
  Tensor detach() const;  // shares storage, no autograd history

  // In-place, outside autograd (initialisation, optimizers).
  const Tensor& fill_(double value) const;
  const Tensor& copy_(const Tensor& src) const;  // same shape; any strides and dtypes

  // Autograd.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);  // only on leaves
  Tensor grad() const;                 // undefined until a backward reaches this leaf
  void zero_grad();                    // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const;
  void backward(const Tensor& grad = Tensor()) const;  // from a scalar when grad is undefined

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  StoragePtr storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  bool requires_grad = false;
  Tensor grad;                    // leaves only
  std::shared_ptr<Node> grad_fn;  // non-leaves only
};

// A tensor's element index for a flat (row-major) position, for code that walks any strides.
int64_t strided_offset(int64_t flat, const Shape& shape, const Shape& strides);

std::string describe(const Tensor& t);  // "f32[2, 3] cpu"

template <typename T>
T* Tensor::data() const {
  CAGE_CHECK(defined(), "data() of an undefined tensor");
  CAGE_CHECK(dtype() == dtype_of<T>::value, "data<", dtype_name(dtype_of<T>::value), ">() of a ",
             dtype_name(dtype()), " tensor");
  return static_cast<T*>(raw_data());
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  CAGE_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
             " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>::value);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

}  // namespace cage
