// Per-column sums over many rows, parallel and deterministic: rows are split into a fixed number of chunks
// (independent of the thread count), each chunk accumulates into its own double buffer, and the buffers
// are added in chunk order. Used for normalisation statistics and bias/scale gradients.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace cage::kernels {

// body(row_begin, row_end, acc) adds its rows' contributions into acc[0 .. width*slots).
template <typename F>
std::vector<double> column_reduce(int64_t rows, int64_t width, F&& body) {
  constexpr int64_t kChunks = 32;
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(kChunks, rows / 64));
  std::vector<std::vector<double>> partial(chunks, std::vector<double>(width, 0.0));
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) body(rows * c / chunks, rows * (c + 1) / chunks, partial[c].data());
  });
  std::vector<double> total(width, 0.0);
  for (auto& p : partial)
    for (int64_t i = 0; i < width; ++i) total[i] += p[i];
  return total;
}

// Inside a column_reduce body: rows [r0, r1) added into acc[0 .. width) through short runs of 16 rows summed in T
// (vectorised at T's full width; a double accumulator per element halves the lanes and converts every value),
// each run then added to the double accumulator. add_row(r, run) adds row r's contributions into run.
template <typename T, typename F>
void add_rows_in_runs(int64_t r0, int64_t r1, int64_t width, double* acc, F&& add_row) {
  constexpr int64_t kRun = 16;
  std::vector<T> run(static_cast<size_t>(width));
  for (int64_t b = r0; b < r1; b += kRun) {
    std::fill(run.begin(), run.end(), T(0));
    for (int64_t r = b; r < std::min(r1, b + kRun); ++r) add_row(r, run.data());
    for (int64_t i = 0; i < width; ++i) acc[i] += static_cast<double>(run[i]);
  }
}

}  // namespace cage::kernels
