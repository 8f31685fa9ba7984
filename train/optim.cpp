// AdamW and SGD (train/optim.h): per-parameter state, bookkeeping and checkpoint state; the arithmetic is in
// the fused kernels (kernels/optim.h).
#include "train/optim.h"

#include <cstdlib>
#include <set>

#include "kernels/optim.h"
#include "nn/module.h"

namespace cage::train {

namespace {

// "<slot>.<index>" -> index, or -1 when the name does not have that form for this slot.
int64_t slot_index(const std::string& name, const std::string& slot) {
  if (name.size() <= slot.size() + 1 || name.compare(0, slot.size(), slot) != 0 || name[slot.size()] != '.') return -1;
  const char* digits = name.c_str() + slot.size() + 1;
  char* end = nullptr;
  long long i = std::strtoll(digits, &end, 10);
  if (*end != '\0' || *digits < '0' || *digits > '9') return -1;
  return static_cast<int64_t>(i);
}

Tensor zeros_like(const Tensor& p) { return Tensor::zeros(p.shape(), p.dtype(), p.device()); }

Tensor step_tensor(int64_t step) { return Tensor::from_vector<int64_t>({step}, {}); }

}  // namespace

// ---- Optimizer ----

Optimizer::Optimizer(std::vector<Tensor> ps, double lr) : params(std::move(ps)) {
  CAGE_CHECK(!params.empty(), "optimizer got an empty parameter list");
  std::set<const TensorImpl*> seen;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    CAGE_CHECK(p.defined(), "optimizer: parameter ", i, " is undefined");
    // A repeated parameter would be stepped twice per step().
    CAGE_CHECK(seen.insert(p.impl()).second, "optimizer: parameter ", i, " appears twice in the list");
    CAGE_CHECK(p.requires_grad() && !p.grad_fn(), "optimizer: parameter ", i, " (", describe(p),
               ") must be a leaf with requires_grad");
    CAGE_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, "optimizer: parameter ", i, " is ", describe(p),
               " (f32 or f64 expected)");
    CAGE_CHECK(p.is_contiguous(), "optimizer: parameter ", i, " (", describe(p), ") is not contiguous");
  }
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  CAGE_CHECK(lr >= 0, "optimizer: invalid learning rate ", lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (Tensor& p : params) p.zero_grad();
}

std::vector<std::pair<size_t, Tensor>> Optimizer::params_with_grad() const {
  std::vector<std::pair<size_t, Tensor>> out;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    CAGE_CHECK(g.shape() == params[i].shape() && g.dtype() == params[i].dtype(), "optimizer: gradient ", describe(g),
               " of parameter ", i, " does not match ", describe(params[i]));
    out.emplace_back(i, g.contiguous());
  }
  return out;
}

void Optimizer::check_names(const OptimizerState& state, const std::vector<std::string>& slots) const {
  for (const auto& [name, t] : state.tensors) {
    bool known = false;
    for (const std::string& slot : slots) {
      int64_t i = slot_index(name, slot);
      if (i < 0) continue;
      CAGE_CHECK(i < static_cast<int64_t>(params.size()), "optimizer state '", name, "': parameter index ", i,
                 " but the optimizer has ", params.size(), " parameters");
      known = true;
    }
    CAGE_CHECK(known, "optimizer state: unexpected tensor '", name, "'");
    CAGE_CHECK(t.defined(), "optimizer state: tensor '", name, "' is undefined");
  }
}

std::vector<Tensor> Optimizer::import_slot(const OptimizerState& state, const std::string& slot,
                                           bool like_param) const {
  std::vector<Tensor> out(params.size());
  for (const auto& [name, t] : state.tensors) {
    int64_t i = slot_index(name, slot);
    if (i < 0) continue;
    CAGE_CHECK(!out[i].defined(), "optimizer state: '", name, "' appears twice");
    if (like_param)
      CAGE_CHECK(t.shape() == params[i].shape() && t.dtype() == params[i].dtype(), "optimizer state '", name, "': ",
                 describe(t), " does not match parameter ", i, " ", describe(params[i]));
    out[i] = like_param ? t.detach().clone().to(params[i].device()) : t.detach().clone();
  }
  return out;
}

// ---- AdamW ----

AdamW::AdamW(std::vector<Tensor> ps, const AdamWOptions& o) : Optimizer(std::move(ps), o.lr), options_(o) {
  CAGE_CHECK(o.eps >= 0, "AdamW: invalid eps ", o.eps);
  CAGE_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "AdamW: invalid betas (", o.beta1, ", ",
             o.beta2, ")");
  CAGE_CHECK(o.weight_decay >= 0, "AdamW: invalid weight_decay ", o.weight_decay);
  exp_avg_.resize(params.size());
  exp_avg_sq_.resize(params.size());
  max_exp_avg_sq_.resize(params.size());
  steps_.assign(params.size(), 0);
}

void AdamW::step() {
  kernels::AdamwHyper h{lr_, options_.beta1, options_.beta2, options_.eps, options_.weight_decay, options_.amsgrad};
  std::vector<kernels::AdamwTensor> work;
  for (auto& [i, g] : params_with_grad()) {
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = zeros_like(params[i]);
      exp_avg_sq_[i] = zeros_like(params[i]);
      if (options_.amsgrad) max_exp_avg_sq_[i] = zeros_like(params[i]);
    }
    work.push_back({params[i], g, exp_avg_[i], exp_avg_sq_[i], max_exp_avg_sq_[i], ++steps_[i]});
  }
  kernels::adamw_step(work, h);
  nn::Module::parameters_changed();
  ++step_count_;
}

OptimizerState AdamW::export_state() const {
  OptimizerState s;
  s.step = step_count_;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    std::string k = std::to_string(i);
    s.tensors.emplace_back("exp_avg." + k, exp_avg_[i].clone().to(Device::cpu));
    s.tensors.emplace_back("exp_avg_sq." + k, exp_avg_sq_[i].clone().to(Device::cpu));
    if (options_.amsgrad) s.tensors.emplace_back("max_exp_avg_sq." + k, max_exp_avg_sq_[i].clone().to(Device::cpu));
    s.tensors.emplace_back("step." + k, step_tensor(steps_[i]));
  }
  return s;
}

void AdamW::import_state(const OptimizerState& state) {
  CAGE_CHECK(state.step >= 0, "AdamW state: negative step count ", state.step);
  check_names(state, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"});
  std::vector<Tensor> m = import_slot(state, "exp_avg", true), v = import_slot(state, "exp_avg_sq", true);
  std::vector<Tensor> vmax = import_slot(state, "max_exp_avg_sq", true), steps = import_slot(state, "step", false);
  std::vector<int64_t> counts(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    bool any = m[i].defined() || v[i].defined() || vmax[i].defined() || steps[i].defined();
    if (!any) continue;
    bool all = m[i].defined() && v[i].defined() && steps[i].defined() && (!options_.amsgrad || vmax[i].defined());
    CAGE_CHECK(all, "AdamW state: incomplete state for parameter ", i, " (needs exp_avg, exp_avg_sq, step",
               options_.amsgrad ? ", max_exp_avg_sq)" : ")");
    CAGE_CHECK(steps[i].dtype() == DType::i64 && steps[i].numel() == 1, "AdamW state 'step.", i,
               "': expected one i64 value, got ", describe(steps[i]));
    counts[i] = *steps[i].data<int64_t>();
    CAGE_CHECK(counts[i] >= 1, "AdamW state 'step.", i, "': step ", counts[i], " of a parameter with state");
    if (!options_.amsgrad) vmax[i] = Tensor();
  }
  exp_avg_ = std::move(m);
  exp_avg_sq_ = std::move(v);
  max_exp_avg_sq_ = std::move(vmax);
  steps_ = std::move(counts);
  step_count_ = state.step;
}

// ---- SGD ----

SGD::SGD(std::vector<Tensor> ps, const SGDOptions& o) : Optimizer(std::move(ps), o.lr), options_(o) {
  CAGE_CHECK(o.momentum >= 0, "SGD: invalid momentum ", o.momentum);
  CAGE_CHECK(o.weight_decay >= 0, "SGD: invalid weight_decay ", o.weight_decay);
  CAGE_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
             "SGD: Nesterov momentum requires a momentum and zero dampening");
  momentum_buffer_.resize(params.size());
}

void SGD::step() {
  kernels::SgdHyper h{lr_, options_.momentum, options_.dampening, options_.weight_decay, options_.nesterov};
  std::vector<kernels::SgdTensor> work;
  for (auto& [i, g] : params_with_grad()) {
    bool first = false;
    if (options_.momentum != 0 && !momentum_buffer_[i].defined()) {
      momentum_buffer_[i] = Tensor::empty(params[i].shape(), params[i].dtype(), params[i].device());
      first = true;
    }
    work.push_back({params[i], g, momentum_buffer_[i], first});
  }
  kernels::sgd_step(work, h);
  ++step_count_;
  nn::Module::parameters_changed();
}

OptimizerState SGD::export_state() const {
  OptimizerState s;
  s.step = step_count_;
  for (size_t i = 0; i < params.size(); ++i)
    if (momentum_buffer_[i].defined())
      s.tensors.emplace_back("momentum_buffer." + std::to_string(i), momentum_buffer_[i].clone().to(Device::cpu));
  return s;
}

void SGD::import_state(const OptimizerState& state) {
  CAGE_CHECK(state.step >= 0, "SGD state: negative step count ", state.step);
  check_names(state, {"momentum_buffer"});
  momentum_buffer_ = import_slot(state, "momentum_buffer", true);
  step_count_ = state.step;
}

}  // namespace cage::train
