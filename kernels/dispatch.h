// One op, one dispatch: the first statement of every kernels:: entry point routes a tensor that lives on a GPU-style
// device to that backend's version (kernels/gpu), and falls through to the CPU kernel otherwise. The CPU kernel
// is the oracle every other backend is tested against.
#pragma once
#include "kernels/gpu/ops.h"

namespace cage::kernels {
[[noreturn]] void no_backend(Device d, const char* op);  // Error: "<op>: device cuda is not in this build"
}

#if CAGE_HAVE_EMU
#define CAGE_EMU_CASE_(fn, ...) \
  case ::cage::Device::emu: return ::cage::emu::fn(__VA_ARGS__);
#else
#define CAGE_EMU_CASE_(fn, ...) \
  case ::cage::Device::emu: ::cage::kernels::no_backend(::cage::Device::emu, #fn);
#endif
#if CAGE_HAVE_CUDA
#define CAGE_CUDA_CASE_(fn, ...) \
  case ::cage::Device::cuda: return ::cage::cuda::fn(__VA_ARGS__);
#else
#define CAGE_CUDA_CASE_(fn, ...) \
  case ::cage::Device::cuda: ::cage::kernels::no_backend(::cage::Device::cuda, #fn);
#endif

// `return`s the GPU backend's result when `device` is not the CPU.
#define CAGE_GPU_DISPATCH(device, fn, ...)      \
  switch (device) {                             \
    case ::cage::Device::cpu: break;            \
    CAGE_EMU_CASE_(fn, __VA_ARGS__)             \
    CAGE_CUDA_CASE_(fn, __VA_ARGS__)            \
  }
