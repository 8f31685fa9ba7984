// Dropout and stochastic depth. Both draw from a Philox stream (the mask depends only on the generator's
// seed, stream and offset, never on threads) and are a multiplication by a mask tensor, so their gradient
// is the mask's.
#include "core/autograd.h"
#include "nn/functional.h"

namespace cage::nn {

namespace {

// Keep-mask scaled by 1 / (1 - p): element i keeps when draw i of the stream is >= p. Drawn on the host (the same
// mask on every device), then moved to the tensor's device.
Tensor keep_mask(const Shape& shape, DType dt, Device device, double p, Philox& rng) {
  Tensor mask = Tensor::empty(shape, DType::f64);
  double* m = mask.data<double>();
  const double keep_scale = 1.0 / (1.0 - p);
  const uint64_t base = rng.offset();
  const int64_t n = mask.numel();
  for (int64_t i = 0; i < n; ++i) m[i] = philox_uniform_double(rng.draw(base + 2 * i), rng.draw(base + 2 * i + 1)) < p ? 0.0 : keep_scale;
  rng.skip(2 * static_cast<uint64_t>(n));
  return mask.to(dt).to(device);
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Philox& rng) {
  CAGE_CHECK(p >= 0 && p <= 1, "dropout probability ", p, " outside [0, 1]");
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, Tensor::zeros({}, x.dtype(), x.device()));
  return mul(x, keep_mask(x.shape(), x.dtype(), x.device(), p, rng));
}

Tensor stochastic_depth(const Tensor& x, double p, bool training, Philox& rng) {
  CAGE_CHECK(p >= 0 && p <= 1, "stochastic depth probability ", p, " outside [0, 1]");
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, Tensor::zeros({}, x.dtype(), x.device()));
  Shape per_sample(x.dim(), 1);
  per_sample[0] = x.size(0);
  return mul(x, keep_mask(per_sample, x.dtype(), x.device(), p, rng));
}

}  // namespace cage::nn
