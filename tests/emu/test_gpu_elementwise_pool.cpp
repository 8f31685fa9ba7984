// Broadcasting binary ops, sum_to, scale, sum_all (kernels/cuda/{binary,reduce}.cu) and average pooling
// (kernels/cuda/pool.cu) on device emu, through the kernels:: entries (dispatch), against the CPU kernels.
// Binary ops, scale and pooling are bit-exact (one rounding per operation, the CPU's order); sum_to adds in
// another fixed order (float, a few ulp); sum_all adds in double (within 1e-12 of the sum of |x|).
// Inputs cover odd sizes, every broadcast pattern the model uses ((N,1,1,C) * (N,H,W,C), (C) + (N,H,W,C)),
// scalar-like shapes, and transposed, permuted and sliced views. Outputs start as NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "emu/emu_test_util.h"
#include "emu/gpu_compare.h"
#include "kernels/device.h"
#include "kernels/elementwise.h"
#include "kernels/pool.h"

namespace cage_test {
namespace {

namespace k = cage::kernels;

class GpuElementwisePool : public EmuTest {};

// out = a (op) b on both devices, contiguous inputs.
void check_binary(const Tensor& a, const Tensor& b, const std::string& what) {
  const Shape shape = k::broadcast_shape(a.shape(), b.shape());
  for (k::Binary op : {k::Binary::add, k::Binary::sub, k::Binary::mul}) {
    Tensor want = Tensor::empty(shape);
    k::binary_forward(op, a, b, want);
    Tensor got = nan_tensor(shape, Device::emu);
    k::binary_forward(op, a.to(Device::emu), b.to(Device::emu), got);
    expect_close(got, want, 0, 0, what + " op " + std::to_string(static_cast<int>(op)));
  }
}

TEST_F(GpuElementwisePool, BinaryBroadcastPatternsAreExact) {
  check_binary(random_tensor({3, 5, 7}, 1), random_tensor({3, 5, 7}, 2), "same shape");
  check_binary(random_tensor({1000}, 3), random_tensor({1000}, 4), "flat 1000");
  check_binary(random_tensor({2, 1, 1, 33}, 5), random_tensor({2, 5, 7, 33}, 6), "(N,1,1,C) * (N,H,W,C)");
  check_binary(random_tensor({2, 5, 7, 33}, 7), random_tensor({2, 1, 1, 33}, 8), "(N,H,W,C) * (N,1,1,C)");
  check_binary(random_tensor({3, 4, 5, 31}, 9), random_tensor({31}, 10), "(N,H,W,C) + (C)");
  check_binary(random_tensor({4, 1, 6}, 11), random_tensor({4, 5, 6}, 12), "middle broadcast");
  check_binary(random_tensor({7, 1}, 13), random_tensor({1, 33}, 14), "outer (7,1) x (1,33)");
  check_binary(random_tensor({}, 15), random_tensor({7, 5}, 16), "[] with (7,5)");
  check_binary(random_tensor({5, 3}, 17), random_tensor({1}, 18), "(5,3) with (1)");
  check_binary(random_tensor({1, 1}, 19), random_tensor({1}, 20), "(1,1) with (1)");
  check_binary(random_tensor({}, 21), random_tensor({}, 22), "[] with []");
  check_binary(random_tensor({0, 5}, 23), random_tensor({5}, 24), "empty (0,5)");
}

// Device views with the CPU views' strides: the same view of the same base on each device.
template <typename View>
void check_binary_views(const Tensor& base_a, const Tensor& base_b, View view_a, View view_b, const std::string& what) {
  const Tensor a = view_a(base_a), b = view_b(base_b);
  const Tensor da = view_a(base_a.to(Device::emu)), db = view_b(base_b.to(Device::emu));
  ASSERT_EQ(da.strides(), a.strides()) << what;
  const Shape shape = k::broadcast_shape(a.shape(), b.shape());
  for (k::Binary op : {k::Binary::add, k::Binary::sub, k::Binary::mul}) {
    Tensor want = Tensor::empty(shape);
    k::binary_forward(op, a, b, want);
    Tensor got = nan_tensor(shape, Device::emu);
    k::binary_forward(op, da, db, got);
    expect_close(got, want, 0, 0, what + " op " + std::to_string(static_cast<int>(op)));
  }
}

TEST_F(GpuElementwisePool, BinaryNonContiguousInputsAreExact) {
  using F = Tensor (*)(const Tensor&);
  F same = [](const Tensor& t) { return t; };
  F transpose = [](const Tensor& t) { return t.transpose(0, 1); };
  F to_nhwc = [](const Tensor& t) { return t.permute({0, 2, 3, 1}); };
  F sliced = [](const Tensor& t) { return t.slice(1, 3, 36); };
  F last_row = [](const Tensor& t) { return t.slice(0, 4, 5); };
  check_binary_views(random_tensor({33, 7}, 30), random_tensor({7, 33}, 31), transpose, same, "transposed a");
  check_binary_views(random_tensor({33, 7}, 32), random_tensor({33, 7}, 33), transpose, transpose, "both transposed");
  check_binary_views(random_tensor({2, 5, 3, 4}, 34), random_tensor({2, 3, 4, 5}, 35), to_nhwc, same, "NCHW->NHWC");
  check_binary_views(random_tensor({2, 5, 3, 4}, 36), random_tensor({5}, 37), to_nhwc, same, "permuted + (C)");
  check_binary_views(random_tensor({5, 40}, 38), random_tensor({5, 40}, 39), sliced, sliced, "sliced columns");
  check_binary_views(random_tensor({5, 40}, 40), random_tensor({3, 40}, 41), last_row, same, "offset row (1,40) + (3,40)");
}

TEST_F(GpuElementwisePool, BinaryRejectsTooManyDims) {
  // Alternating broadcast over 10 dims leaves 10 dims after merging: more than the kernel takes.
  Shape full(10, 2), alt(10, 2);
  for (size_t d = 0; d < alt.size(); d += 2) alt[d] = 1;
  Tensor a = Tensor::zeros(full, DType::f32, Device::emu), b = Tensor::zeros(alt, DType::f32, Device::emu);
  Tensor out = Tensor::empty(full, DType::f32, Device::emu);
  EXPECT_THROW(k::binary_forward(k::Binary::add, a, b, out), cage::Error);
}

TEST_F(GpuElementwisePool, SumToUndoesBroadcasts) {
  struct Case {
    Shape g, to;
  };
  const std::vector<Case> cases = {
      {{2, 5, 7, 33}, {33}},       {{2, 5, 7, 33}, {2, 1, 1, 33}}, {{2, 5, 7, 33}, {1, 5, 1, 33}},
      {{7, 33}, {7, 1}},           {{7, 33}, {1}},                 {{7, 33}, {}},
      {{3, 4, 5}, {4, 1}},         {{1000, 3}, {3}},               {{9000, 5}, {5}},
      {{3, 1, 5}, {1, 1, 5}},      {{1, 9}, {9}},                  {{4, 6}, {4, 6}},
  };
  int seed = 50;
  for (const Case& c : cases) {
    Tensor g = random_tensor(c.g, seed++);
    Tensor want = k::sum_to(g, c.to);
    Tensor got = k::sum_to(g.to(Device::emu), c.to);
    EXPECT_EQ(got.device(), Device::emu);
    expect_close(got, want, 2e-5, 1e-5, "sum_to " + cage::shape_str(c.g) + " -> " + cage::shape_str(c.to));
  }
  // A transposed gradient.
  Tensor g = random_tensor({33, 6}, 70);
  expect_close(k::sum_to(g.to(Device::emu).transpose(0, 1), {6, 1}), k::sum_to(g.transpose(0, 1), {6, 1}), 2e-5,
               1e-5, "sum_to transposed (6,33) -> (6,1)");
}

// Fixed chunks and a fixed order: blocks run one at a time or spread over 4 threads give the same bits.
TEST_F(GpuElementwisePool, SumsDoNotDependOnBlockScheduling) {
  Tensor g = random_tensor({9000, 5}, 71).to(Device::emu);
  Tensor x = random_tensor({70001}, 72).to(Device::emu);
  std::vector<float> serial_to, parallel_to;
  double serial_all = 0, parallel_all = 0;
  {
    emu_mode mode(1, true);
    serial_to = k::sum_to(g, {5}).to_vector<float>();
    serial_all = k::sum_all(x);
  }
  {
    emu_mode mode(4, false);
    parallel_to = k::sum_to(g, {5}).to_vector<float>();
    parallel_all = k::sum_all(x);
  }
  EXPECT_EQ(serial_to, parallel_to);
  EXPECT_EQ(serial_all, parallel_all);
}

TEST_F(GpuElementwisePool, ScaleIsExact) {
  Tensor x = random_tensor({7, 33}, 80);
  Tensor want = Tensor::empty(x.shape());
  k::scale(x, -0.37, want);
  Tensor got = nan_tensor(x.shape(), Device::emu);
  k::scale(x.to(Device::emu), -0.37, got);
  expect_close(got, want, 0, 0, "scale");
}

TEST_F(GpuElementwisePool, SumAllInDouble) {
  for (int64_t n : {0, 1, 33, 1000, 70001}) {
    Tensor x = random_tensor({n}, 90 + static_cast<unsigned>(n), -3.0f, 3.0f);
    const double want = k::sum_all(x), got = k::sum_all(x.to(Device::emu));
    double mass = 0;
    for (float v : x.to_vector<float>()) mass += std::fabs(v);
    std::printf("  sum_all n=%-6lld |err| %.3g\n", static_cast<long long>(n), std::fabs(got - want));
    EXPECT_LE(std::fabs(got - want), 1e-12 * mass + 1e-300) << n;
  }
  Tensor x = random_tensor({5, 40}, 99);
  EXPECT_NEAR(k::sum_all(x.to(Device::emu).slice(1, 3, 36)), k::sum_all(x.slice(1, 3, 36)), 1e-12);
}

TEST_F(GpuElementwisePool, AvgPool2dForwardAndBackwardAreExact) {
  struct Case {
    Shape x;
    int64_t kernel, stride, padding;
  };
  const std::vector<Case> cases = {{{2, 7, 9, 5}, 3, 2, 1},  {{1, 8, 6, 33}, 2, 2, 0}, {{3, 5, 5, 7}, 3, 1, 1},
                                   {{1, 1, 1, 5}, 1, 1, 0},  {{2, 9, 7, 3}, 4, 3, 2},  {{1, 6, 6, 31}, 3, 3, 0}};
  unsigned seed = 100;
  for (const Case& c : cases)
    for (bool include_pad : {true, false}) {
      const k::Pool2dShape s = k::pool2d_shape(c.x, c.kernel, c.stride, c.padding, include_pad);
      const std::string what = cage::shape_str(c.x) + " k" + std::to_string(c.kernel) + " s" +
                               std::to_string(c.stride) + " p" + std::to_string(c.padding) +
                               (include_pad ? " incl" : " excl");
      Tensor x = random_tensor(c.x, seed++);
      Tensor y = Tensor::empty({s.N, s.Ho, s.Wo, s.C});
      k::avg_pool2d_forward(s, x, y);
      Tensor dy = nan_tensor(y.shape(), Device::emu);
      k::avg_pool2d_forward(s, x.to(Device::emu), dy);
      expect_close(dy, y, 0, 0, "avg_pool2d fwd " + what);

      Tensor gy = random_tensor(y.shape(), seed++);
      Tensor gx = Tensor::empty(c.x);
      k::avg_pool2d_backward(s, gy, gx);
      Tensor dgx = nan_tensor(c.x, Device::emu);
      k::avg_pool2d_backward(s, gy.to(Device::emu), dgx);
      expect_close(dgx, gx, 0, 0, "avg_pool2d bwd " + what);
    }
}

TEST_F(GpuElementwisePool, GlobalAvgPoolIsExact) {
  for (const Shape& shape : std::vector<Shape>{{3, 7, 5, 33}, {1, 1, 1, 5}, {2, 4, 4, 100}}) {
    Tensor x = random_tensor(shape, 200);
    Tensor y = Tensor::empty({shape[0], shape[3]});
    k::global_avg_pool_forward(x, y);
    Tensor dy = nan_tensor(y.shape(), Device::emu);
    k::global_avg_pool_forward(x.to(Device::emu), dy);
    expect_close(dy, y, 0, 0, "global_avg_pool fwd " + cage::shape_str(shape));

    Tensor gy = random_tensor(y.shape(), 201);
    Tensor gx = Tensor::empty(shape);
    k::global_avg_pool_backward(gy, gx);
    Tensor dgx = nan_tensor(shape, Device::emu);
    k::global_avg_pool_backward(gy.to(Device::emu), dgx);
    expect_close(dgx, gx, 0, 0, "global_avg_pool bwd " + cage::shape_str(shape));
  }
}

}  // namespace
}  // namespace cage_test
