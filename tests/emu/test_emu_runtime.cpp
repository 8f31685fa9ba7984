// The emulated CUDA runtime: launch validation with CUDA's error codes through cudaGetLastError, kernels that fail
// while running, memcpy kinds checked against the device-memory registry, streams and events in order, the device's
// description, and device memory behind Storage on Device::emu.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/storage.h"
#include "emu/emu_test_util.h"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

class EmuRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    cudaGetLastError();  // start from a clean slate
    cudaDeviceSynchronize();
  }
};

// A configuration the launch must refuse with `want`, leaving the output untouched.
void expect_refused(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, cudaError_t want) {
  device_buffer<int> out(64);
  out.fill_bytes(0);
  launch_fill(grid, block, smem, stream, out.get(), 7);
  EXPECT_EQ(cudaPeekAtLastError(), want);
  EXPECT_EQ(cudaGetLastError(), want);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "cudaGetLastError resets the error";
  for (int v : out.download()) ASSERT_EQ(v, 0) << "a refused launch ran";
}

TEST_F(EmuRuntime, LaunchConfigurationErrors) {
  expect_refused(dim3(1), dim3(1025), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1), dim3(32, 32, 2), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1), dim3(1, 1, 65), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1), dim3(0), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(0), dim3(32), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1, 0), dim3(32), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1, 65536), dim3(1), 0, 0, cudaErrorInvalidConfiguration);
  expect_refused(dim3(1), dim3(32), 48 * 1024 + 1, 0, cudaErrorInvalidValue);
  cudaStream_t dead;
  ASSERT_EQ(cudaStreamCreate(&dead), cudaSuccess);
  ASSERT_EQ(cudaStreamDestroy(dead), cudaSuccess);
  expect_refused(dim3(1), dim3(32), 0, dead, cudaErrorInvalidResourceHandle);
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidConfiguration), "invalid configuration argument");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue");
}

TEST_F(EmuRuntime, LargestValidConfigurationsRun) {
  device_buffer<int> out(2 * 1024);
  out.fill_bytes(0);
  launch_fill(dim3(2), dim3(1024), 48 * 1024, 0, out.get(), 3);
  expect_launch_ok();
  for (int v : out.download()) ASSERT_EQ(v, 3);
  launch_fill(dim3(1), dim3(1, 1, 64), 0, 0, out.get(), 4);
  expect_launch_ok();
  EXPECT_EQ(out.download()[63], 4);
}

TEST_F(EmuRuntime, OptInDynamicSharedMemory) {
  const int big = 100 * 1024;
  expect_refused(dim3(1), dim3(32), big, 0, cudaErrorInvalidValue);
  EXPECT_EQ(fill_set_max_dynamic_shared(228 * 1024), cudaErrorInvalidValue);  // beyond the sm_90 opt-in maximum
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  ASSERT_EQ(fill_set_max_dynamic_shared(big), cudaSuccess);
  device_buffer<int> out(32);
  launch_fill(dim3(1), dim3(32), big, 0, out.get(), 5);
  expect_launch_ok();
  EXPECT_EQ(out.download()[31], 5);
  expect_refused(dim3(1), dim3(32), big + 1, 0, cudaErrorInvalidValue);
  ASSERT_EQ(fill_set_max_dynamic_shared(48 * 1024), cudaSuccess);
}

TEST_F(EmuRuntime, TrapIsReportedAndDoesNotStick) {
  device_buffer<int> out(4 * 64);
  trap_in_block_one(out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);  // the failing synchronisation set it again
  EXPECT_NE(cage::emu::last_failure().find("__trap"), std::string::npos) << cage::emu::last_failure();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // reported once
  launch_fill(dim3(4), dim3(64), 0, 0, out.get(), 1);
  expect_launch_ok();
}

TEST_F(EmuRuntime, DeadlockAndMismatchedCollectivesAreReported) {
  device_buffer<int> out(64);
  divergent_barrier(out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(cage::emu::last_failure().find("deadlock"), std::string::npos) << cage::emu::last_failure();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  mismatched_collective(out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(cage::emu::last_failure().find("different warp collectives"), std::string::npos)
      << cage::emu::last_failure();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
}

TEST_F(EmuRuntime, MemcpyKindsAreCheckedAgainstThePointers) {
  device_buffer<float> dev(16), dev2(16);
  std::vector<float> host(16, 1.0f), back(16, 0.0f);
  const size_t bytes = 16 * sizeof(float);
  EXPECT_EQ(cudaMemcpy(dev.get(), host.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev2.get(), dev.get(), bytes, cudaMemcpyDeviceToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), dev2.get(), bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);
  // Host memory where device memory is expected, and the reverse.
  EXPECT_EQ(cudaMemcpy(back.data(), host.data(), bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev.get(), dev2.get(), bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(back.data(), host.data(), bytes, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev.get(), dev2.get(), bytes, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev.get(), host.data(), bytes, cudaMemcpyDeviceToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(back.data(), dev.get(), bytes, cudaMemcpyHostToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  // Ranges that leave their allocation; an interior pointer with a range that fits is fine.
  EXPECT_EQ(cudaMemcpy(dev.get(), host.data(), bytes + 4, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev.get() + 8, host.data(), 8 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev.get() + 8, host.data(), 9 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(dev.get() + 1, 0, bytes), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(host.data(), 0, bytes), cudaErrorInvalidValue);
  // cudaMemcpyDefault infers the direction; an unknown kind is its own error.
  EXPECT_EQ(cudaMemcpy(back.data(), dev.get(), bytes, cudaMemcpyDefault), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), dev.get(), bytes, cudaMemcpyKind(7)), cudaErrorInvalidMemcpyDirection);
  // Frees of memory that is not a live device allocation.
  EXPECT_EQ(cudaFree(host.data()), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(dev.get() + 1), cudaErrorInvalidValue);
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 100), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(p, host.data(), 4, cudaMemcpyHostToDevice), cudaErrorInvalidValue) << "use after free";
  cudaGetLastError();
}

TEST_F(EmuRuntime, StreamsAndEventsRunInOrder) {
  cudaStream_t s1, s2;
  ASSERT_EQ(cudaStreamCreate(&s1), cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking), cudaSuccess);
  cudaEvent_t start, mid, stop, untimed;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&mid), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  ASSERT_EQ(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming), cudaSuccess);
  float ms = -1.0f;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorInvalidResourceHandle) << "never recorded";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidResourceHandle);

  device_buffer<int> log(8), counter(1);
  log.fill_bytes(0xff);
  counter.fill_bytes(0);
  std::vector<int> host(8, 0);
  ASSERT_EQ(cudaEventRecord(start, s1), cudaSuccess);
  append_id(log.get(), counter.get(), 1, s1);
  append_id(log.get(), counter.get(), 2, s1);
  ASSERT_EQ(cudaEventRecord(mid, s1), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(s2, mid, 0), cudaSuccess);
  append_id(log.get(), counter.get(), 3, s2);
  append_id(log.get(), counter.get(), 4, 0);
  append_id(log.get(), counter.get(), 5, cudaStreamPerThread);
  ASSERT_EQ(cudaMemcpyAsync(host.data(), log.get(), 8 * sizeof(int), cudaMemcpyDeviceToHost, s2), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(stop, s2), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(untimed, s2), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s2), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(std::vector<int>(host.begin(), host.begin() + 6), (std::vector<int>{1, 2, 3, 4, 5, -1}));

  float first = -1.0f, total = -1.0f;
  EXPECT_EQ(cudaEventElapsedTime(&first, start, mid), cudaSuccess);
  EXPECT_EQ(cudaEventElapsedTime(&total, start, stop), cudaSuccess);
  EXPECT_GE(first, 0.0f);
  EXPECT_GE(total, first);
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, untimed), cudaErrorInvalidResourceHandle) << "timing disabled";
  EXPECT_EQ(cudaEventQuery(stop), cudaSuccess);
  EXPECT_EQ(cudaStreamQuery(s1), cudaSuccess);

  for (cudaEvent_t e : {start, mid, stop, untimed}) EXPECT_EQ(cudaEventDestroy(e), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaStreamDestroy(s1), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s2), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s1), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaMemcpyAsync(host.data(), log.get(), 4, cudaMemcpyDeviceToHost, s1), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
}

TEST_F(EmuRuntime, DeviceDescription) {
  int count = 0, device = -1;
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(cudaGetDevice(&device), cudaSuccess);
  EXPECT_EQ(device, 0);
  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  cudaDeviceProp p;
  ASSERT_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  EXPECT_STREQ(p.name, "CAGE emulated device");
  EXPECT_EQ(p.major, 9);
  EXPECT_EQ(p.warpSize, 32);
  EXPECT_EQ(p.maxThreadsPerBlock, 1024);
  EXPECT_EQ(p.sharedMemPerBlock, 48u * 1024);
  int optin = 0;
  EXPECT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
  EXPECT_EQ(size_t(optin), p.sharedMemPerBlockOptin);
  size_t free_bytes = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  EXPECT_LE(free_bytes, total);
  cudaGetLastError();
}

TEST_F(EmuRuntime, StorageOnTheEmuDeviceIsDeviceMemory) {
  // Storage may go through a caching allocator (kernels/gpu) once the device is in use: empty its cache first.
  cage::allocator_for(cage::Device::emu).release_cached();
  const size_t before = cage::emu::device_bytes_in_use();
  {
    cage::Storage s(1000, cage::Device::emu);
    EXPECT_GE(cage::emu::device_bytes_in_use(), before + 1000);
    std::vector<char> host(1000, 'x'), back(1000, 0);
    EXPECT_EQ(cudaMemcpy(s.data(), host.data(), 1000, cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(back.data(), s.data(), 1000, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(back, host);
    cage::Storage cpu(1000, cage::Device::cpu);
    EXPECT_EQ(cudaMemcpy(cpu.data(), host.data(), 1000, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  }
  cage::allocator_for(cage::Device::emu).release_cached();
  EXPECT_EQ(cage::emu::device_bytes_in_use(), before);
  cudaGetLastError();
}

}  // namespace
}  // namespace cage_test
