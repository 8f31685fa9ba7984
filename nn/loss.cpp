// Losses with autograd: cross-entropy (optionally class-weighted), MSE, CAGE's CCC loss and BCE-with-logits.
// Each is one fused op with a hand-written backward (kernels/loss.h); the result is a shape-[] tensor.
// Labels, class weights and pos_weight are constants: no gradient flows to them.
#include "core/autograd.h"
#include "kernels/loss.h"
#include "nn/functional.h"

namespace cage::nn {

namespace {

void check_float_pair(const Tensor& a, const Tensor& b, const char* op, const char* na, const char* nb) {
  CAGE_CHECK(a.defined() && b.defined(), op, ": undefined ", a.defined() ? nb : na);
  CAGE_CHECK(dtype_is_floating(a.dtype()) && a.dtype() == b.dtype(), op, ": ", na, " ", describe(a), " and ", nb, " ",
             describe(b), " must share one float dtype");
  CAGE_CHECK(a.shape() == b.shape(), op, ": ", na, " ", shape_str(a.shape()), " and ", nb, " ", shape_str(b.shape()),
             " differ in shape");
}

// A per-class constant vector (K), converted to the compute dtype.
Tensor class_vector(const Tensor& v, int64_t k, DType dtype, const char* op, const char* what) {
  if (!v.defined()) return Tensor();
  CAGE_CHECK(v.dim() == 1 && v.size(0) == k, op, ": ", what, " must have shape [", k, "], got ",
             shape_str(v.shape()));
  return v.detach().to(dtype).contiguous();
}

Tensor grad_like(bool wanted, const Tensor& t) {
  return wanted ? Tensor::empty(t.shape(), t.dtype(), t.device()) : Tensor();
}

}  // namespace

Tensor cross_entropy(const Tensor& logits_in, const Tensor& labels_in, const Tensor& class_weights) {
  CAGE_CHECK(logits_in.defined() && logits_in.dim() == 2, "cross_entropy: logits must be (N, K), got ",
             logits_in.defined() ? shape_str(logits_in.shape()) : "undefined");
  CAGE_CHECK(labels_in.defined() && labels_in.dim() == 1 && labels_in.size(0) == logits_in.size(0),
             "cross_entropy: labels must have shape [", logits_in.size(0), "], got ",
             labels_in.defined() ? shape_str(labels_in.shape()) : "undefined");
  Tensor logits = logits_in.contiguous();
  Tensor labels = labels_in.detach().contiguous();
  Tensor weights = class_vector(class_weights, logits.size(1), logits.dtype(), "cross_entropy", "class_weights");
  Tensor lse = Tensor::empty({logits.size(0)}, DType::f64, logits.device());
  Tensor out = Tensor::empty({}, logits.dtype(), logits.device());
  kernels::cross_entropy_forward(logits, labels, weights, lse, out);
  Tensor xd = logits.detach();
  return record(out, "cross_entropy", {logits}, [xd, labels, weights, lse](const Tensor& g) {
    Tensor gx = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
    kernels::cross_entropy_backward(xd, labels, weights, lse, g, gx);
    return std::vector<Tensor>{gx};
  });
}

Tensor mse_loss(const Tensor& pred_in, const Tensor& target_in) {
  check_float_pair(pred_in, target_in, "mse_loss", "pred", "target");
  CAGE_CHECK(pred_in.numel() > 0, "mse_loss of empty tensors");
  Tensor pred = pred_in.contiguous(), target = target_in.contiguous();
  Tensor out = Tensor::empty({}, pred.dtype(), pred.device());
  kernels::mse_forward(pred, target, out);
  Tensor pd = pred.detach(), td = target.detach();
  bool gp = pred.requires_grad(), gt = target.requires_grad();
  return record(out, "mse_loss", {pred, target}, [pd, td, gp, gt](const Tensor& g) {
    Tensor gpred = grad_like(gp, pd), gtarget = grad_like(gt, td);
    kernels::mse_backward(pd, td, g, gpred, gtarget);
    return std::vector<Tensor>{gpred, gtarget};
  });
}

Tensor ccc_loss(const Tensor& pred_in, const Tensor& target_in) {
  check_float_pair(pred_in, target_in, "ccc_loss", "pred", "target");
  CAGE_CHECK(pred_in.dim() == 1, "ccc_loss: pred and target must be 1-D (N), got ", shape_str(pred_in.shape()));
  Tensor pred = pred_in.contiguous(), target = target_in.contiguous();
  Tensor moments = Tensor::empty({6}, DType::f64, pred.device());
  Tensor out = Tensor::empty({}, pred.dtype(), pred.device());
  kernels::ccc_forward(pred, target, moments, out);
  Tensor pd = pred.detach(), td = target.detach();
  bool gp = pred.requires_grad(), gt = target.requires_grad();
  return record(out, "ccc_loss", {pred, target}, [pd, td, moments, gp, gt](const Tensor& g) {
    Tensor gpred = grad_like(gp, pd), gtarget = grad_like(gt, td);
    kernels::ccc_backward(pd, td, moments, g, gpred, gtarget);
    return std::vector<Tensor>{gpred, gtarget};
  });
}

Tensor bce_with_logits(const Tensor& logits_in, const Tensor& targets_in, const Tensor& pos_weight) {
  check_float_pair(logits_in, targets_in, "bce_with_logits", "logits", "targets");
  CAGE_CHECK(logits_in.dim() == 2 && logits_in.numel() > 0, "bce_with_logits: logits must be a non-empty (N, K), got ",
             shape_str(logits_in.shape()));
  Tensor logits = logits_in.contiguous(), targets = targets_in.contiguous();
  Tensor pw = class_vector(pos_weight, logits.size(1), logits.dtype(), "bce_with_logits", "pos_weight");
  Tensor out = Tensor::empty({}, logits.dtype(), logits.device());
  kernels::bce_with_logits_forward(logits, targets, pw, out);
  Tensor xd = logits.detach(), td = targets.detach();
  bool gx = logits.requires_grad(), gt = targets.requires_grad();
  return record(out, "bce_with_logits", {logits, targets}, [xd, td, pw, gx, gt](const Tensor& g) {
    Tensor glogits = grad_like(gx, xd), gtargets = grad_like(gt, td);
    kernels::bce_with_logits_backward(xd, td, pw, g, glogits, gtargets);
    return std::vector<Tensor>{glogits, gtargets};
  });
}

}  // namespace cage::nn
