// The AddressSanitizer probe (built with -fsanitize=address). `oob` runs a kernel that writes one past the end of a
// cudaMalloc'd buffer and `smem` one that writes past its dynamic shared memory, which ASan must report; `clean`
// runs correct kernels, which must not be reported.
#include <cstdio>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "emu/asan/asan_kernels.h"
#include "kernels/emu/cuda_runtime_emu.h"

int main(int argc, char** argv) {
  const std::string mode = argc == 2 ? argv[1] : "";
  if (mode != "oob" && mode != "smem" && mode != "clean") {
    std::fprintf(stderr, "usage: %s oob|smem|clean\n", argv[0]);
    return 2;
  }
  cage::set_num_threads(2);  // blocks on two OS threads: fibers switch on both
  const int n = 1000;
  float* d = nullptr;
  if (cudaMalloc(&d, n * sizeof(float)) != cudaSuccess) return 3;
  if (mode != "clean") {
    if (mode == "oob") cage_test::write_one_past_end(d, n);
    if (mode == "smem") cage_test::dynamic_shared_overflow(d);
    cudaDeviceSynchronize();
    std::printf("out-of-bounds kernel finished without a report\n");
    return 0;
  }
  std::vector<float> host(n, 1.0f);
  float* sums = nullptr;
  if (cudaMalloc(&sums, 8 * sizeof(float)) != cudaSuccess) return 3;
  cudaMemcpy(d, host.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  for (int round = 0; round < 20; ++round) cage_test::clean_reduce(d, sums, n);
  if (cudaDeviceSynchronize() != cudaSuccess) return 4;
  std::vector<float> back(8);
  cudaMemcpy(back.data(), sums, 8 * sizeof(float), cudaMemcpyDeviceToHost);
  if (back[0] != 128.0f || back[7] != float(n - 7 * 128)) {
    std::fprintf(stderr, "clean_reduce gave %g and %g\n", back[0], back[7]);
    return 5;
  }
  cage_test::trap_after_barrier();  // the failure path unwinds kernel frames on fiber stacks
  if (cudaDeviceSynchronize() != cudaErrorLaunchFailure) return 6;
  cage_test::clean_reduce(d, sums, n);  // and the emulator keeps working afterwards
  if (cudaDeviceSynchronize() != cudaSuccess) return 7;
  cudaFree(sums);
  cudaFree(d);
  std::printf("clean kernels ran without a report\n");
  return 0;
}
