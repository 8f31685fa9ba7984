// Device-parameterised tests: one suite, run on every device this build and machine have (cpu always, emu when the
// emulator is built, cuda when a GPU is usable). The CPU kernels are the oracle; the other devices are checked
// against the same references with the same tolerances.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/tensor.h"

namespace cage::test {

std::vector<Device> test_devices();
Device current_test_device();  // the device of the running parameterised test (cpu outside one)

// Fixture: starts the device and makes it current for TorchCase and friends. Use with TEST_P and
// CAGE_INSTANTIATE_DEVICE_SUITE(SuiteName).
class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override;
  void TearDown() override;
  Device device() const { return GetParam(); }
};

std::string device_test_name(const ::testing::TestParamInfo<Device>& info);

}  // namespace cage::test

#define CAGE_INSTANTIATE_DEVICE_SUITE(suite)                                                         \
  INSTANTIATE_TEST_SUITE_P(Devices, suite, ::testing::ValuesIn(::cage::test::test_devices()), \
                           ::cage::test::device_test_name)
