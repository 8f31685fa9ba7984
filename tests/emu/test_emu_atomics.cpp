// Emulated atomics from many blocks running in parallel (exact counts), proof that blocks really run concurrently
// on a pool of two threads and one at a time in serial mode, and that fibers and stacks are reused across blocks.
#include <gtest/gtest.h>

#include <vector>

#include "emu/emu_test_util.h"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

TEST(EmuAtomics, HistogramCountsAreExactAndModeIndependent) {
  const int n = 1 << 18, nbins = 37;
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = (i * 2654435761u) >> 7 & 0xffff;
  std::vector<int> want(nbins, 0);
  for (int x : v) ++want[x % nbins];
  device_buffer<int> in(v);
  for (bool serial : {false, true}) {
    emu_mode mode(2, serial);
    device_buffer<int> bins(nbins);
    bins.fill_bytes(0);
    histogram(in.get(), n, bins.get(), nbins, 256, 256);
    expect_launch_ok();
    EXPECT_EQ(bins.download(), want) << (serial ? "serial" : "parallel");
  }
}

TEST(EmuAtomics, AddMaxMinCasExch) {
  emu_mode mode(2, false);
  const int n = 256 * 256;
  device_buffer<atomic_results> r(1);
  atomic_results init{};
  init.imax = -1;
  init.imin = 1;
  r.upload({init});
  atomic_mix(n, r.get());
  expect_launch_ok();
  const atomic_results got = r.download()[0];
  const unsigned long long ids = (unsigned long long)n * (n - 1) / 2;
  EXPECT_EQ(got.fsum, float(n));
  EXPECT_EQ(got.usum, ids);
  EXPECT_EQ(got.imax, n - 1);
  EXPECT_EQ(got.imin, -(n - 1));
  EXPECT_EQ(got.cas_counter, 2 * n);
  EXPECT_EQ(got.exch_sum + (unsigned long long)got.exch_slot, ids);  // the slot started at 0
}

TEST(EmuAtomics, BlocksRunConcurrentlyOnTwoThreads) {
  emu_mode mode(2, false);
  device_buffer<int> active(1), max_active(1);
  active.fill_bytes(0);
  max_active.fill_bytes(0);
  // Each block waits for a second one to be inside at the same time (bounded, so a failure cannot hang).
  concurrency_probe(8, active.get(), max_active.get(), 2000000000LL);
  expect_launch_ok();
  EXPECT_EQ(max_active.download()[0], 2);
  EXPECT_EQ(active.download()[0], 0);
}

TEST(EmuAtomics, SerialModeRunsOneBlockAtATime) {
  emu_mode mode(2, true);
  device_buffer<int> active(1), max_active(1);
  active.fill_bytes(0);
  max_active.fill_bytes(0);
  concurrency_probe(8, active.get(), max_active.get(), 1000);
  expect_launch_ok();
  EXPECT_EQ(max_active.download()[0], 1);
}

TEST(EmuAtomics, FibersAndStacksAreReusedAcrossBlocksAndLaunches) {
  emu_mode mode(2, false);
  const int n = 256 * 64;
  std::vector<float> host(n, 1.0f);
  device_buffer<float> in(host), sums(64);
  block_sum_static(in.get(), sums.get(), n);  // warms up every thread's fiber pool
  expect_launch_ok();
  const cage::emu::Stats before = cage::emu::stats();
  for (int i = 0; i < 5; ++i) block_sum_static(in.get(), sums.get(), n);
  expect_launch_ok();
  const cage::emu::Stats after = cage::emu::stats();
  EXPECT_EQ(after.launches - before.launches, 5u);
  EXPECT_EQ(after.blocks - before.blocks, 5u * 64);
  // 320 blocks of 256 barrier-bound threads, yet no new fiber beyond what a thread that had none would need.
  EXPECT_LE(after.fibers_created - before.fibers_created, 256u);
  for (float s : sums.download()) EXPECT_EQ(s, 256.0f);
}

}  // namespace
}  // namespace cage_test
