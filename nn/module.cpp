#include "nn/module.h"

#include <atomic>
#include <sstream>
#include <unordered_map>

#include "core/autograd.h"

namespace cage::nn {

Shape torch_shape(const Shape& held, Layout layout) {
  if (layout == Layout::same) return held;
  return {held[3], held[2], held[0], held[1]};
}

Tensor to_torch_layout(const Tensor& t, Layout layout) {
  if (layout == Layout::same) return t;
  return t.permute({3, 2, 0, 1}).contiguous();
}

Tensor from_torch_layout(const Tensor& t, Layout layout) {
  if (layout == Layout::same) return t.contiguous();
  return t.permute({2, 3, 1, 0}).contiguous();
}

namespace {
std::atomic<uint64_t> g_parameters_generation{1};
}

uint64_t Module::parameters_generation() { return g_parameters_generation.load(std::memory_order_acquire); }
void Module::parameters_changed() { g_parameters_generation.fetch_add(1, std::memory_order_acq_rel); }

void Module::train(bool on) {
  // Training mode may change parameters and running statistics from here on (optimizer steps also count);
  // eval() alone changes nothing, so repeated eval() calls keep caches built from the parameters.
  if (on) parameters_changed();
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, Layout layout) {
  if (!t.requires_grad()) t.set_requires_grad(true);
  params_.push_back({name, std::make_unique<Tensor>(std::move(t)), false, layout});
  return *params_.back().tensor;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.push_back({name, std::make_unique<Tensor>(std::move(t)), true, Layout::same});
  return *buffers_.back().tensor;
}

std::vector<StateEntry> Module::state_entries(const std::string& prefix) {
  std::vector<StateEntry> out;
  for (auto& s : params_) out.push_back({prefix + s.name, s.tensor.get(), false, s.layout});
  for (auto& s : buffers_) out.push_back({prefix + s.name, s.tensor.get(), true, s.layout});
  for (auto& [name, child] : children_) {
    std::vector<StateEntry> sub = child->state_entries(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& e : state_entries())
    if (!e.is_buffer) out.emplace_back(e.key, *e.tensor);
  return out;
}

std::vector<Tensor> Module::parameters() {
  std::vector<Tensor> out;
  for (auto& e : state_entries())
    if (!e.is_buffer) out.push_back(*e.tensor);
  return out;
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (auto& e : state_entries())
    if (!e.is_buffer) n += e.tensor->numel();
  return n;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict() {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& e : state_entries())
    out.emplace_back(e.key, to_torch_layout(e.tensor->detach().to(Device::cpu), e.layout));
  return out;
}

void Module::to(Device device) {
  for (auto& e : state_entries()) {
    Tensor& t = *e.tensor;
    if (!t.defined() || !dtype_is_floating(t.dtype()) || t.device() == device) continue;
    const bool requires_grad = t.requires_grad();
    Tensor moved = t.detach().to(device);
    if (requires_grad) moved.set_requires_grad(true);
    t = moved;
  }
  parameters_changed();  // caches derived from the parameters (folded inference weights) are stale
}

Device Module::device() {
  for (auto& e : state_entries())
    if (!e.is_buffer && e.tensor->defined()) return e.tensor->device();
  return Device::cpu;
}

void Module::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  parameters_changed();
  std::unordered_map<std::string, const Tensor*> given;
  for (auto& [k, t] : state) given[k] = &t;
  std::vector<StateEntry> entries = state_entries();
  std::vector<std::string> missing, mismatched, unexpected;
  std::unordered_map<std::string, bool> known;
  for (auto& e : entries) {
    known[e.key] = true;
    auto it = given.find(e.key);
    if (it == given.end()) {
      missing.push_back(e.key);
      continue;
    }
    Shape expect = torch_shape(e.tensor->shape(), e.layout);
    if (it->second->shape() != expect)
      mismatched.push_back(e.key + ": checkpoint " + shape_str(it->second->shape()) + ", model " + shape_str(expect));
  }
  for (auto& [k, t] : state)
    if (!known.count(k)) unexpected.push_back(k);
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::ostringstream os;
    os << "state_dict does not match the model:";
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      os << "\n  " << v.size() << " " << what << ":";
      for (auto& s : v) os << "\n    " << s;
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("shape differences", mismatched);
    fail(os.str());
  }
  NoGradGuard no_grad;
  for (auto& e : entries) e.tensor->copy_(from_torch_layout(*given[e.key], e.layout));
}

}  // namespace cage::nn
