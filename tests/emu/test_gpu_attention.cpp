// The fused relative-position window / grid attention (kernels/cuda/attention.cu) on device emu against the CPU
// oracle (kernels/cpu/attention.cpp), through the Tensor-level kernels:: entries: random float32 qkv, table and
// output gradient made on the CPU, moved to emu, forward and backward dispatched there and compared element-wise with
// |gpu - cpu| <= atol + rtol * |cpu| (max errors printed). Outputs are pre-filled with NaN so an element a kernel
// forgets to write fails. Shapes: small odd configurations (P 2-3, head width 4-5, 1-3 heads, square and H != W), head
// width 32 with 9, 49 and 64 tokens (the register-tiled forward), the MaxViT-T stage-1 geometry, and a head width
// whose backward needs the shared-memory opt-in above 48 KB.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "emu/emu_test_util.h"
#include "kernels/attention.h"
#include "kernels/device.h"

namespace cage_test {
namespace {

using cage::Device;
using cage::DType;
using cage::Tensor;
using cage::kernels::AttentionPartition;
using cage::kernels::RelposAttentionParams;

// Measured max |err| over these cases (inputs of magnitude ~1): out and gqkv 4.8e-7, gtable 1.5e-6.
constexpr double kAtol = 2e-6, kRtol = 1e-5;            // out, gqkv
constexpr double kTableAtol = 1e-5, kTableRtol = 1e-5;  // gtable: sums of dS over every group

Tensor random_cpu(const cage::Shape& shape, float lo, float hi, unsigned seed) {
  return Tensor::from_vector(random_values(size_t(cage::shape_numel(shape)), lo, hi, seed), shape);
}

Tensor nan_on_emu(const cage::Shape& shape) { return Tensor::full(shape, NAN, DType::f32, Device::emu); }

void check(const std::string& what, const Tensor& gpu, const Tensor& cpu, double atol, double rtol) {
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  const std::vector<float> got = gpu.to(Device::cpu).to_vector<float>(), want = cpu.to_vector<float>();
  double max_err = 0;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (!(err <= atol + rtol * std::fabs(double(want[i])))) ++bad;
    max_err = std::isnan(err) ? INFINITY : std::max(max_err, err);
  }
  std::printf("  %-52s max |err| %.3g\n", what.c_str(), max_err);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " elements off, max |err| " << max_err;
}

struct config {
  AttentionPartition kind;
  int64_t B, H, W, C, heads, P;
};

std::string name(const config& c) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s B%lld %lldx%lld C%lld heads%lld P%lld",
                c.kind == AttentionPartition::window ? "window" : "grid", (long long)c.B, (long long)c.H,
                (long long)c.W, (long long)c.C, (long long)c.heads, (long long)c.P);
  return buf;
}

// Forward and backward of one configuration on emu against the CPU.
void run_case(const config& c, unsigned seed) {
  RelposAttentionParams p;
  p.kind = c.kind;
  p.partition = c.P;
  p.heads = c.heads;
  p.scale = 1.0 / std::sqrt(double(c.C / c.heads));
  const int64_t T = (2 * c.P - 1) * (2 * c.P - 1);
  const Tensor qkv = random_cpu({c.B, c.H, c.W, 3 * c.C}, -2.0f, 2.0f, seed);
  const Tensor table = random_cpu({T, c.heads}, -1.0f, 1.0f, seed + 1);
  const Tensor gout = random_cpu({c.B, c.H, c.W, c.C}, -1.0f, 1.0f, seed + 2);
  const Tensor out = Tensor::empty({c.B, c.H, c.W, c.C});
  const Tensor gqkv = Tensor::empty(qkv.shape()), gtable = Tensor::empty(table.shape());
  cage::kernels::relpos_attention_forward(qkv, table, p, out);
  cage::kernels::relpos_attention_backward(qkv, table, gout, p, gqkv, gtable);

  const Tensor dqkv = qkv.to(Device::emu), dtable = table.to(Device::emu), dgout = gout.to(Device::emu);
  const Tensor dout = nan_on_emu(out.shape()), dgqkv = nan_on_emu(qkv.shape()), dgtable = nan_on_emu(table.shape());
  cage::kernels::relpos_attention_forward(dqkv, dtable, p, dout);
  cage::kernels::relpos_attention_backward(dqkv, dtable, dgout, p, dgqkv, dgtable);
  const std::string n = name(c);
  check(n + " out", dout, out, kAtol, kRtol);
  check(n + " gqkv", dgqkv, gqkv, kAtol, kRtol);
  check(n + " gtable", dgtable, gtable, kTableAtol, kTableRtol);
}

class GpuAttention : public ::testing::Test {
 protected:
  void SetUp() override { cage::kernels::use_device(Device::emu); }
};

TEST_F(GpuAttention, SmallOddConfigsMatchCpu) {
  const config cases[] = {
      {AttentionPartition::window, 1, 4, 4, 4, 1, 2},   // H = W = 2P, D = 4
      {AttentionPartition::grid, 1, 4, 4, 4, 1, 2},
      {AttentionPartition::window, 2, 6, 9, 10, 2, 3},  // H != W (2P x 3P), D = 5
      {AttentionPartition::grid, 2, 6, 9, 10, 2, 3},
      {AttentionPartition::window, 1, 9, 6, 15, 3, 3},  // 3 heads of 5
      {AttentionPartition::grid, 2, 9, 6, 15, 3, 3},
      {AttentionPartition::window, 1, 3, 3, 12, 3, 3},  // one group: H = W = P
      {AttentionPartition::grid, 1, 6, 6, 8, 2, 3},     // D = 4
      {AttentionPartition::window, 1, 6, 9, 64, 2, 3},  // D = 32, N = 9: the register-tiled forward, one column
      {AttentionPartition::grid, 2, 9, 6, 64, 2, 3},
      {AttentionPartition::grid, 1, 8, 16, 32, 1, 8},   // D = 32, N = 64: the tiled forward's widest case
      {AttentionPartition::grid, 2, 12, 14, 6, 2, 2},  // 84 (batch, group) partial tables: several per lane
  };
  unsigned seed = 10;
  for (const config& c : cases) run_case(c, seed += 3);
}

// N = 49 tokens, head width 32 (the register-tiled forward, two columns per lane): MaxViT-T's first-stage shapes on
// a 28 x 28 feature map.
TEST_F(GpuAttention, MaxvitStageOneGeometryMatchesCpu) {
  run_case({AttentionPartition::window, 1, 28, 28, 64, 2, 7}, 100);
  run_case({AttentionPartition::grid, 1, 28, 28, 64, 2, 7}, 200);
}

// Head width 64 with P = 7 (the generic forward): the backward's tiles take 71 KB of shared memory, above the 48 KB
// default.
TEST_F(GpuAttention, WideHeadsOptInToLargeSharedMemory) {
  run_case({AttentionPartition::window, 1, 7, 14, 64, 1, 7}, 300);
}

// Skipping one gradient gives the other unchanged, and gtable is identical across runs and block schedules; for the
// generic kernel (head width 5) and the tiled one (head width 32).
TEST_F(GpuAttention, BackwardSkipsAndIsDeterministic) {
  for (const int64_t C : {10, 64}) {
    RelposAttentionParams p;
    p.kind = AttentionPartition::grid;
    p.partition = 3;
    p.heads = 2;
    p.scale = 0.45;
    const Tensor qkv = random_cpu({2, 9, 6, 3 * C}, -2.0f, 2.0f, 7).to(Device::emu);
    const Tensor table = random_cpu({25, 2}, -1.0f, 1.0f, 8).to(Device::emu);
    const Tensor gout = random_cpu({2, 9, 6, C}, -1.0f, 1.0f, 9).to(Device::emu);
    auto backward = [&](bool want_gqkv, bool want_gtable, bool serial) {
      emu_mode mode(serial ? 1 : 2, serial);
      Tensor gqkv = want_gqkv ? nan_on_emu(qkv.shape()) : Tensor();
      Tensor gtable = want_gtable ? nan_on_emu(table.shape()) : Tensor();
      cage::kernels::relpos_attention_backward(qkv, table, gout, p, gqkv, gtable);
      return std::pair<std::vector<float>, std::vector<float>>(
          want_gqkv ? gqkv.to(Device::cpu).to_vector<float>() : std::vector<float>(),
          want_gtable ? gtable.to(Device::cpu).to_vector<float>() : std::vector<float>());
    };
    const auto both = backward(true, true, false);
    for (float x : both.first) ASSERT_FALSE(std::isnan(x)) << C;
    for (float x : both.second) ASSERT_FALSE(std::isnan(x)) << C;
    EXPECT_EQ(backward(true, false, true).first, both.first) << C;
    EXPECT_EQ(backward(false, true, true).second, both.second) << C;
    EXPECT_EQ(backward(true, true, false).second, both.second) << C;
    backward(false, false, false);  // nothing to write: a no-op
  }
}

TEST_F(GpuAttention, WrongOutputShapeThrows) {
  RelposAttentionParams p;
  p.partition = 2;
  const Tensor qkv = random_cpu({1, 4, 4, 12}, -1.0f, 1.0f, 1).to(Device::emu);
  const Tensor table = random_cpu({9, 1}, -1.0f, 1.0f, 2).to(Device::emu);
  EXPECT_THROW(cage::kernels::relpos_attention_forward(qkv, table, p, nan_on_emu({1, 4, 4, 5})), cage::Error);
  EXPECT_THROW(cage::kernels::relpos_attention_backward(qkv, table, nan_on_emu({1, 4, 4, 4}), p,
                                                        nan_on_emu({1, 4, 4, 4}), Tensor()),
               cage::Error);
}

}  // namespace
}  // namespace cage_test
