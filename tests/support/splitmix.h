// The splitmix64 weight generator of ../shared/reference/README.md ("maxvit_t_splitmix"): rebuilds the
// 31 M maxvit_t weights and the input from one seed, so no 120 MB checkpoint is needed.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "core/autograd.h"
#include "nn/module.h"

namespace cage::test {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }

 private:
  uint64_t state_;
};

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Fills every float state_dict entry of `m` in state_dict order, values generated in PyTorch's layout.
inline void splitmix_fill(nn::Module& m, SplitMix64& rng) {
  NoGradGuard no_grad;
  for (auto& e : m.state_entries()) {
    if (e.tensor->dtype() != DType::f32) continue;
    Shape shape = nn::torch_shape(e.tensor->shape(), e.layout);
    Tensor v = Tensor::empty(shape, DType::f32);
    float* p = v.data<float>();
    const int64_t n = v.numel();
    const double inv_sqrt_fan_in = shape.size() > 1 ? 1.0 / std::sqrt(static_cast<double>(n / shape[0])) : 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double u = rng.uniform(), x;
      if (ends_with(e.key, "relative_position_bias_table")) x = 0.02 * (2.0 * u - 1.0);
      else if (ends_with(e.key, "running_mean")) x = 0.1 * (2.0 * u - 1.0);
      else if (ends_with(e.key, "running_var")) x = 0.5 + u;
      else if (shape.size() > 1) x = (2.0 * u - 1.0) * inv_sqrt_fan_in;
      else if (ends_with(e.key, ".weight")) x = 1.0 + 0.1 * (2.0 * u - 1.0);
      else x = 0.1 * (2.0 * u - 1.0);
      p[i] = static_cast<float>(x);
    }
    e.tensor->copy_(nn::from_torch_layout(v, e.layout));
  }
}

}  // namespace cage::test
