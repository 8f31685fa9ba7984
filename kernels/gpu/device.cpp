// A GPU device as the core sees it: the caching allocator behind Storage, and the data movement of core's
// DeviceOps (copies with any strides and to/from the host, fill, gradient accumulation).
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/cpu_basic.h"
#include "core/device_ops.h"
#include "kernels/cuda/copy.cuh"
#include "kernels/gpu/common.h"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

// Caching allocator: cudaMalloc/cudaFree are slow and synchronise the device, so freed blocks are kept by size
// class and handed out again (every op runs on one stream, so a block freed by the host is free for the next op).
// Size classes: multiples of 512 B up to 1 MiB, of 2 MiB above. On out-of-memory the cache is released and the
// allocation retried once before an Error with the figures.
class caching_allocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    const size_t cls = size_class(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= cls;
        in_use_ += cls;
        return p;
      }
    }
    void* p = nullptr;
    if (cudaMalloc(&p, cls) != cudaSuccess) {
      (void)cudaGetLastError();
      release_cached();
      cudaError_t e = cudaMalloc(&p, cls);
      if (e != cudaSuccess)
        fail(device_name(kDevice), " out of memory: ", bytes, " bytes requested, ", in_use_, " bytes in use (",
             cudaGetErrorString(e), ")");
    }
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ += cls;
    return p;
  }

  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    const size_t cls = size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    free_[cls].push_back(p);
    in_use_ -= cls;
    cached_ += cls;
  }

  void release_cached() override {
    std::lock_guard<std::mutex> lock(mu_);
    (void)cudaDeviceSynchronize();
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) (void)cudaFree(p);
    free_.clear();
    cached_ = 0;
  }

 private:
  static size_t size_class(size_t bytes) {
    if (bytes == 0) bytes = 1;
    const size_t small = 512, big = size_t(2) << 20;
    return bytes <= (size_t(1) << 20) ? (bytes + small - 1) / small * small : (bytes + big - 1) / big * big;
  }

  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  size_t in_use_ = 0, cached_ = 0;
};

copy_layout layout_of(const Tensor& t) {
  CAGE_CHECK(t.dim() <= kCopyMaxDims, "copy on ", device_name(kDevice), ": ", describe(t), " has more than ",
             kCopyMaxDims, " dimensions");
  copy_layout l;
  l.dims = static_cast<int>(t.dim());
  for (int d = 0; d < l.dims; ++d) {
    l.size[d] = t.shape()[d];
    l.stride[d] = t.strides()[d];
  }
  return l;
}

// dst = src, both on this device, same dtype.
void copy_on_device(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  const int eb = static_cast<int>(dtype_size(dst.dtype()));
  if (n == 0) return;
  if (dst.is_contiguous() && src.is_contiguous()) {
    check_cuda(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), n * eb, cudaMemcpyDeviceToDevice, stream()),
               "copy on device");
    return;
  }
  if (dst.is_contiguous()) {
    strided_gather(src.raw_data(), layout_of(src), dst.raw_data(), n, eb, stream());
    return check_launch("strided_gather");
  }
  Tensor packed = src;
  if (!src.is_contiguous()) {
    packed = device_empty(src.shape(), src.dtype());
    strided_gather(src.raw_data(), layout_of(src), packed.raw_data(), n, eb, stream());
    check_launch("strided_gather");
  }
  strided_scatter(packed.raw_data(), dst.raw_data(), layout_of(dst), n, eb, stream());
  check_launch("strided_scatter");
}

class device_ops_impl final : public DeviceOps {
 public:
  void copy(const Tensor& dst, const Tensor& src) override {
    CAGE_CHECK(dst.shape() == src.shape(), "copy_: shape ", shape_str(src.shape()), " into ", shape_str(dst.shape()));
    const bool dst_dev = dst.device() == kDevice, src_dev = src.device() == kDevice;
    if (dst_dev && src_dev) {
      if (dst.dtype() == src.dtype()) return copy_on_device(dst, src);
      const bool f32_f64 = src.dtype() == DType::f32 && dst.dtype() == DType::f64;
      const bool f64_f32 = src.dtype() == DType::f64 && dst.dtype() == DType::f32;
      if (!f32_f64 && !f64_f32) return copy(dst, src.to(Device::cpu).to(dst.dtype()));  // rare: via the host
      Tensor s = src.contiguous();
      Tensor d = dst.is_contiguous() ? dst : device_empty(dst.shape(), dst.dtype());
      if (f32_f64)
        cast_f32_f64(static_cast<const float*>(s.raw_data()), static_cast<double*>(d.raw_data()), d.numel(), stream());
      else
        cast_f64_f32(static_cast<const double*>(s.raw_data()), static_cast<float*>(d.raw_data()), d.numel(), stream());
      check_launch("cast");
      if (!dst.is_contiguous()) copy_on_device(dst, d);
      return;
    }
    if (dst_dev) {  // host -> device
      Tensor host = src;
      if (!src.is_contiguous() || src.dtype() != dst.dtype()) {
        host = Tensor::empty(src.shape(), dst.dtype());
        cpu_copy(host, src);
      }
      Tensor target = dst.is_contiguous() ? dst : device_empty(dst.shape(), dst.dtype());
      check_cuda(cudaMemcpyAsync(target.raw_data(), host.raw_data(), host.numel() * dtype_size(host.dtype()),
                                 cudaMemcpyHostToDevice, stream()),
                 "copy to device");
      // No wait: from pageable memory the copy is staged before cudaMemcpyAsync returns, so `host` may go now.
      if (!dst.is_contiguous()) copy_on_device(dst, target);
      return;
    }
    // device -> host
    Tensor packed = src.is_contiguous() ? src : device_empty(src.shape(), src.dtype());
    if (!src.is_contiguous()) copy_on_device(packed, src);
    Tensor host = dst.is_contiguous() && dst.dtype() == src.dtype() ? dst : Tensor::empty(src.shape(), src.dtype());
    copy_to_host(host.raw_data(), packed.raw_data(), packed.numel() * dtype_size(packed.dtype()), "copy to host");
    if (host.storage() != dst.storage()) cpu_copy(dst, host);
  }

  void fill(const Tensor& dst, double value) override {
    const int64_t n = dst.numel();
    if (n == 0) return;
    if (!dst.is_contiguous()) {
      Tensor packed = device_empty(dst.shape(), dst.dtype());
      fill(packed, value);
      return copy_on_device(dst, packed);
    }
    uint64_t bits = 0;
    int eb = static_cast<int>(dtype_size(dst.dtype()));
    switch (dst.dtype()) {
      case DType::f32: {
        float f = static_cast<float>(value);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        bits = u;
        break;
      }
      case DType::f64: std::memcpy(&bits, &value, 8); break;
      case DType::i64: {
        int64_t i = static_cast<int64_t>(value);
        std::memcpy(&bits, &i, 8);
        break;
      }
      default: {  // u8, bf16: fill on the host, copy over
        Tensor host = Tensor::full(dst.shape(), value, dst.dtype());
        return copy(dst, host);
      }
    }
    if (bits == 0)
      return check_cuda(cudaMemsetAsync(dst.raw_data(), 0, n * eb, stream()), "fill");
    fill_pattern(dst.raw_data(), bits, n, eb, stream());
    check_launch("fill_pattern");
  }

  Tensor add(const Tensor& a, const Tensor& b) override {
    CAGE_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), "add: ", describe(a), " + ", describe(b));
    Tensor ca = a.contiguous(), cb = b.contiguous();
    Tensor out = device_empty(a.shape(), a.dtype());
    if (a.dtype() == DType::f32)
      add_f32(f32(ca, "add", "a"), f32(cb, "add", "b"), f32(out, "add", "out"), out.numel(), stream());
    else if (a.dtype() == DType::f64)
      add_f64(f64(ca, "add", "a"), f64(cb, "add", "b"), f64(out, "add", "out"), out.numel(), stream());
    else
      fail("add on ", device_name(kDevice), ": dtype ", dtype_name(a.dtype()), " (f32 and f64 only)");
    check_launch("add");
    return out;
  }
};

}  // namespace

bool install(std::string& why) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    why = e != cudaSuccess ? std::string("no usable GPU (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")"
                           : std::string("no GPU found (cudaGetDeviceCount: 0)");
    return false;
  }
#ifdef CAGE_CUDA_MIN_ARCH
  // The kernels are built for the listed architectures (machine code plus PTX, which newer GPUs compile at load):
  // an older GPU cannot run them, and would only fail at the first launch.
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess && prop.major * 10 + prop.minor < CAGE_CUDA_MIN_ARCH) {
    why = std::string(prop.name) + " is sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
          "; this build's kernels need sm_" + std::to_string(CAGE_CUDA_MIN_ARCH) +
          " or newer (configure with CAGE_CUDA_ARCHITECTURES)";
    return false;
  }
#endif
  create_stream();
  static caching_allocator* allocator = new caching_allocator();  // never destroyed: storages outlive statics
  static device_ops_impl* ops = new device_ops_impl();
  register_allocator(kDevice, allocator);
  register_device_ops(kDevice, ops);
  return true;
}

void synchronize() { check_cuda(cudaDeviceSynchronize(), "synchronize"); }

std::string device_description() {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "unknown device";
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor, p.multiProcessorCount,
                static_cast<double>(p.totalGlobalMem) / (1ull << 30));
  return buf;
}

}  // namespace cage::CAGE_GPU_NAMESPACE
