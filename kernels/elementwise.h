// Element-wise kernels: one functor per op plugged into one loop (forward and backward), broadcasting
// binary ops, and the reduction that undoes a broadcast in the backward pass. Contiguous inputs unless noted.
#pragma once
#include "core/tensor.h"

namespace cage::kernels {

enum class Unary { gelu, silu, sigmoid, tanh, relu };
void unary_forward(Unary op, const Tensor& x, const Tensor& y);
// gx = gy * f'(x); y = f(x) is passed in because some derivatives are cheaper from it.
void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx);

enum class Binary { add, sub, mul };
Shape broadcast_shape(const Shape& a, const Shape& b);  // NumPy rules; Error naming both shapes
// out = a (op) b with broadcasting; a and b may have any strides; out is contiguous with the broadcast shape.
void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& out);
// Sums g (shape S) down to `shape`, which broadcasts to S.
Tensor sum_to(const Tensor& g, const Shape& shape);
void scale(const Tensor& x, double s, const Tensor& out);  // out = x * s
double sum_all(const Tensor& x);                            // in double, any float dtype

}  // namespace cage::kernels
