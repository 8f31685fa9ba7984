// Cosine annealing with linear warmup (train/schedule.h), evaluated in closed form: no state to save.
#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "train/optim.h"

namespace cage::train {

CosineSchedule::CosineSchedule(const CosineScheduleOptions& o) : options_(o) {
  CAGE_CHECK(o.base_lr >= 0 && o.eta_min >= 0, "cosine schedule: negative lr (base ", o.base_lr, ", eta_min ",
             o.eta_min, ")");
  CAGE_CHECK(o.warmup_steps >= 0 && o.warmup_steps < o.total_steps, "cosine schedule: warmup_steps ", o.warmup_steps,
             " must be in [0, total_steps = ", o.total_steps, ")");
  CAGE_CHECK(o.warmup_start_factor > 0 && o.warmup_start_factor <= 1, "cosine schedule: warmup_start_factor ",
             o.warmup_start_factor, " must be in (0, 1]");
}

double CosineSchedule::lr_at(int64_t step) const {
  const CosineScheduleOptions& o = options_;
  CAGE_CHECK(step >= 0, "cosine schedule: negative step ", step);
  if (step < o.warmup_steps) {
    double f = o.warmup_start_factor +
               (1 - o.warmup_start_factor) * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
    return o.base_lr * f;
  }
  int64_t span = o.total_steps - o.warmup_steps;
  int64_t t = std::min(step - o.warmup_steps, span);
  return o.eta_min + (o.base_lr - o.eta_min) * (1 + std::cos(M_PI * static_cast<double>(t) / span)) / 2;
}

void CosineSchedule::apply(Optimizer& optimizer, int64_t step) const { optimizer.set_lr(lr_at(step)); }

}  // namespace cage::train
