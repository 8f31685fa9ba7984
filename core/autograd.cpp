#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/device_ops.h"

namespace cage {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
  return out;
}

// Never in place: an op may hand the same gradient buffer to several inputs (add does).
void accumulate_grad(Tensor& acc, const Tensor& g) {
  if (!acc.defined()) {
    acc = g.detach();
    return;
  }
  CAGE_CHECK(acc.shape() == g.shape(), "gradient shape ", shape_str(g.shape()), " does not match ",
             shape_str(acc.shape()));
  acc = add_any(acc, g);
}

namespace {
// A leaf's gradient is its own buffer, so that later in-place use cannot reach into the graph.
void accumulate_leaf_grad(Tensor& acc, const Tensor& g) {
  if (!acc.defined())
    acc = g.detach().contiguous().storage() == g.storage() ? g.detach().clone() : g.detach().contiguous();
  else
    accumulate_grad(acc, g);
}
}  // namespace

void run_backward(const Tensor& root, const Tensor& seed) {
  CAGE_CHECK(root.defined(), "backward() of an undefined tensor");
  CAGE_CHECK(root.requires_grad(), "backward() of a tensor that does not require grad");
  Tensor g0 = seed;
  if (!g0.defined()) {
    CAGE_CHECK(root.numel() == 1, "backward() without a gradient needs a scalar, got ", shape_str(root.shape()));
    g0 = Tensor::full(root.shape(), 1.0, root.dtype(), root.device());
  }
  CAGE_CHECK(g0.shape() == root.shape(), "backward(): gradient ", shape_str(g0.shape()), " for output ",
             shape_str(root.shape()));
  NoGradGuard no_grad;

  if (!root.grad_fn()) {  // a leaf: backward seeds its own gradient
    accumulate_leaf_grad(root.impl()->grad, g0);
    return;
  }

  // Topological order of the nodes reachable from the root (iterative DFS, post-order). The order holds
  // owning pointers: releasing a node's inputs below may drop the last other reference to a node still due.
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root.grad_fn(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      std::shared_ptr<Node> child = in.defined() ? in.grad_fn() : nullptr;
      if (child && seen.insert(child.get()).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  for (auto& n : order)
    CAGE_CHECK(!n->released(), "backward through a graph whose saved tensors were already released (op '",
               n->name, "'): run the forward again");

  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = g0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    auto found = grads.find(node);
    if (found == grads.end()) continue;  // no gradient flowed here
    Tensor g = std::move(found->second);
    grads.erase(found);
    std::vector<Tensor> gin = node->backward(g);
    CAGE_CHECK(gin.size() == node->inputs.size(), "op '", node->name, "' returned ", gin.size(),
               " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < gin.size(); ++i) {
      const Tensor& in = node->inputs[i];
      if (!gin[i].defined() || !in.requires_grad()) continue;
      CAGE_CHECK(gin[i].shape() == in.shape(), "op '", node->name, "' gave gradient ", shape_str(gin[i].shape()),
                 " for input ", i, " of shape ", shape_str(in.shape()));
      if (in.grad_fn())
        accumulate_grad(grads[in.grad_fn().get()], gin[i]);
      else
        accumulate_leaf_grad(in.impl()->grad, gin[i]);
    }
    node->backward = nullptr;  // release saved tensors
    node->inputs.clear();
  }
}

}  // namespace cage
