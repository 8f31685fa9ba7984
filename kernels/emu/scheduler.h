// Internal interface between the emulator's launch path (launch.cpp) and its block scheduler (scheduler.cpp).
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "kernels/emu/device_emu.h"

inline namespace cage_cuda_emu {
namespace detail {

// One launch being run: shared by every OS thread that runs some of its blocks.
struct block_job {
  const launch_request* request = nullptr;
  unsigned threads_per_block = 0;
  std::atomic<bool> failed{false};  // set by the first failing block; the others stop starting blocks
  std::mutex mu;
  cudaError_t error = cudaSuccess;
  std::string message;

  void fail(cudaError_t e, const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    if (!failed.load(std::memory_order_relaxed)) {
      error = e;
      message = why;
    }
    failed.store(true, std::memory_order_relaxed);
  }
};

// Runs blocks [first, last) (linear block ids, x fastest) of the job on the calling OS thread.
void run_blocks(block_job& job, int64_t first, int64_t last);
bool inside_kernel();  // the calling OS thread is running an emulated block

struct lane_io {  // one lane's side of a warp collective
  uint64_t value, result;
  unsigned mask;
  int param;
  int op, width;
};
// Fills io[l].result for every lane l in `group` (bit l set) of one warp; io points at the warp's lane 0.
void compute_collective(lane_io* io, uint32_t group, int op);

struct scheduler_stats {
  uint64_t fibers_created, fiber_switches;
};
scheduler_stats get_scheduler_stats();

}  // namespace detail
}  // namespace cage_cuda_emu
