// Module: a tree of named parameters, buffers and child modules whose state_dict keys and order are
// PyTorch's (a module's own parameters, then its own buffers, then each child in registration order).
// Convolution weights are held in the kernels' HWIO layout and exchanged with checkpoints in PyTorch's
// OIHW layout: the conversion happens only at import and export.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace cage::nn {

enum class Layout { same, conv_hwio };  // conv_hwio: held (KH, KW, I, O), exchanged as (O, I, KH, KW)

struct StateEntry {
  std::string key;
  Tensor* tensor;  // the live tensor in the module (assigning replaces it)
  bool is_buffer;
  Layout layout;
};

Tensor to_torch_layout(const Tensor& t, Layout layout);    // contiguous copy or the tensor itself
Tensor from_torch_layout(const Tensor& t, Layout layout);  // contiguous
Shape torch_shape(const Shape& held, Layout layout);

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  void train(bool on = true);  // train(true) also counts as a parameter change (see parameters_generation)
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // A process-wide counter bumped by train(true), load_state_dict() and optimizer steps. Caches derived from
  // parameters (MaxViT's BatchNorm-folded inference weights) are rebuilt when it moves; code that edits
  // parameters in place by other means calls parameters_changed().
  static uint64_t parameters_generation();
  static void parameters_changed();

  // Every parameter and buffer, depth first, with full keys ("blocks.0.layers.0...").
  std::vector<StateEntry> state_entries(const std::string& prefix = "");
  std::vector<std::pair<std::string, Tensor>> named_parameters();
  std::vector<Tensor> parameters();
  int64_t parameter_count();

  // Moves every floating-point parameter and buffer to `device` (parameters stay leaves that require grad). Integer
  // buffers (num_batches_tracked, relative_position_index) stay on the CPU: only host code reads or updates them.
  void to(Device device);
  Device device();  // where the parameters live (cpu for a module without parameters)

  // The state_dict in PyTorch's layouts and order, on the CPU (for checkpoints and comparisons with PyTorch).
  std::vector<std::pair<std::string, Tensor>> state_dict();

  // Loads tensors in PyTorch's layouts by key. Strict: every missing key, unexpected key and shape
  // difference is reported together in one Error. Values are converted to each entry's dtype.
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t, Layout layout = Layout::same);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  struct Slot {
    std::string name;
    std::unique_ptr<Tensor> tensor;  // stable address for StateEntry
    bool is_buffer;
    Layout layout;
  };
  std::vector<Slot> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace cage::nn
