#include "core/device_ops.h"

#include <atomic>

#include "core/cpu_basic.h"

namespace cage {

namespace {
std::atomic<DeviceOps*> g_ops[3] = {};  // constant-initialised, like the allocator registry
}

void register_device_ops(Device d, DeviceOps* ops) {
  CAGE_CHECK(d != Device::cpu, "the cpu device needs no device ops");
  g_ops[static_cast<int>(d)].store(ops, std::memory_order_release);
}

bool device_registered(Device d) {
  return d == Device::cpu || g_ops[static_cast<int>(d)].load(std::memory_order_acquire) != nullptr;
}

DeviceOps& device_ops(Device d) {
  CAGE_CHECK(d != Device::cpu, "device_ops(cpu): the CPU has no device ops");
  if (DeviceOps* ops = g_ops[static_cast<int>(d)].load(std::memory_order_acquire)) return *ops;
  fail("device '", device_name(d), "' has no backend in this build (or it was not initialised)");
}

void copy_any(const Tensor& dst, const Tensor& src) {
  Device a = dst.device(), b = src.device();
  if (a == Device::cpu && b == Device::cpu) return cpu_copy(dst, src);
  CAGE_CHECK(a == b || a == Device::cpu || b == Device::cpu, "copy from ", device_name(b), " to ", device_name(a),
             ": copies go between the CPU and one device; stage through the CPU");
  device_ops(a == Device::cpu ? b : a).copy(dst, src);
}

void fill_any(const Tensor& dst, double value) {
  if (dst.device() == Device::cpu) return cpu_fill(dst, value);
  device_ops(dst.device()).fill(dst, value);
}

Tensor add_any(const Tensor& a, const Tensor& b) {
  CAGE_CHECK(a.device() == b.device(), "add: tensors on ", device_name(a.device()), " and ", device_name(b.device()));
  if (a.device() == Device::cpu) return cpu_add(a, b);
  return device_ops(a.device()).add(a, b);
}

}  // namespace cage
