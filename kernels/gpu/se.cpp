// Squeeze-excitation on a GPU device (kernels/cuda/se.cu): one block per image; parameter gradients summed over
// images by a second kernel from per-image scratch.
#include "kernels/cuda/se.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {
struct se_dims {
  int64_t N, HW, C, R;
};
se_dims dims_of(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2,
                const char* op) {
  CAGE_CHECK(x.dim() == 4, op, ": expected NHWC input, got ", shape_str(x.shape()));
  const int64_t C = x.size(3);
  CAGE_CHECK(C > 0 && w1.numel() > 0 && w1.numel() % C == 0, op, ": w1 ", shape_str(w1.shape()), " for ", C,
             " channels");
  const int64_t R = w1.numel() / C;
  CAGE_CHECK(w2.numel() == R * C, op, ": w2 ", shape_str(w2.shape()), " for ", R, " x ", C);
  CAGE_CHECK(!b1.defined() || b1.numel() == R, op, ": b1 ", shape_str(b1.shape()), " for ", R);
  CAGE_CHECK(!b2.defined() || b2.numel() == C, op, ": b2 ", shape_str(b2.shape()), " for ", C);
  // Without opting in to more, a block has 48 KiB of shared memory: C up to about 2900 channels.
  CAGE_CHECK(squeeze_excitation_shared_bytes(C, R) <= 48 * 1024, op, ": ", C, " channels and ", R,
             " squeezed need more shared memory than a block has");
  return {x.size(0), x.size(1) * x.size(2), C, R};
}
}  // namespace

void squeeze_excitation_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                                const Tensor& b2, const Tensor& y) {
  const char* n = "squeeze_excitation_forward";
  const se_dims d = dims_of(x, w1, b1, w2, b2, n);
  squeeze_excitation_forward(f32(x, n, "x"), f32(w1, n, "w1"), f32_or_null(b1, n, "b1"), f32(w2, n, "w2"),
                             f32_or_null(b2, n, "b2"), f32(y, n, "y"), d.N, d.HW, d.C, d.R, stream());
  check_launch(n);
}

void squeeze_excitation_backward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                                 const Tensor& b2, const Tensor& gy, const Tensor& gx, const Tensor& gw1,
                                 const Tensor& gb1, const Tensor& gw2, const Tensor& gb2) {
  const char* n = "squeeze_excitation_backward";
  const se_dims d = dims_of(x, w1, b1, w2, b2, n);
  Tensor scratch = device_empty({squeeze_excitation_scratch_floats(d.N, d.C, d.R)});
  squeeze_excitation_backward(f32(x, n, "x"), f32(w1, n, "w1"), f32_or_null(b1, n, "b1"), f32(w2, n, "w2"),
                              f32_or_null(b2, n, "b2"), f32(gy, n, "gy"), f32_or_null(gx, n, "gx"),
                              f32_or_null(gw1, n, "gw1"), f32_or_null(gb1, n, "gb1"), f32_or_null(gw2, n, "gw2"),
                              f32_or_null(gb2, n, "gb2"), f32(scratch, n, "scratch"), d.N, d.HW, d.C, d.R, stream());
  check_launch(n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
