// The CUDA op kernels under AddressSanitizer (this binary and the listed kernels/cuda/*.cu built with
// -fsanitize=address): each launcher runs at odd sizes on device buffers of exactly the size its contract states,
// so a kernel that reads or writes past a tensor, a scratch buffer or its shared memory is reported with its
// source line. Values are not checked here (cage_tests_emu does that); the exit status is 0 only without a report.
// Kernels covered: batch norm, depthwise conv (and the fused conv + BatchNorm + GELU), squeeze-excitation.
#include <cstdio>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cuda/batch_norm.cuh"
#include "kernels/cuda/depthwise_conv.cuh"
#include "kernels/cuda/se.cuh"
#include "kernels/emu/cuda_runtime_emu.h"

namespace {

using namespace cage::emu;

// Device buffers of exact sizes, filled with values in [0.5, 1.5) (positive: valid variances), freed at exit.
std::vector<void*> allocations;
template <typename T>
T* buffer(int64_t n) {
  T* p = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&p), static_cast<size_t>(n) * sizeof(T)) != cudaSuccess) std::exit(3);
  std::vector<T> host(static_cast<size_t>(n));
  std::mt19937 gen(static_cast<unsigned>(n));
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  for (T& v : host) v = T(u(gen));
  cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  allocations.push_back(p);
  return p;
}

void batch_norm(int64_t rows, int64_t C) {
  float *x = buffer<float>(rows * C), *y = buffer<float>(rows * C), *gy = buffer<float>(rows * C);
  float *gx = buffer<float>(rows * C), *w = buffer<float>(C), *b = buffer<float>(C), *rm = buffer<float>(C);
  float *rv = buffer<float>(C), *gw = buffer<float>(C), *gb = buffer<float>(C);
  double *mean = buffer<double>(C), *invstd = buffer<double>(C);
  double* scratch = buffer<double>(batch_norm_scratch_doubles(rows, C));
  for (bool training : {true, false}) {
    batch_norm_forward(x, w, b, rm, rv, training, 0.1, 1e-5, y, mean, invstd, scratch, rows, C);
    batch_norm_backward(x, w, mean, invstd, gy, training, gx, gw, gb, scratch, rows, C);
    batch_norm_backward(x, nullptr, mean, invstd, gy, training, gx, nullptr, nullptr, scratch, rows, C);
    batch_norm_backward(x, w, mean, invstd, gy, training, nullptr, gw, nullptr, scratch, rows, C);
  }
}

void depthwise(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int64_t stride, int64_t padding) {
  const int64_t Ho = (H + 2 * padding - K) / stride + 1, Wo = (W + 2 * padding - K) / stride + 1;
  const depthwise_shape s{N, H, W, C, K, K, stride, padding, Ho, Wo};
  const int64_t nx = N * H * W * C, ny = N * Ho * Wo * C;
  float *x = buffer<float>(nx), *gx = buffer<float>(nx), *y = buffer<float>(ny), *gy = buffer<float>(ny);
  float *w = buffer<float>(K * K * C), *gw = buffer<float>(K * K * C), *b = buffer<float>(C);
  float *scale = buffer<float>(C), *shift = buffer<float>(C);
  float* scratch = buffer<float>(depthwise_conv2d_scratch_floats(s));
  depthwise_conv2d_forward(s, x, w, b, y);
  depthwise_conv2d_bn_gelu_forward(s, x, w, nullptr, scale, shift, y);
  depthwise_conv2d_backward(s, x, w, gy, gx, gw, scratch);
}

void squeeze_excitation(int64_t N, int64_t HW, int64_t C, int64_t R) {
  const int64_t n = N * HW * C;
  float *x = buffer<float>(n), *y = buffer<float>(n), *gy = buffer<float>(n), *gx = buffer<float>(n);
  float *w1 = buffer<float>(C * R), *b1 = buffer<float>(R), *w2 = buffer<float>(R * C), *b2 = buffer<float>(C);
  float *gw1 = buffer<float>(C * R), *gb1 = buffer<float>(R), *gw2 = buffer<float>(R * C), *gb2 = buffer<float>(C);
  float* scratch = buffer<float>(squeeze_excitation_scratch_floats(N, C, R));
  squeeze_excitation_forward(x, w1, b1, w2, b2, y, N, HW, C, R);
  squeeze_excitation_backward(x, w1, b1, w2, b2, gy, gx, gw1, gb1, gw2, gb2, scratch, N, HW, C, R);
  squeeze_excitation_backward(x, w1, nullptr, w2, nullptr, gy, nullptr, nullptr, gb1, nullptr, nullptr, scratch, N,
                              HW, C, R);
}

}  // namespace

int main() {
  cage::set_num_threads(2);  // blocks on two OS threads
  for (auto [rows, C] : {std::pair<int64_t, int64_t>{2, 1}, {7, 33}, {646, 64}, {40200, 3}, {5, 100}})
    batch_norm(rows, C);
  depthwise(1, 5, 7, 1, 3, 1, 1);
  depthwise(2, 7, 5, 5, 3, 2, 1);
  depthwise(2, 8, 6, 12, 3, 2, 1);
  depthwise(1, 11, 13, 33, 3, 2, 1);
  depthwise(1, 6, 7, 4, 5, 1, 2);
  depthwise(1, 17, 15, 64, 3, 1, 1);
  squeeze_excitation(1, 1, 4, 1);
  squeeze_excitation(2, 15, 7, 3);
  squeeze_excitation(3, 49, 33, 5);
  squeeze_excitation(1, 20, 300, 40);
  if (cudaDeviceSynchronize() != cudaSuccess || cudaGetLastError() != cudaSuccess) return 4;
  for (void* p : allocations) cudaFree(p);
  std::printf("op kernels ran without a report\n");
  return 0;
}
