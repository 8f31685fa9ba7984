#include "core/storage.h"

#include <atomic>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace cage {

const char* device_name(Device d) {
  switch (d) {
    case Device::cpu: return "cpu";
    case Device::emu: return "emu";
    case Device::cuda: return "cuda";
  }
  return "?";
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  if (name == "emu") return Device::emu;
  if (name == "cuda") return Device::cuda;
  fail("unknown device '", name, "' (expected cpu, emu or cuda)");
}

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMaxPooled = size_t(1) << 31;  // bigger blocks go straight back to the system

class CpuAllocator final : public Allocator {
 public:
  ~CpuAllocator() override { release_cached(); }

  void* allocate(size_t bytes) override {
    size_t cls = size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocations;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      ++stats_.pool_hits;
      stats_.cached_bytes -= cls;
      return p;
    }
    void* p = std::aligned_alloc(kAlignment, cls);
    if (!p) fail("out of host memory allocating ", cls, " bytes");
    return p;
  }

  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    size_t cls = size_class(bytes);
    if (cls > kMaxPooled) {
      std::free(p);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    free_[cls].push_back(p);
    stats_.cached_bytes += cls;
  }

  void release_cached() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }

  CpuAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  // Size classes: powers of two up to 4 KiB, then quarter steps between powers of two (at most 25%
  // slack). aligned_alloc needs a multiple of the alignment, which every class is.
  static size_t size_class(size_t bytes) {
    size_t b = bytes < kAlignment ? kAlignment : bytes;
    if (b <= 4096) return std::bit_ceil(b);
    size_t step = std::bit_floor(b) / 4;
    return (b + step - 1) / step * step;
  }

  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  CpuAllocatorStats stats_;
};

CpuAllocator& cpu_allocator() {
  static CpuAllocator* a = new CpuAllocator();  // never destroyed: storages may outlive static teardown
  return *a;
}

// Registered by other libraries from their static initialisers: constant-initialised, so order does not matter.
std::atomic<Allocator*> g_registered[3] = {};

}  // namespace

void register_allocator(Device d, Allocator* allocator) {
  CAGE_CHECK(d != Device::cpu, "the cpu allocator is built in and cannot be replaced");
  g_registered[static_cast<int>(d)].store(allocator, std::memory_order_release);
}

Allocator& allocator_for(Device d) {
  if (d == Device::cpu) return cpu_allocator();
  if (Allocator* a = g_registered[static_cast<int>(d)].load(std::memory_order_acquire)) return *a;
  fail("device '", device_name(d), "' has no backend in this build");
}

CpuAllocatorStats cpu_allocator_stats() { return cpu_allocator().stats(); }

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = allocator_for(device).allocate(bytes);
}

Storage::~Storage() { allocator_for(device_).deallocate(data_, bytes_); }

}  // namespace cage
