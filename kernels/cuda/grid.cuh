// Launch sizing of the grid-stride kernels: kThreads threads a block, one block per kThreads elements up to
// max_blocks (enough to fill any listed GPU; the grid-stride loop covers the rest), at least one block.
// Host-side code of the portable subset: include from .cu files, after portable.cuh.
#pragma once
#include <cstdint>

namespace cage::CAGE_GPU_NAMESPACE {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;

inline unsigned blocks_for(int64_t n, int64_t max_blocks = kMaxBlocks) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b < max_blocks ? b : max_blocks));
}

}  // namespace cage::CAGE_GPU_NAMESPACE
