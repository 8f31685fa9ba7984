// Losses on a GPU device: cross-entropy, MSE and BCE-with-logits (kernels/cuda/loss.cu); CCC, forward and gradient
// from one reduction (kernels/cuda/ccc_loss.cu). Scalars (loss, gout) stay on the device.
#include "kernels/cuda/ccc_loss.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {
void check_scalar(const Tensor& t, const char* op, const char* name) {
  CAGE_CHECK(t.defined() && t.numel() == 1, op, ": ", name, " must hold one value, got ",
             t.defined() ? describe(t) : std::string("undefined"));
}
void check_same(const Tensor& a, const Tensor& b, const char* op, const char* name) {
  if (!a.defined() || !b.defined()) return;
  CAGE_CHECK(a.shape() == b.shape(), op, ": ", name, " is ", describe(b), ", expected the shape of ", describe(a));
}
Tensor loss_scratch_tensor(int64_t n) { return device_empty({loss_scratch(n)}, DType::f64); }

// The shapes cross-entropy forward and backward share: logits (N, K), N labels and lse values, K class weights if
// any. Returns N.
int64_t cross_entropy_rows(const Tensor& logits, const Tensor& labels, const Tensor& weights, const Tensor& lse,
                           const char* n) {
  CAGE_CHECK(logits.dim() == 2, n, ": logits must be (N, K), got ", describe(logits));
  const int64_t N = logits.size(0), K = logits.size(1);
  CAGE_CHECK(labels.numel() == N && lse.numel() == N, n, ": labels ", describe(labels), " and lse ", describe(lse),
             " for logits ", describe(logits));
  CAGE_CHECK(!weights.defined() || weights.numel() == K, n, ": class weights ", describe(weights), " for ", K,
             " classes");
  return N;
}

// The CPU contract's check of kernels::cross_entropy_check_labels (an Error naming the first bad label), done on a
// host copy of the labels: the kernels never read through a bad label, but a wrong label must stop training.
void check_labels(const Tensor& labels, int64_t classes) {
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  for (size_t i = 0; i < y.size(); ++i)
    CAGE_CHECK(y[i] >= 0 && y[i] < classes, "cross_entropy: label at index ", i, " has value ", y[i],
               ", outside [0, ", classes, ")");
}
}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, const Tensor& weights, const Tensor& lse,
                           const Tensor& out) {
  const char* n = "cross_entropy_forward";
  const int64_t N = cross_entropy_rows(logits, labels, weights, lse, n), K = logits.size(1);
  check_scalar(out, n, "out");
  const int64_t* y = i64(labels, n, "labels");
  check_labels(labels, K);
  Tensor scratch = loss_scratch_tensor(N);
  cross_entropy_forward(f32(logits, n, "logits"), y, f32_or_null(weights, n, "weights"), f64(lse, n, "lse"),
                        f32(out, n, "out"), N, K, f64(scratch, n, "scratch"), stream());
  check_launch(n);
}

void cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& weights, const Tensor& lse,
                            const Tensor& gout, const Tensor& glogits) {
  const char* n = "cross_entropy_backward";
  const int64_t N = cross_entropy_rows(logits, labels, weights, lse, n), K = logits.size(1);
  check_scalar(gout, n, "gout");
  check_same(logits, glogits, n, "glogits");
  Tensor scratch = loss_scratch_tensor(N);
  cross_entropy_backward(f32(logits, n, "logits"), i64(labels, n, "labels"), f32_or_null(weights, n, "weights"),
                         f64(lse, n, "lse"), f32(gout, n, "gout"), f32(glogits, n, "glogits"), N, K,
                         f64(scratch, n, "scratch"), stream());
  check_launch(n);
}

void mse_forward(const Tensor& pred, const Tensor& target, const Tensor& out) {
  const char* n = "mse_forward";
  check_same(pred, target, n, "target");
  check_scalar(out, n, "out");
  Tensor scratch = loss_scratch_tensor(pred.numel());
  mse_forward(f32(pred, n, "pred"), f32(target, n, "target"), f32(out, n, "out"), pred.numel(),
              f64(scratch, n, "scratch"), stream());
  check_launch(n);
}

void mse_backward(const Tensor& pred, const Tensor& target, const Tensor& gout, const Tensor& gpred,
                  const Tensor& gtarget) {
  const char* n = "mse_backward";
  check_same(pred, target, n, "target");
  check_same(pred, gpred, n, "gpred");
  check_same(pred, gtarget, n, "gtarget");
  check_scalar(gout, n, "gout");
  mse_backward(f32(pred, n, "pred"), f32(target, n, "target"), f32(gout, n, "gout"), f32_or_null(gpred, n, "gpred"),
               f32_or_null(gtarget, n, "gtarget"), pred.numel(), stream());
  check_launch(n);
}

void ccc_forward(const Tensor& pred, const Tensor& target, const Tensor& moments, const Tensor& out) {
  const char* n = "ccc_forward";
  CAGE_CHECK(pred.numel() >= 2 && pred.numel() == target.numel(), n, ": ", describe(pred), " vs ", describe(target),
             " (at least 2 values each)");
  ccc_forward(f32(pred, n, "pred"), f32(target, n, "target"), f64(moments, n, "moments"), f32(out, n, "out"),
              pred.numel(), stream());
  check_launch(n);
}

void ccc_backward(const Tensor& pred, const Tensor& target, const Tensor& moments, const Tensor& gout,
                  const Tensor& gpred, const Tensor& gtarget) {
  const char* n = "ccc_backward";
  ccc_backward(f32(pred, n, "pred"), f32(target, n, "target"), f64(moments, n, "moments"), f32(gout, n, "gout"),
               f32_or_null(gpred, n, "gpred"), f32_or_null(gtarget, n, "gtarget"), pred.numel(), stream());
  check_launch(n);
}

void bce_with_logits_forward(const Tensor& logits, const Tensor& targets, const Tensor& pos_weight, const Tensor& out) {
  const char* n = "bce_with_logits_forward";
  check_same(logits, targets, n, "targets");
  check_scalar(out, n, "out");
  const int64_t K = logits.dim() ? logits.size(-1) : 1;
  CAGE_CHECK(!pos_weight.defined() || pos_weight.numel() == K, n, ": pos_weight ", describe(pos_weight), " for ", K,
             " classes");
  Tensor scratch = loss_scratch_tensor(logits.numel());
  bce_with_logits_forward(f32(logits, n, "logits"), f32(targets, n, "targets"), f32_or_null(pos_weight, n, "pos_weight"),
                          f32(out, n, "out"), logits.numel(), K, f64(scratch, n, "scratch"), stream());
  check_launch(n);
}

void bce_with_logits_backward(const Tensor& logits, const Tensor& targets, const Tensor& pos_weight,
                              const Tensor& gout, const Tensor& glogits, const Tensor& gtargets) {
  const char* n = "bce_with_logits_backward";
  check_same(logits, targets, n, "targets");
  check_same(logits, glogits, n, "glogits");
  check_same(logits, gtargets, n, "gtargets");
  check_scalar(gout, n, "gout");
  const int64_t K = logits.dim() ? logits.size(-1) : 1;
  CAGE_CHECK(!pos_weight.defined() || pos_weight.numel() == K, n, ": pos_weight ", describe(pos_weight), " for ", K,
             " classes");
  bce_with_logits_backward(f32(logits, n, "logits"), f32(targets, n, "targets"),
                           f32_or_null(pos_weight, n, "pos_weight"), f32(gout, n, "gout"),
                           f32_or_null(glogits, n, "glogits"), f32_or_null(gtargets, n, "gtargets"), logits.numel(), K,
                           stream());
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
