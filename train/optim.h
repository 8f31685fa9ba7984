// Optimizers over a list of leaf parameters: AdamW and SGD with PyTorch's semantics (torch.optim, 1.13).
// A parameter without a gradient is skipped and its state left untouched, as torch does. The state exports
// as named tensors ("<slot>.<parameter index>") plus the step count, for checkpoints and resume.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace cage::train {

struct OptimizerState {
  int64_t step = 0;  // optimizer steps taken
  std::vector<std::pair<std::string, Tensor>> tensors;
};

class Optimizer {
 public:
  // params: leaves with requires_grad, contiguous, f32 or f64.
  Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  // Drops every parameter's gradient (torch's zero_grad(set_to_none=True), the default since torch 2.0): a
  // parameter that gets no new gradient is then skipped by step(), not decayed with a zero gradient.
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t step_count() const { return step_count_; }

  // Copies of the state; import checks every name, shape and dtype against the parameters.
  virtual OptimizerState export_state() const = 0;
  virtual void import_state(const OptimizerState& state) = 0;

  std::vector<Tensor> params;

 protected:
  // Parameters with a gradient this step, and that gradient (contiguous, checked against the parameter).
  std::vector<std::pair<size_t, Tensor>> params_with_grad() const;
  // Copies of the tensors of `state` named "<slot>.<i>", one per parameter (undefined where absent); with
  // like_param they must match params[i] in shape and dtype. Names of other slots are ignored here.
  std::vector<Tensor> import_slot(const OptimizerState& state, const std::string& slot, bool like_param) const;
  // Error for a name that is not "<one of slots>.<parameter index>".
  void check_names(const OptimizerState& state, const std::vector<std::string>& slots) const;

  double lr_;
  int64_t step_count_ = 0;
};

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;  // torch.optim.AdamW defaults
  bool amsgrad = false;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options = {});
  void step() override;
  OptimizerState export_state() const override;  // exp_avg.i, exp_avg_sq.i, [max_exp_avg_sq.i], step.i (i64 [])
  void import_state(const OptimizerState& state) override;
  const AdamWOptions& options() const { return options_; }

 private:
  AdamWOptions options_;
  // Per parameter, allocated at its first step with a gradient; steps_[i] counts its own updates.
  std::vector<Tensor> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
  std::vector<int64_t> steps_;
};

struct SGDOptions {
  double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening 0
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  void step() override;
  OptimizerState export_state() const override;  // momentum_buffer.i
  void import_state(const OptimizerState& state) override;
  const SGDOptions& options() const { return options_; }

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffer_;  // undefined until the parameter's first step with momentum
};

}  // namespace cage::train
