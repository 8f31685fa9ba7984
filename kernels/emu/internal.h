// Declarations shared by the emulator's runtime, memory and scheduler files; not part of any public API.
#pragma once
#include <cstddef>
#include <string>

#include "kernels/emu/cuda_runtime_emu.h"

inline namespace cage_cuda_emu {
namespace detail {

cudaError_t set_last_error(cudaError_t e);      // records e as the calling thread's last error (unless success); returns e
cudaError_t take_pending_error();               // the failure of an earlier kernel, reported once by a synchronising call
void record_kernel_failure(cudaError_t e, const std::string& message);
bool valid_stream(cudaStream_t s);              // 0, the two special handles, or a live created stream
int max_dynamic_shared(const void* kernel);     // cudaFuncAttributeMaxDynamicSharedMemorySize of that kernel

// Device memory registry (memory.cpp).
bool is_device_pointer(const void* p);                    // p lies inside a live device allocation
bool is_device_range(const void* p, size_t n);            // [p, p + n) lies inside one live device allocation

constexpr int k_max_threads_per_block = 1024;
constexpr int k_max_block_dim[3] = {1024, 1024, 64};
constexpr unsigned k_max_grid_dim[3] = {2147483647u, 65535u, 65535u};
constexpr int k_default_shared_per_block = 48 * 1024;
constexpr int k_max_shared_per_block_optin = 227 * 1024;  // sm_90

}  // namespace detail
}  // namespace cage_cuda_emu
