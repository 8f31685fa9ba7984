// Device memory of the emulator: a separate allocator (registered as the allocator of Device::emu, so tensors on the
// emu device and cudaMalloc share it) that keeps a registry of live allocations. The registry is what makes device
// memory distinct from host memory: every copy checks its pointers against the registry and the copy kind, and a
// range that leaves its allocation is an error, as cudaMemcpy would report it (cudaErrorInvalidValue).
// Freed blocks are cached by size class for reuse, except under AddressSanitizer, where every allocation is exact
// so that an access one past the end of a buffer is reported.
#include <bit>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "core/storage.h"
#include "kernels/emu/emu.h"
#include "kernels/emu/internal.h"

extern "C" void __asan_init() __attribute__((weak));  // non-null exactly when the binary runs under ASan

inline namespace cage_cuda_emu {
namespace detail {
namespace {

constexpr size_t k_alignment = 256;  // cudaMalloc's guarantee

class device_allocator final : public cage::Allocator {
 public:
  device_allocator() {
    const char* env = std::getenv("CAGE_EMU_POOL");
    pool_ = !__asan_init && !(env && std::strcmp(env, "0") == 0);
  }

  void* allocate(size_t bytes) override {
    const size_t cls = pool_ ? size_class(bytes) : round_up(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(cache_mu_);
      auto it = cache_.find(cls);
      if (it != cache_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
      }
    }
    if (!p) p = ::operator new(pool_ ? cls : (bytes ? bytes : 1), std::align_val_t(k_alignment), std::nothrow);
    if (!p) throw std::bad_alloc();
    std::unique_lock<std::shared_mutex> lock(registry_mu_);
    live_[reinterpret_cast<uintptr_t>(p)] = bytes;
    in_use_ += bytes;
    return p;
  }

  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    {
      std::unique_lock<std::shared_mutex> lock(registry_mu_);
      auto it = live_.find(reinterpret_cast<uintptr_t>(p));
      if (it == live_.end()) return;  // not ours: the caller checks before (cudaFree reports it)
      bytes = it->second;
      in_use_ -= bytes;
      live_.erase(it);
    }
    if (pool_) {
      std::lock_guard<std::mutex> lock(cache_mu_);
      cache_[size_class(bytes)].push_back(p);
    } else {
      ::operator delete(p, std::align_val_t(k_alignment));
    }
  }

  void release_cached() override {
    std::lock_guard<std::mutex> lock(cache_mu_);
    for (auto& [cls, blocks] : cache_)
      for (void* p : blocks) ::operator delete(p, std::align_val_t(k_alignment));
    cache_.clear();
  }

  // The size of the live allocation starting exactly at p, or -1.
  bool owns_base(const void* p, size_t* bytes) {
    std::shared_lock<std::shared_mutex> lock(registry_mu_);
    auto it = live_.find(reinterpret_cast<uintptr_t>(p));
    if (it == live_.end()) return false;
    if (bytes) *bytes = it->second;
    return true;
  }
  // Whether p lies in a live allocation and, if so, how many bytes of it remain from p on.
  bool contains(const void* p, size_t* remaining) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    std::shared_lock<std::shared_mutex> lock(registry_mu_);
    auto it = live_.upper_bound(a);
    if (it == live_.begin()) return false;
    --it;
    const size_t size = it->second ? it->second : 1;  // a zero-byte allocation still owns its address
    if (a >= it->first + size) return false;
    if (remaining) *remaining = it->first + it->second - a;
    return true;
  }
  size_t in_use() {
    std::shared_lock<std::shared_mutex> lock(registry_mu_);
    return in_use_;
  }

 private:
  static size_t round_up(size_t b) { return (b + k_alignment - 1) / k_alignment * k_alignment; }
  static size_t size_class(size_t bytes) {  // powers of two up to 4 KiB, then quarter steps
    size_t b = bytes < k_alignment ? k_alignment : bytes;
    if (b <= 4096) return std::bit_ceil(b);
    size_t step = std::bit_floor(b) / 4;
    return (b + step - 1) / step * step;
  }

  bool pool_ = true;
  std::shared_mutex registry_mu_;
  std::map<uintptr_t, size_t> live_;  // base -> requested bytes
  size_t in_use_ = 0;
  std::mutex cache_mu_;
  std::unordered_map<size_t, std::vector<void*>> cache_;
};

device_allocator& allocator() {
  static auto* a = new device_allocator();  // never destroyed: storages may outlive static teardown
  return *a;
}

// Registers at start-up so that Storage(bytes, Device::emu) works in any binary that links this file.
[[maybe_unused]] const bool g_registered = (cage::emu::register_device_allocator(), true);

std::mutex g_host_mu;
std::unordered_map<void*, size_t>& pinned() {
  static auto* m = new std::unordered_map<void*, size_t>();
  return *m;
}

// Checks one side of a copy: device sides must be inside one allocation, host sides must not be device memory.
bool side_ok(const void* p, size_t n, bool device) {
  size_t remaining = 0;
  const bool in_device = allocator().contains(p, &remaining);
  return device ? in_device && remaining >= n : !in_device;
}

cudaError_t check_copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return cudaErrorInvalidMemcpyDirection;
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault) {  // unified addressing: the pointers say where they are
    dst_device = allocator().contains(dst, nullptr);
    src_device = allocator().contains(src, nullptr);
  }
  if (!side_ok(dst, n, dst_device) || !side_ok(src, n, src_device)) return cudaErrorInvalidValue;
  return cudaSuccess;
}

}  // namespace

bool is_device_pointer(const void* p) { return allocator().contains(p, nullptr); }
bool is_device_range(const void* p, size_t n) { return side_ok(p, n, true); }

cudaError_t copy_symbol(void* symbol, size_t symbol_size, const void* other, size_t count, size_t offset,
                        cudaMemcpyKind kind, bool to_symbol) {
  if (offset > symbol_size || count > symbol_size - offset) return set_last_error(cudaErrorInvalidValue);
  if (count == 0) return cudaSuccess;
  if (!other) return set_last_error(cudaErrorInvalidValue);
  // The symbol is device memory; `other` is host or device memory as the kind says.
  const bool other_device = kind == cudaMemcpyDeviceToDevice || (kind == cudaMemcpyDefault && is_device_pointer(other));
  const bool kind_ok = kind == cudaMemcpyDeviceToDevice || kind == cudaMemcpyDefault ||
                       kind == (to_symbol ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
  if (!kind_ok) return set_last_error(cudaErrorInvalidMemcpyDirection);
  if (!side_ok(other, count, other_device)) return set_last_error(cudaErrorInvalidValue);
  char* s = static_cast<char*>(symbol) + offset;
  if (to_symbol)
    std::memmove(s, other, count);
  else
    std::memmove(const_cast<void*>(other), s, count);
  return cudaSuccess;
}

}  // namespace detail

using detail::allocator;
using detail::set_last_error;

cudaError_t cudaMalloc(void** dev_ptr, size_t size) {
  if (!dev_ptr) return set_last_error(cudaErrorInvalidValue);
  *dev_ptr = nullptr;
  if (size == 0) return cudaSuccess;
  try {
    *dev_ptr = allocator().allocate(size);
  } catch (const std::bad_alloc&) {
    return set_last_error(cudaErrorMemoryAllocation);
  }
  return cudaSuccess;
}
cudaError_t cudaFree(void* dev_ptr) {
  if (!dev_ptr) return cudaSuccess;
  if (!allocator().owns_base(dev_ptr, nullptr)) return set_last_error(cudaErrorInvalidValue);
  allocator().deallocate(dev_ptr, 0);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** dev_ptr, size_t size, cudaStream_t stream) {
  if (!detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  return cudaMalloc(dev_ptr, size);
}
cudaError_t cudaFreeAsync(void* dev_ptr, cudaStream_t stream) {
  if (!detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  return cudaFree(dev_ptr);
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  if (!ptr) return set_last_error(cudaErrorInvalidValue);
  *ptr = ::operator new(size ? size : 1, std::align_val_t(detail::k_alignment), std::nothrow);
  if (!*ptr) return set_last_error(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(detail::g_host_mu);
  detail::pinned()[*ptr] = size;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(detail::g_host_mu);
  if (!detail::pinned().erase(ptr)) return set_last_error(cudaErrorInvalidValue);
  ::operator delete(ptr, std::align_val_t(detail::k_alignment));
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (cudaError_t e = detail::check_copy(dst, src, count, kind); e != cudaSuccess) return set_last_error(e);
  if (count) std::memmove(dst, src, count);
  return set_last_error(detail::take_pending_error());  // cudaMemcpy synchronises
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = detail::check_copy(dst, src, count, kind); e != cudaSuccess) return set_last_error(e);
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
  if (!detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  if (width > dpitch || width > spitch) return set_last_error(cudaErrorInvalidPitchValue);
  if (width == 0 || height == 0) return cudaSuccess;
  // Check the whole span of each side once, then copy row by row.
  if (cudaError_t e = detail::check_copy(dst, src, 1, kind); e != cudaSuccess) return set_last_error(e);
  const size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
  const bool dst_device = detail::is_device_pointer(dst), src_device = detail::is_device_pointer(src);
  if ((dst_device && !detail::is_device_range(dst, dspan)) || (src_device && !detail::is_device_range(src, sspan)))
    return set_last_error(cudaErrorInvalidValue);
  for (size_t row = 0; row < height; ++row)
    std::memmove(static_cast<char*>(dst) + row * dpitch, static_cast<const char*>(src) + row * spitch, width);
  return cudaSuccess;
}
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
  if (cudaError_t e = cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, 0); e != cudaSuccess) return e;
  return set_last_error(detail::take_pending_error());
}

cudaError_t cudaMemsetAsync(void* dev_ptr, int value, size_t count, cudaStream_t stream) {
  if (!detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  if (count == 0) return cudaSuccess;
  if (!dev_ptr || !detail::is_device_range(dev_ptr, count)) return set_last_error(cudaErrorInvalidValue);
  std::memset(dev_ptr, value, count);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dev_ptr, int value, size_t count) { return cudaMemsetAsync(dev_ptr, value, count, 0); }

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return set_last_error(cudaErrorInvalidValue);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  *total_bytes = p.totalGlobalMem;
  const size_t used = allocator().in_use();
  *free_bytes = used < p.totalGlobalMem ? p.totalGlobalMem - used : 0;
  return cudaSuccess;
}

}  // namespace cage_cuda_emu

namespace cage::emu {
size_t device_bytes_in_use() { return cage_cuda_emu::detail::allocator().in_use(); }
void register_device_allocator() { cage::register_allocator(cage::Device::emu, &cage_cuda_emu::detail::allocator()); }
}  // namespace cage::emu
