// Define-by-run autograd. Each differentiable op creates its output with record(): a Node holding the
// inputs it differentiates through and a backward closure that maps the output's gradient to one gradient
// per input (undefined = no gradient). Backward closures capture detached tensors only, so the graph has
// no cycles; after a backward every node drops its closure and inputs (the saved tensors are released).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace cage {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

struct Node {
  const char* name = "";
  std::vector<Tensor> inputs;  // the op's differentiable inputs, in the order backward returns gradients
  BackwardFn backward;
  bool released() const { return !backward; }
};

// Gradient recording is on unless a NoGradGuard is alive on this thread.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when recording is on and any input requires a gradient.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a Node to `out` when needs_grad(inputs); returns `out`.
Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

// Runs backward from `root` with the given seed gradient (ones for a scalar when undefined).
void run_backward(const Tensor& root, const Tensor& seed);

// Adds `g` into `acc` (allocating when acc is undefined); shapes must match. Used for accumulation.
void accumulate_grad(Tensor& acc, const Tensor& g);

}  // namespace cage
