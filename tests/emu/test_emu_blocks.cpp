// Emulated kernels that use block-level features: barriers with static and dynamic shared memory, barrier votes,
// 1024-thread blocks, 3D index mapping, by-value parameters and a tiled transpose; serial and parallel runs agree.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "emu/emu_test_util.h"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

std::vector<float> ramp_values(int n) {  // small integers: every partial sum is exact in float
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = float((i * 7919) % 23) - 11.0f;
  return v;
}

std::vector<double> reference_block_sums(const std::vector<float>& v, int per_block) {
  std::vector<double> sums((v.size() + per_block - 1) / per_block, 0.0);
  for (size_t i = 0; i < v.size(); ++i) sums[i / per_block] += v[i];
  return sums;
}

TEST(EmuBlocks, StaticSharedReductionIsExact) {
  for (bool serial : {true, false}) {
    emu_mode mode(2, serial);
    const int n = 100003;  // a partial last block
    const std::vector<float> host = ramp_values(n);
    device_buffer<float> in(host), sums((n + 255) / 256);
    block_sum_static(in.get(), sums.get(), n);
    expect_launch_ok();
    const std::vector<float> got = sums.download();
    const std::vector<double> want = reference_block_sums(host, 256);
    for (size_t b = 0; b < want.size(); ++b) ASSERT_EQ(double(got[b]), want[b]) << "block " << b;
    EXPECT_EQ(std::accumulate(got.begin(), got.end(), 0.0), std::accumulate(host.begin(), host.end(), 0.0));
  }
}

TEST(EmuBlocks, DynamicSharedReductionForSeveralBlockSizes) {
  const int n = 5000;
  const std::vector<float> host = ramp_values(n);
  device_buffer<float> in(host);
  for (int threads : {32, 64, 512, 1024}) {
    device_buffer<float> sums((n + threads - 1) / threads);
    block_sum_dynamic(in.get(), sums.get(), n, threads);
    expect_launch_ok();
    const std::vector<float> got = sums.download();
    const std::vector<double> want = reference_block_sums(host, threads);
    for (size_t b = 0; b < want.size(); ++b) ASSERT_EQ(double(got[b]), want[b]) << threads << " threads, block " << b;
  }
}

TEST(EmuBlocks, SyncthreadsCountAndOr) {
  const int n = 128 * 3 + 50;
  std::vector<float> host(n);
  for (int i = 0; i < n; ++i) host[i] = float(i % 5);
  for (int i = 128; i < 256; ++i) host[i] = 9.0f;  // block 1: every predicate true
  device_buffer<float> in(host);
  device_buffer<int> out(3 * 4);
  block_votes(in.get(), out.get(), n, 2.5f);
  expect_launch_ok();
  const std::vector<int> got = out.download();
  for (int b = 0; b < 4; ++b) {
    int count = 0, all = 1, any = 0;
    for (int i = b * 128; i < (b + 1) * 128; ++i) {
      const int p = i < n && host[i] > 2.5f;
      count += p, all &= p, any |= p;
    }
    EXPECT_EQ(got[3 * b], count) << "block " << b;
    EXPECT_EQ(got[3 * b + 1], all) << "block " << b;
    EXPECT_EQ(got[3 * b + 2], any) << "block " << b;
  }
}

TEST(EmuBlocks, ThousandTwentyFourThreadsPerBlock) {
  const int blocks = 6;
  std::vector<int> host(blocks * 1024);
  for (size_t i = 0; i < host.size(); ++i) host[i] = int(i % 1000) - 300;
  device_buffer<int> in(host), sums(blocks), ids(blocks * 1024);
  big_block_sum(in.get(), sums.get(), ids.get(), blocks);
  expect_launch_ok();
  const std::vector<int> got = sums.download(), got_ids = ids.download();
  for (int b = 0; b < blocks; ++b) {
    EXPECT_EQ(got[b], std::accumulate(host.begin() + b * 1024, host.begin() + (b + 1) * 1024, 0)) << "block " << b;
    for (int t = 0; t < 1024; ++t) ASSERT_EQ(got_ids[b * 1024 + t], t);
  }
}

TEST(EmuBlocks, ThreeDimensionalIndexMapping) {
  device_buffer<int> out(12 * 1024);
  out.fill_bytes(0xff);
  index_map_3d(out.get());
  expect_launch_ok();
  const std::vector<int> got = out.download();
  for (int block = 0; block < 12; ++block)
    for (int z = 0; z < 16; ++z)
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x)
          ASSERT_EQ(got[block * 1024 + (z * 8 + y) * 8 + x], x + 100 * y + 10000 * z + 1000000 * block);
}

TEST(EmuBlocks, EveryThreadGetsItsOwnCopyOfTheParameters) {
  device_buffer<int> out(128);
  param_copies(out.get(), 64, 37);
  expect_launch_ok();
  for (int steps : out.download()) ASSERT_EQ(steps, 37);
}

TEST(EmuBlocks, TransposeThroughPaddedTile) {
  for (auto [rows, cols] : {std::pair{64, 96}, std::pair{70, 45}, std::pair{1, 33}}) {
    std::vector<float> host(rows * cols);
    for (int i = 0; i < rows * cols; ++i) host[i] = float(i);
    device_buffer<float> in(host), out(rows * cols);
    transpose(in.get(), out.get(), rows, cols);
    expect_launch_ok();
    const std::vector<float> got = out.download();
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) ASSERT_EQ(got[c * rows + r], host[r * cols + c]) << rows << "x" << cols;
  }
}

}  // namespace
}  // namespace cage_test
