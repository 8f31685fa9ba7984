// Optimizers on a GPU device: AdamW and SGD, each one fused launch over every parameter (kernels/cuda/adamw.cu,
// kernels/cuda/sgd.cu).
#include "kernels/cuda/adamw.cuh"
#include "kernels/cuda/sgd.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {

void adamw_step(const std::vector<kernels::AdamwTensor>& tensors, const kernels::AdamwHyper& h) {
  if (tensors.empty()) return;
  const char* n = "adamw_step";
  std::vector<adamw_tensor> views;
  views.reserve(tensors.size());
  for (const kernels::AdamwTensor& t : tensors) {
    adamw_tensor v;
    v.param = f32(t.param, n, "param");
    CAGE_CHECK(t.grad.defined() && t.grad.shape() == t.param.shape(), n, ": grad of a parameter of shape ",
               shape_str(t.param.shape()));
    v.grad = f32(t.grad, n, "grad");
    v.exp_avg = f32(t.exp_avg, n, "exp_avg");
    v.exp_avg_sq = f32(t.exp_avg_sq, n, "exp_avg_sq");
    v.max_exp_avg_sq = h.amsgrad ? f32(t.max_exp_avg_sq, n, "max_exp_avg_sq") : nullptr;
    v.n = t.param.numel();
    v.step = t.step;
    views.push_back(v);
  }
  adamw_hyper hyper{h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.amsgrad};
  Tensor segments = device_empty({static_cast<int64_t>(tensors.size() * sizeof(adamw_segment))}, DType::u8);
  check_cuda(adamw_step(views, hyper, static_cast<adamw_segment*>(segments.raw_data()), stream()), n);
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE

namespace cage::CAGE_GPU_NAMESPACE {

void sgd_step(const std::vector<kernels::SgdTensor>& tensors, const kernels::SgdHyper& h) {
  if (tensors.empty()) return;
  const char* n = "sgd_step";
  const bool use_momentum = h.momentum != 0;
  std::vector<sgd_tensor> views;
  views.reserve(tensors.size());
  for (const kernels::SgdTensor& t : tensors) {
    sgd_tensor v;
    v.param = f32(t.param, n, "param");
    CAGE_CHECK(t.grad.defined() && t.grad.shape() == t.param.shape(), n, ": grad of a parameter of shape ",
               shape_str(t.param.shape()));
    v.grad = f32(t.grad, n, "grad");
    if (use_momentum) {
      CAGE_CHECK(t.momentum_buffer.defined() && t.momentum_buffer.shape() == t.param.shape(), n,
                 ": momentum_buffer of a parameter of shape ", shape_str(t.param.shape()));
      v.momentum_buffer = f32(t.momentum_buffer, n, "momentum_buffer");
    }
    v.n = t.param.numel();
    v.first = t.first;
    views.push_back(v);
  }
  sgd_hyper hyper{h.lr, h.momentum, h.dampening, h.weight_decay, h.nesterov};
  Tensor segments = device_empty({static_cast<int64_t>(tensors.size() * sizeof(sgd_segment))}, DType::u8);
  check_cuda(sgd_step(views, hyper, static_cast<sgd_segment*>(segments.raw_data()), stream()), n);
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
