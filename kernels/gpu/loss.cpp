// Losses on a GPU device. CCC: forward and gradient from one reduction (kernels/cuda/ccc_loss.cu).
#include "kernels/cuda/ccc_loss.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {

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

}  // namespace cage::CAGE_GPU_NAMESPACE
