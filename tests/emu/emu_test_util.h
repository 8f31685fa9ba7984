// Helpers of the emulator tests: a typed device buffer over cudaMalloc, and a scope that pins the thread pool size
// and the emulator's serial/parallel mode.
#pragma once
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/tensor.h"

#include "core/thread_pool.h"
#include "kernels/emu/cuda_runtime_emu.h"
#include "kernels/emu/emu.h"

namespace cage_test {

// Uniform random floats in [lo, hi) from a fixed seed (host-side test inputs).
inline std::vector<float> random_values(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// A contiguous f32 tensor's values.
inline std::vector<float> to_vector(const cage::Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

template <typename T>
class device_buffer {
 public:
  explicit device_buffer(size_t n) : n_(n) { EXPECT_EQ(cudaMalloc(&p_, n * sizeof(T)), cudaSuccess); }
  explicit device_buffer(const std::vector<T>& host) : device_buffer(host.size()) { upload(host); }
  ~device_buffer() { EXPECT_EQ(cudaFree(p_), cudaSuccess); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;

  T* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), n_);
    ASSERT_EQ(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  void fill_bytes(int value) { ASSERT_EQ(cudaMemset(p_, value, n_ * sizeof(T)), cudaSuccess); }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// Runs a test body with a given pool size and block distribution, restoring both afterwards.
class emu_mode {
 public:
  emu_mode(int threads, bool serial) : threads_(cage::num_threads()), serial_(cage::emu::serial()) {
    if (threads != threads_) cage::set_num_threads(threads);
    cage::emu::set_serial(serial);
  }
  ~emu_mode() {
    if (cage::num_threads() != threads_) cage::set_num_threads(threads_);
    cage::emu::set_serial(serial_);
  }

 private:
  int threads_;
  bool serial_;
};

// Launch helpers leave errors for cudaGetLastError; every test checks that a launch that should work did.
inline void expect_launch_ok() {
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace cage_test
