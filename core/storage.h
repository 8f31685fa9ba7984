// Storage: a reference-counted block of device memory, obtained from that device's allocator.
#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace cage {

// Per-device allocator. The CPU one hands out 64-byte aligned blocks and keeps freed blocks in
// power-of-two size classes for reuse, so a training step re-uses the previous step's memory.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual void release_cached() = 0;  // give cached blocks back to the system
};

Allocator& allocator_for(Device d);  // Error when the device has no backend in this build
// Backends outside core (the CUDA emulator, the CUDA backend) register their device's allocator once at start-up;
// the allocator must live until the end of the program. The CPU allocator is built in.
void register_allocator(Device d, Allocator* allocator);

struct CpuAllocatorStats {
  size_t allocations = 0;  // calls to allocate()
  size_t pool_hits = 0;    // served from the cache
  size_t cached_bytes = 0; // bytes held in the cache now
};
CpuAllocatorStats cpu_allocator_stats();

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

using StoragePtr = std::shared_ptr<Storage>;

}  // namespace cage
