#include "support/devices.h"

#include "kernels/device.h"

namespace cage::test {

namespace {
Device g_current = Device::cpu;
}

std::vector<Device> test_devices() {
  std::vector<Device> devices{Device::cpu};
  for (Device d : {Device::emu, Device::cuda})
    if (kernels::try_use_device(d)) devices.push_back(d);
  return devices;
}

Device current_test_device() { return g_current; }

void DeviceTest::SetUp() {
  kernels::use_device(GetParam());
  g_current = GetParam();
}

void DeviceTest::TearDown() { g_current = Device::cpu; }

std::string device_test_name(const ::testing::TestParamInfo<Device>& info) { return device_name(info.param); }

}  // namespace cage::test
