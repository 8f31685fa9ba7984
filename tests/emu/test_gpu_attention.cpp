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
#include "emu/gpu_compare.h"
#include "kernels/attention.h"
#include "kernels/device.h"

namespace cage_test {
namespace {

using cage::kernels::AttentionPartition;
using cage::kernels::RelposAttentionParams;

// Measured max |err| over these cases (inputs of magnitude ~1): out and gqkv 4.8e-7, gtable 1.5e-6.
constexpr double kAtol = 2e-6, kRtol = 1e-5;            // out, gqkv
constexpr double kTableAtol = 1e-5, kTableRtol = 1e-5;  // gtable: sums of dS over every group

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
  const Tensor qkv = random_tensor({c.B, c.H, c.W, 3 * c.C}, seed, -2.0f, 2.0f);
  const Tensor table = random_tensor({T, c.heads}, seed + 1, -1.0f, 1.0f);
  const Tensor gout = random_tensor({c.B, c.H, c.W, c.C}, seed + 2, -1.0f, 1.0f);
  const Tensor out = Tensor::empty({c.B, c.H, c.W, c.C});
  const Tensor gqkv = Tensor::empty(qkv.shape()), gtable = Tensor::empty(table.shape());
  cage::kernels::relpos_attention_forward(qkv, table, p, out);
  cage::kernels::relpos_attention_backward(qkv, table, gout, p, gqkv, gtable);

  const Tensor dqkv = qkv.to(Device::emu), dtable = table.to(Device::emu), dgout = gout.to(Device::emu);
  const Tensor dout = nan_tensor(out.shape(), Device::emu), dgqkv = nan_tensor(qkv.shape(), Device::emu),
               dgtable = nan_tensor(table.shape(), Device::emu);
  cage::kernels::relpos_attention_forward(dqkv, dtable, p, dout);
  cage::kernels::relpos_attention_backward(dqkv, dtable, dgout, p, dgqkv, dgtable);
  const std::string n = name(c);
  check_close(n + " out", dout, out, kAtol, kRtol);
  check_close(n + " gqkv", dgqkv, gqkv, kAtol, kRtol);
  check_close(n + " gtable", dgtable, gtable, kTableAtol, kTableRtol);
}

class GpuAttention : public EmuTest {};

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
    const Tensor qkv = random_tensor({2, 9, 6, 3 * C}, 7, -2.0f, 2.0f).to(Device::emu);
    const Tensor table = random_tensor({25, 2}, 8, -1.0f, 1.0f).to(Device::emu);
    const Tensor gout = random_tensor({2, 9, 6, C}, 9, -1.0f, 1.0f).to(Device::emu);
    auto backward = [&](bool want_gqkv, bool want_gtable, bool serial) {
      emu_mode mode(serial ? 1 : 2, serial);
      Tensor gqkv = want_gqkv ? nan_tensor(qkv.shape(), Device::emu) : Tensor();
      Tensor gtable = want_gtable ? nan_tensor(table.shape(), Device::emu) : Tensor();
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
  const Tensor qkv = random_tensor({1, 4, 4, 12}, 1, -1.0f, 1.0f).to(Device::emu);
  const Tensor table = random_tensor({9, 1}, 2, -1.0f, 1.0f).to(Device::emu);
  EXPECT_THROW(cage::kernels::relpos_attention_forward(qkv, table, p, nan_tensor({1, 4, 4, 5}, Device::emu)),
               cage::Error);
  EXPECT_THROW(cage::kernels::relpos_attention_backward(qkv, table, nan_tensor({1, 4, 4, 4}, Device::emu), p,
                                                        nan_tensor({1, 4, 4, 4}, Device::emu), Tensor()),
               cage::Error);
}

}  // namespace
}  // namespace cage_test
