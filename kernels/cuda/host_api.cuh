// What a host launcher header needs, for both compilers: the CUDA runtime types (real or emulated) and
// CAGE_GPU_NAMESPACE (cuda under nvcc, emu under the host compiler; the same definition as portable.cuh), so that
// callers can include a launcher header without pulling in the device-side subset. Host code of the real backend
// built by the host compiler (kernels/gpu for device cuda) defines CAGE_GPU_REAL_CUDA.
#pragma once
#include <cstdint>

#if defined(__CUDACC__) || defined(CAGE_GPU_REAL_CUDA)
#include <cuda_runtime.h>
#define CAGE_GPU_NAMESPACE cuda
#else
#include "kernels/emu/cuda_runtime_emu.h"
#define CAGE_GPU_NAMESPACE emu
#endif
