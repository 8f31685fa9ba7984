// The portable CUDA subset: every .cu file includes this header first and is then valid for two compilers.
//  - nvcc (__CUDACC__): the real CUDA runtime; launch(...) is kernel<<<grid, block, smem, stream>>>(args...).
//  - the host compiler: the emulator (kernels/emu), which runs the same kernels on the CPU, one fiber per CUDA thread.
// What the subset is: __global__/__device__/__host__/__forceinline__, static __shared__ arrays, dynamic shared memory
// through CAGE_DYNAMIC_SHARED only, the built-in index variables, __syncthreads(_count/_and/_or), __syncwarp, the
// __shfl_*_sync / __ballot_sync / __any_sync / __all_sync / __match_any_sync / __reduce_*_sync warp collectives,
// atomics, fences, the usual math intrinsics, and kernel launches through cage::launch only. No inline PTX, no
// <<<...>>> outside this file, no __CUDA_ARCH__-only code paths without a host twin (the emulator leaves it undefined).
#pragma once
#include <cstddef>
#include <utility>

#ifdef __CUDACC__

#include <cuda_runtime.h>

// Kernels go in namespace cage::CAGE_GPU_NAMESPACE so that the nvcc build and the emulated build of one .cu file
// can be linked into the same binary without clashing.
#define CAGE_GPU_NAMESPACE cuda
// Dynamic shared memory as a typed pointer; one raw byte array is shared by every kernel of a translation unit.
#define CAGE_DYNAMIC_SHARED(type, name)                                  \
  extern __shared__ __align__(16) unsigned char cage_dynamic_shared_[]; \
  type* name = reinterpret_cast<type*>(cage_dynamic_shared_)

namespace cage {
// Errors (bad configuration, too much shared memory) are reported by cudaGetLastError(), as for <<<...>>>.
template <typename... Params, typename... Args>
inline void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
}
}  // namespace cage

#else  // the emulator

#include "kernels/emu/device_emu.h"

#define CAGE_GPU_NAMESPACE emu
#define CAGE_DYNAMIC_SHARED(type, name) \
  type* name = reinterpret_cast<type*>(::cage_cuda_emu::detail::dynamic_shared_memory())

namespace cage {
// Runs every block before returning (streams are synchronous in the emulator); errors as with nvcc.
template <typename... Params, typename... Args>
inline void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  emu_detail::launch(kernel, grid, block, shared_bytes, stream, std::forward<Args>(args)...);
}
}  // namespace cage

#endif
