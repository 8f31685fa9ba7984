// The device side of the portable CUDA subset for the host compiler: execution-space keywords, the built-in index
// variables, barriers, warp collectives, atomics and math intrinsics, and the launch entry point. Every CUDA thread is
// a fiber; the fibers of a block share one OS thread and each OS thread runs one block at a time, so per-block state
// (blockIdx, static __shared__ arrays) is thread_local and per-thread state (threadIdx) is rewritten by the scheduler on
// every fiber switch. Included through kernels/cuda/portable.cuh, never directly by a .cu file.
#pragma once
#include <atomic>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/emu/cuda_runtime_emu.h"

#define CAGE_CUDA_EMU 1

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ __attribute__((always_inline)) inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
// Static shared memory: one instance per OS thread, which runs one block at a time, shared by that block's fibers.
#define __shared__ static thread_local

inline namespace cage_cuda_emu {

namespace detail {
// Implemented by the scheduler (kernels/emu/scheduler.cpp); valid only inside an emulated kernel.
void block_barrier();
int block_barrier_reduce(int op, int predicate);  // op: 0 count, 1 and, 2 or
uint64_t warp_collective(int op, unsigned mask, uint64_t value, int param, int width);
unsigned warp_active_mask();
void* dynamic_shared_memory();
[[noreturn]] void trap();

enum warp_op : int {
  op_sync, op_shfl_idx, op_shfl_up, op_shfl_down, op_shfl_xor, op_ballot, op_any, op_all, op_match_any,
  op_add, op_min_u, op_max_u, op_min_i, op_max_i, op_and, op_or, op_xor,
};

template <typename T>
uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp collectives move values of at most 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
// A fiber switch is an opaque call; the fence also keeps the compiler from caching shared memory across it.
inline void compiler_fence() { std::atomic_signal_fence(std::memory_order_seq_cst); }

struct launch_request {
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  const void* kernel;                   // identifies the kernel for cudaFuncSetAttribute
  void (*invoke)(const void* closure);  // runs the kernel body once, for the current fiber's thread
  const void* closure;
};
void launch_kernel(const launch_request& request);  // validates, runs every block, records errors like CUDA
}  // namespace detail

// ---- built-in variables ---------------------------------------------------------------------------------------------
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
inline constexpr int warpSize = 32;

// ---- barriers and warp collectives ----------------------------------------------------------------------------------
inline void __syncthreads() {
  detail::compiler_fence();
  detail::block_barrier();
  detail::compiler_fence();
}
inline int __syncthreads_count(int p) { detail::compiler_fence(); int r = detail::block_barrier_reduce(0, p); detail::compiler_fence(); return r; }
inline int __syncthreads_and(int p) { detail::compiler_fence(); int r = detail::block_barrier_reduce(1, p); detail::compiler_fence(); return r; }
inline int __syncthreads_or(int p) { detail::compiler_fence(); int r = detail::block_barrier_reduce(2, p); detail::compiler_fence(); return r; }

inline void __syncwarp(unsigned mask = 0xffffffffu) {
  detail::compiler_fence();
  detail::warp_collective(detail::op_sync, mask, 0, 0, 32);
  detail::compiler_fence();
}
inline unsigned __activemask() { return detail::warp_active_mask(); }

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  return detail::from_bits<T>(detail::warp_collective(detail::op_shfl_idx, mask, detail::to_bits(var), src_lane, width));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return detail::from_bits<T>(
      detail::warp_collective(detail::op_shfl_up, mask, detail::to_bits(var), static_cast<int>(delta), width));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return detail::from_bits<T>(
      detail::warp_collective(detail::op_shfl_down, mask, detail::to_bits(var), static_cast<int>(delta), width));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  return detail::from_bits<T>(detail::warp_collective(detail::op_shfl_xor, mask, detail::to_bits(var), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(detail::warp_collective(detail::op_ballot, mask, predicate != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int predicate) {
  return static_cast<int>(detail::warp_collective(detail::op_any, mask, predicate != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int predicate) {
  return static_cast<int>(detail::warp_collective(detail::op_all, mask, predicate != 0, 0, 32));
}
template <typename T>
unsigned __match_any_sync(unsigned mask, T value) {
  return static_cast<unsigned>(detail::warp_collective(detail::op_match_any, mask, detail::to_bits(value), 0, 32));
}
// sm_80 warp reductions.
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) { return unsigned(detail::warp_collective(detail::op_add, mask, v, 0, 32)); }
inline int __reduce_add_sync(unsigned mask, int v) { return int(detail::warp_collective(detail::op_add, mask, unsigned(v), 0, 32)); }
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) { return unsigned(detail::warp_collective(detail::op_min_u, mask, v, 0, 32)); }
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) { return unsigned(detail::warp_collective(detail::op_max_u, mask, v, 0, 32)); }
inline int __reduce_min_sync(unsigned mask, int v) { return int(detail::warp_collective(detail::op_min_i, mask, unsigned(v), 0, 32)); }
inline int __reduce_max_sync(unsigned mask, int v) { return int(detail::warp_collective(detail::op_max_i, mask, unsigned(v), 0, 32)); }
inline unsigned __reduce_and_sync(unsigned mask, unsigned v) { return unsigned(detail::warp_collective(detail::op_and, mask, v, 0, 32)); }
inline unsigned __reduce_or_sync(unsigned mask, unsigned v) { return unsigned(detail::warp_collective(detail::op_or, mask, v, 0, 32)); }
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v) { return unsigned(detail::warp_collective(detail::op_xor, mask, v, 0, 32)); }

// ---- fences, traps, clocks ------------------------------------------------------------------------------------------
// Blocks of one launch run in parallel on several OS threads, so global-memory ordering needs real fences.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_signal_fence(std::memory_order_seq_cst); }
[[noreturn]] inline void __trap() { detail::trap(); }
inline long long clock64() { return static_cast<long long>(__builtin_ia32_rdtsc()); }
inline void __nanosleep(unsigned) {}
template <typename T>
T __ldg(const T* p) { return *p; }

// ---- atomics (relaxed, like CUDA's; real atomics because blocks run concurrently) -----------------------------------
namespace detail {
template <typename T>
T atomic_fetch_add(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v, std::memory_order_relaxed); }
template <typename T, typename F>
T atomic_update(T* p, F f) {  // a compare-and-swap loop for the operations without a native instruction
  std::atomic_ref<T> a(*p);
  T old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, f(old), std::memory_order_relaxed)) {
  }
  return old;
}
}  // namespace detail

inline int atomicAdd(int* p, int v) { return detail::atomic_fetch_add(p, v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return detail::atomic_fetch_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return detail::atomic_fetch_add(p, v); }
inline float atomicAdd(float* p, float v) { return detail::atomic_fetch_add(p, v); }
inline double atomicAdd(double* p, double v) { return detail::atomic_fetch_add(p, v); }
inline int atomicSub(int* p, int v) { return std::atomic_ref<int>(*p).fetch_sub(v, std::memory_order_relaxed); }
inline unsigned atomicSub(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_sub(v, std::memory_order_relaxed); }
template <typename T>
T atomicExch(T* p, T v) {
  static_assert(std::is_same_v<T, int> || std::is_same_v<T, unsigned> || std::is_same_v<T, unsigned long long> ||
                std::is_same_v<T, float>, "atomicExch: int, unsigned, unsigned long long or float");
  return std::atomic_ref<T>(*p).exchange(v, std::memory_order_relaxed);
}
template <typename T>
T atomicCAS(T* p, T compare, T v) {
  static_assert(std::is_same_v<T, int> || std::is_same_v<T, unsigned> || std::is_same_v<T, unsigned long long> ||
                std::is_same_v<T, unsigned short>, "atomicCAS: int, unsigned, unsigned long long or unsigned short");
  std::atomic_ref<T>(*p).compare_exchange_strong(compare, v, std::memory_order_relaxed);
  return compare;  // the old value, whether or not the swap happened
}
template <typename T>
T atomicMax(T* p, T v) {
  static_assert(std::is_integral_v<T>, "atomicMax: integer types only, as in CUDA");
  return detail::atomic_update(p, [v](T old) { return old < v ? v : old; });
}
template <typename T>
T atomicMin(T* p, T v) {
  static_assert(std::is_integral_v<T>, "atomicMin: integer types only, as in CUDA");
  return detail::atomic_update(p, [v](T old) { return v < old ? v : old; });
}
template <typename T>
T atomicAnd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_and(v, std::memory_order_relaxed); }
template <typename T>
T atomicOr(T* p, T v) { return std::atomic_ref<T>(*p).fetch_or(v, std::memory_order_relaxed); }
template <typename T>
T atomicXor(T* p, T v) { return std::atomic_ref<T>(*p).fetch_xor(v, std::memory_order_relaxed); }
inline unsigned atomicInc(unsigned* p, unsigned v) {
  return detail::atomic_update(p, [v](unsigned old) { return old >= v ? 0u : old + 1; });
}
inline unsigned atomicDec(unsigned* p, unsigned v) {
  return detail::atomic_update(p, [v](unsigned old) { return (old == 0 || old > v) ? v : old - 1; });
}

// ---- math intrinsics: the exact host function stands in for each fast approximation ---------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float fdividef(float x, float y) { return x / y; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline float exp10f(float x) { return std::pow(10.0f, x); }

namespace detail {
// cvt.rni / rzi / rmi / rpi .s32.f32: round, then saturate; NaN gives 0.
inline int float_to_int(double r) {
  if (r != r) return 0;
  if (r <= double(INT_MIN)) return INT_MIN;
  if (r >= double(INT_MAX)) return INT_MAX;
  return static_cast<int>(r);
}
inline unsigned float_to_uint(double r) {
  if (r != r || r <= 0.0) return 0;
  if (r >= double(UINT_MAX)) return UINT_MAX;
  return static_cast<unsigned>(r);
}
}  // namespace detail
inline int __float2int_rn(float x) { return detail::float_to_int(std::nearbyint(double(x))); }
inline int __float2int_rz(float x) { return detail::float_to_int(std::trunc(double(x))); }
inline int __float2int_rd(float x) { return detail::float_to_int(std::floor(double(x))); }
inline int __float2int_ru(float x) { return detail::float_to_int(std::ceil(double(x))); }
inline unsigned __float2uint_rn(float x) { return detail::float_to_uint(std::nearbyint(double(x))); }
inline unsigned __float2uint_rz(float x) { return detail::float_to_uint(std::trunc(double(x))); }
inline int __double2int_rn(double x) { return detail::float_to_int(std::nearbyint(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline int __mulhi(int a, int b) { return int((int64_t(a) * b) >> 32); }
inline int __mul24(int a, int b) {  // the low 24 bits of each operand, sign-extended
  int64_t a24 = static_cast<int32_t>(static_cast<uint32_t>(a) << 8) >> 8;
  int64_t b24 = static_cast<int32_t>(static_cast<uint32_t>(b) << 8) >> 8;
  return static_cast<int>(a24 * b24);
}

// CUDA's device code has min/max overloads in the global namespace; host code only has std::min/std::max.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

}  // namespace cage_cuda_emu

// The kernel's `launch(...)` (kernels/cuda/portable.cuh) hands the emulator a closure that calls the kernel with its
// own copy of the arguments, as a CUDA thread receives its own copy of the parameters.
namespace cage::emu_detail {
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: wrong number of kernel arguments");
  struct closure {
    void (*kernel)(Params...);
    std::tuple<std::decay_t<Params>...> params;
  };
  const closure c{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
  ::cage_cuda_emu::detail::launch_request r{grid, block, shared_bytes, stream, reinterpret_cast<const void*>(kernel),
                                            [](const void* p) {
                                              const closure* cl = static_cast<const closure*>(p);
                                              std::apply(cl->kernel, cl->params);
                                            },
                                            &c};
  ::cage_cuda_emu::detail::launch_kernel(r);
}
}  // namespace cage::emu_detail
