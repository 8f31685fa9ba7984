// What the core needs from a device other than the CPU: copies (within the device with any strides, and to and from
// the host), fill, and the addition that accumulates gradients. The device's backend (kernels/gpu) registers one
// at start-up, next to its allocator; core/tensor.cpp routes copy_, fill_, clone, to and item through it.
#pragma once
#include "core/tensor.h"

namespace cage {

class DeviceOps {
 public:
  virtual ~DeviceOps() = default;
  // dst = src, same shape, any strides and dtypes; one of them (or both) lives on this device, the other on the CPU.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  virtual void fill(const Tensor& dst, double value) = 0;
  // a + b, same shape and dtype, both on this device; the result is contiguous.
  virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
};

void register_device_ops(Device d, DeviceOps* ops);  // ops must live until the end of the program
bool device_registered(Device d);
DeviceOps& device_ops(Device d);  // Error naming the device when no backend registered it

// The copy every tensor copy goes through: CPU to CPU in place, anything else through the device's ops.
void copy_any(const Tensor& dst, const Tensor& src);
void fill_any(const Tensor& dst, double value);
Tensor add_any(const Tensor& a, const Tensor& b);

}  // namespace cage
