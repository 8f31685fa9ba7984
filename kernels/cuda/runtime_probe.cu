// Asks the CUDA runtime how many devices there are; the only CUDA code until the kernels land.
// Compiled by nvcc for every listed architecture so that CI proves the toolchain and cudart link.
#include "kernels/cuda/runtime_probe.cuh"

#include <cuda_runtime.h>

namespace cage::cuda {

__global__ void probe_kernel(int* out) { out[threadIdx.x] = static_cast<int>(threadIdx.x); }

int device_count(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = cudaGetErrorString(e);
    return 0;
  }
  return n;
}

}  // namespace cage::cuda
