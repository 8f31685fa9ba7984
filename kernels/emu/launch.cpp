// Kernel launches in the emulator: CUDA's launch-time validation (with CUDA's error codes, reported through
// cudaGetLastError), per-kernel attributes, and the distribution of a grid's blocks over the engine's thread pool.
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/thread_pool.h"
#include "kernels/emu/emu.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/scheduler.h"

inline namespace cage_cuda_emu {
namespace detail {
namespace {

std::atomic<int> g_serial{-1};  // -1: not yet read from CAGE_EMU_SERIAL
std::atomic<uint64_t> g_launches{0}, g_blocks{0};

std::mutex g_attr_mu;
std::unordered_map<const void*, int>& dynamic_shared_limits() {
  static auto* m = new std::unordered_map<const void*, int>();
  return *m;
}

bool serial_mode() {
  int s = g_serial.load(std::memory_order_relaxed);
  if (s < 0) {
    const char* env = std::getenv("CAGE_EMU_SERIAL");
    s = env && *env && std::string(env) != "0" ? 1 : 0;
    g_serial.store(s, std::memory_order_relaxed);
  }
  return s == 1;
}

cudaError_t validate(const launch_request& r) {
  const dim3 b = r.block, g = r.grid;
  if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > unsigned(k_max_block_dim[0]) || b.y > unsigned(k_max_block_dim[1]) ||
      b.z > unsigned(k_max_block_dim[2]) || uint64_t(b.x) * b.y * b.z > uint64_t(k_max_threads_per_block))
    return cudaErrorInvalidConfiguration;
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > k_max_grid_dim[0] || g.y > k_max_grid_dim[1] ||
      g.z > k_max_grid_dim[2])
    return cudaErrorInvalidConfiguration;
  if (r.shared_bytes > size_t(max_dynamic_shared(r.kernel))) return cudaErrorInvalidValue;
  if (!valid_stream(r.stream)) return cudaErrorInvalidResourceHandle;
  return cudaSuccess;
}

}  // namespace

int max_dynamic_shared(const void* kernel) {
  std::lock_guard<std::mutex> lock(g_attr_mu);
  auto it = dynamic_shared_limits().find(kernel);
  return it == dynamic_shared_limits().end() ? k_default_shared_per_block : it->second;
}

void launch_kernel(const launch_request& r) {
  if (inside_kernel()) {  // dynamic parallelism is outside the portable subset
    set_last_error(cudaErrorNotSupported);
    return;
  }
  if (cudaError_t e = validate(r); e != cudaSuccess) {
    set_last_error(e);
    return;
  }
  block_job job;
  job.request = &r;
  job.threads_per_block = r.block.x * r.block.y * r.block.z;
  const int64_t blocks = int64_t(r.grid.x) * r.grid.y * r.grid.z;
  if (serial_mode() || blocks == 1) {
    run_blocks(job, 0, blocks);
  } else {
    cage::parallel_for(0, blocks, 1, [&job](int64_t a, int64_t b) { run_blocks(job, a, b); });
  }
  g_launches.fetch_add(1, std::memory_order_relaxed);
  g_blocks.fetch_add(uint64_t(blocks), std::memory_order_relaxed);
  if (job.failed.load()) record_kernel_failure(job.error, job.message);
}

}  // namespace detail

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  using namespace detail;
  if (!func) return set_last_error(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > k_max_shared_per_block_optin) return set_last_error(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(g_attr_mu);
    dynamic_shared_limits()[func] = value;
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) {  // a hint only
    return value < -1 || value > 100 ? set_last_error(cudaErrorInvalidValue) : cudaSuccess;
  }
  return set_last_error(cudaErrorInvalidValue);
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func) {
  using namespace detail;
  if (!attr) return set_last_error(cudaErrorInvalidValue);
  if (!func) return set_last_error(cudaErrorInvalidDeviceFunction);
  *attr = cudaFuncAttributes{};
  attr->maxThreadsPerBlock = k_max_threads_per_block;
  attr->ptxVersion = attr->binaryVersion = 90;
  attr->maxDynamicSharedSizeBytes = max_dynamic_shared(func);
  attr->preferredShmemCarveout = -1;
  return cudaSuccess;
}

}  // namespace cage_cuda_emu

namespace cage::emu {

void set_serial(bool serial) { cage_cuda_emu::detail::g_serial.store(serial ? 1 : 0, std::memory_order_relaxed); }
bool serial() { return cage_cuda_emu::detail::serial_mode(); }

Stats stats() {
  using namespace cage_cuda_emu::detail;
  const scheduler_stats s = get_scheduler_stats();
  Stats out;
  out.launches = g_launches.load(std::memory_order_relaxed);
  out.blocks = g_blocks.load(std::memory_order_relaxed);
  out.fibers_created = s.fibers_created;
  out.fiber_switches = s.fiber_switches;
  return out;
}

}  // namespace cage::emu
