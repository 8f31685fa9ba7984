// Learning-rate schedule: cosine annealing over the real number of optimizer steps, with an optional linear
// warmup. Equal (to rounding) to PyTorch's
//   SequentialLR([LinearLR(start_factor, total_iters=W), CosineAnnealingLR(T_max=T-W, eta_min)], milestones=[W])
// stepped once per optimizer step (W = 0: CosineAnnealingLR(T_max=T) alone), in closed form:
//   t <  W: base * (start_factor + (1 - start_factor) * t / W)
//   t >= W: eta_min + (base - eta_min) * (1 + cos(pi * (t - W) / (T - W))) / 2, held at eta_min after T.
// (PyTorch's cosine would rise again after T; the public CAGE code relied on that by mistake.)
#pragma once
#include <cstdint>

namespace cage::train {

class Optimizer;

struct CosineScheduleOptions {
  double base_lr = 1e-3;
  int64_t total_steps = 1;        // T: the step at which the lr reaches eta_min
  double eta_min = 0;
  int64_t warmup_steps = 0;       // W < T
  double warmup_start_factor = 1.0 / 3;  // LinearLR's default
};

class CosineSchedule {
 public:
  explicit CosineSchedule(const CosineScheduleOptions& options);
  // The lr for optimizer step `step` (0 = the first step).
  double lr_at(int64_t step) const;
  // Sets the optimizer's lr for step `step`.
  void apply(Optimizer& optimizer, int64_t step) const;
  const CosineScheduleOptions& options() const { return options_; }

 private:
  CosineScheduleOptions options_;
};

}  // namespace cage::train
