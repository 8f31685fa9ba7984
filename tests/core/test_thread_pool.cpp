// The thread pool: parallel_for covers every index exactly once whatever the size and grain, nests,
// propagates exceptions, and survives resizing.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace cage {
namespace {

// Counts how often each index of [begin, end) is visited; also checks chunks stay inside the range.
void expect_exact_cover(int64_t begin, int64_t end, int64_t grain) {
  const int64_t n = end - begin;
  std::unique_ptr<std::atomic<int>[]> hits(new std::atomic<int>[n > 0 ? n : 1]);
  for (int64_t i = 0; i < n; ++i) hits[i] = 0;
  std::atomic<int64_t> outside{0}, empty_chunks{0};
  parallel_for(begin, end, grain, [&](int64_t a, int64_t b) {
    if (a < begin || b > end || a > b) ++outside;
    if (a == b) ++empty_chunks;
    for (int64_t i = a; i < b && i >= begin && i < end; ++i) ++hits[i - begin];
  });
  EXPECT_EQ(outside.load(), 0) << "[" << begin << ", " << end << ") grain " << grain;
  EXPECT_EQ(empty_chunks.load(), 0) << "[" << begin << ", " << end << ") grain " << grain;
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) wrong += hits[i] != 1;
  EXPECT_EQ(wrong, 0) << "[" << begin << ", " << end << ") grain " << grain;
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int64_t n : {0, 1, 2, 7, 64, 1000, 100003})
    for (int64_t grain : {0, 1, 3, 64, 1000, 1 << 20}) {
      expect_exact_cover(0, n, grain);
      expect_exact_cover(5, 5 + n, grain);
    }
  // An empty or reversed range calls nothing.
  bool called = false;
  parallel_for(10, 3, 1, [&](int64_t, int64_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ThreadPool, NestedLoopsRun) {
  const int64_t rows = 37, cols = 53;
  std::vector<std::atomic<int>> hits(rows * cols);
  parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      parallel_for(0, cols, 4, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) ++hits[r * cols + c];
      });
  });
  int64_t wrong = 0;
  for (auto& h : hits) wrong += h != 1;
  EXPECT_EQ(wrong, 0);
}

TEST(ThreadPool, ExceptionsPropagateAndThePoolSurvives) {
  auto body = [](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i)
      if (i == 777) fail("bad index ", i);
  };
  try {
    parallel_for(0, 10000, 16, body);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "bad index 777");
  }
  // Several chunks throwing: one exception comes out, no crash, no deadlock.
  EXPECT_THROW(parallel_for(0, 1000, 1, [](int64_t, int64_t) { throw std::runtime_error("each"); }),
               std::runtime_error);
  expect_exact_cover(0, 5000, 7);
}

TEST(ThreadPool, ResizeAndBack) {
  const int saved = num_threads();
  EXPECT_GE(saved, 1);
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  expect_exact_cover(0, 10000, 10);
  set_num_threads(4);
  EXPECT_EQ(num_threads(), 4);
  expect_exact_cover(0, 10000, 10);
  std::atomic<int64_t> total{0};
  parallel_for(0, 1000, 1, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) total += i;
  });
  EXPECT_EQ(total.load(), 999 * 1000 / 2);
  EXPECT_THROW(set_num_threads(0), Error);
  set_num_threads(saved);
  EXPECT_EQ(num_threads(), saved);
  expect_exact_cover(0, 10000, 10);
}

}  // namespace
}  // namespace cage
