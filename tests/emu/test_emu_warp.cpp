// Emulated warp collectives against a host model of CUDA's semantics: shuffles (idx, up, down, xor; widths 8 and
// 16), sm_80 reductions, match_any, votes with divergent predicates and masks, and a partial warp.
#include <gtest/gtest.h>

#include <vector>

#include "emu/emu_test_util.h"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

std::vector<int> warp_inputs(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = (i * 37 + 11) % 61;
  return v;
}

TEST(EmuWarp, Shuffles) {
  const int threads = 128;
  const std::vector<int> v = warp_inputs(threads);
  device_buffer<int> in(v), out(9 * threads);
  warp_shuffles(in.get(), out.get(), threads);
  expect_launch_ok();
  const std::vector<int> got = out.download();
  for (int t = 0; t < threads; ++t) {
    const int lane = t % 32, base = t - lane;
    int sum = 0, scan = 0;
    for (int l = 0; l < 32; ++l) sum += v[base + l];
    for (int l = 0; l <= lane; ++l) scan += v[base + l];
    unsigned same = 0;
    for (int l = 0; l < 32; ++l) same |= unsigned(v[base + l] % 4 == v[t] % 4) << l;
    const int* o = &got[9 * t];
    EXPECT_EQ(o[0], sum) << "xor butterfly, thread " << t;
    if (lane == 0) {
      EXPECT_EQ(o[1], sum) << "shfl_down tree, thread " << t;
    }
    EXPECT_EQ(o[2], scan) << "shfl_up scan, thread " << t;
    EXPECT_EQ(o[3], v[base + 5]) << "broadcast, thread " << t;
    EXPECT_EQ(o[4], v[base + (lane & ~7) + 2]) << "width-8 broadcast, thread " << t;
    EXPECT_EQ(o[5], lane % 16 + 3 < 16 ? v[t + 3] : v[t]) << "width-16 shfl_down, thread " << t;
    EXPECT_EQ(o[6], v[base + (lane ^ 1)]) << "float xor swap, thread " << t;
    EXPECT_EQ(o[7], sum) << "__reduce_add_sync, thread " << t;
    EXPECT_EQ(unsigned(o[8]), same) << "__match_any_sync, thread " << t;
  }
}

TEST(EmuWarp, VotesWithDivergentPredicatesAndMasks) {
  const int threads = 64;
  std::vector<int> v = warp_inputs(threads);
  for (int l = 32; l < 48; ++l) v[l] = 6 + l;  // warp 1: lanes 0-15 all > 5
  device_buffer<int> in(v);
  device_buffer<unsigned> out(5 * threads);
  warp_votes(in.get(), out.get(), threads);
  expect_launch_ok();
  const std::vector<unsigned> got = out.download();
  for (int w = 0; w < 2; ++w) {
    unsigned ballot = 0, odd = 0;
    bool all_pos = true, low_all = true, high_any = false;
    for (int l = 0; l < 32; ++l) {
      const int x = v[32 * w + l];
      ballot |= unsigned(x > 10) << l;
      if (l & 1) odd |= unsigned(x > 10) << l;
      all_pos &= x > 0;
      if (l < 16) low_all &= x > 5;
      else high_any |= x > 50;
    }
    for (int l = 0; l < 32; ++l) {
      const unsigned* o = &got[5 * (32 * w + l)];
      EXPECT_EQ(o[0], ballot) << "warp " << w << " lane " << l;
      EXPECT_EQ(o[1], unsigned(ballot != 0)) << "warp " << w << " lane " << l;
      EXPECT_EQ(o[2], unsigned(all_pos)) << "warp " << w << " lane " << l;
      EXPECT_EQ(o[3], (l & 1) ? odd : 0u) << "warp " << w << " lane " << l;
      EXPECT_EQ(o[4], unsigned(l < 16 ? low_all : high_any)) << "warp " << w << " lane " << l;
    }
  }
  // The inputs make every vote non-trivial somewhere, so a vote that ignored its inputs would fail above.
  EXPECT_NE(got[0], 0u);
  EXPECT_NE(got[0], 0xffffffffu);
}

TEST(EmuWarp, PartialWarpUsesOnlyItsLiveLanes) {
  std::vector<int> v(48);
  for (int i = 0; i < 48; ++i) v[i] = i + 1;
  device_buffer<int> in(v), out(96);
  partial_warp(in.get(), out.get());
  expect_launch_ok();
  const std::vector<int> got = out.download();
  const int sum0 = 32 * 33 / 2, sum1 = (33 + 48) * 16 / 2;
  for (int t = 0; t < 48; ++t) {
    EXPECT_EQ(got[2 * t], t < 32 ? sum0 : sum1) << "thread " << t;
    EXPECT_EQ(got[2 * t + 1], t < 32 ? 32 : 16) << "thread " << t;
  }
}

}  // namespace
}  // namespace cage_test
