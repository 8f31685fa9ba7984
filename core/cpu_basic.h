// Host-side data movement the core itself needs (views made contiguous, dtype casts, gradient
// accumulation). Device backends bring their own versions through kernels/.
#pragma once
#include "core/tensor.h"

namespace cage {

void cpu_copy(const Tensor& dst, const Tensor& src);  // same shape, any strides, any dtypes (cast)
void cpu_fill(const Tensor& dst, double value);
Tensor cpu_add(const Tensor& a, const Tensor& b);     // same shape and dtype, out of place, contiguous

}  // namespace cage
