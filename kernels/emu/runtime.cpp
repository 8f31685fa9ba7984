// The CUDA runtime subset of the emulator (besides memory, in memory.cpp, and launches, in launch.cpp): errors,
// the one emulated device and its properties, streams and events. Work is synchronous: a call that enqueues on a
// stream has finished when it returns, so streams are trivially in order and an event records the time at which
// everything issued before it had completed. Errors of a failed kernel are not sticky: the next synchronising call
// (and cudaGetLastError) reports them once.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>

#include "kernels/emu/emu.h"
#include "kernels/emu/internal.h"

inline namespace cage_cuda_emu {

struct CUstream_st {
  unsigned flags;
};
struct CUevent_st {
  unsigned flags;
  bool recorded;
  std::chrono::steady_clock::time_point when;
};

namespace detail {
namespace {

thread_local cudaError_t t_last_error = cudaSuccess;  // per host thread, as in CUDA
std::atomic<int> g_pending_error{cudaSuccess};
std::mutex g_mu;  // guards the handle registries and the failure message
std::string& last_failure_message() {
  static auto* s = new std::string();
  return *s;
}
std::unordered_set<const CUstream_st*>& streams() {
  static auto* s = new std::unordered_set<const CUstream_st*>();
  return *s;
}
std::unordered_set<const CUevent_st*>& events() {
  static auto* s = new std::unordered_set<const CUevent_st*>();
  return *s;
}
bool valid_event(cudaEvent_t e) {
  std::lock_guard<std::mutex> lock(g_mu);
  return e && events().count(e);
}
// What a synchronising call returns: a kernel failure not yet reported, else success.
cudaError_t sync_result() { return set_last_error(take_pending_error()); }

size_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(16) << 30;
}

}  // namespace

cudaError_t set_last_error(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}
cudaError_t take_pending_error() { return cudaError_t(g_pending_error.exchange(cudaSuccess)); }
void record_kernel_failure(cudaError_t e, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    last_failure_message() = message;
  }
  g_pending_error.store(e);
  set_last_error(e);
  std::fprintf(stderr, "cage emu: kernel failed (%s): %s\n", cudaGetErrorName(e), message.c_str());
}
bool valid_stream(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return true;
  std::lock_guard<std::mutex> lock(g_mu);
  return streams().count(s) != 0;
}

}  // namespace detail

using detail::set_last_error;

cudaError_t cudaGetLastError() {
  cudaError_t e = detail::t_last_error;
  detail::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return detail::t_last_error; }

#define CAGE_EMU_ERRORS(X)                                                       \
  X(cudaSuccess, "no error")                                                     \
  X(cudaErrorInvalidValue, "invalid argument")                                   \
  X(cudaErrorMemoryAllocation, "out of memory")                                  \
  X(cudaErrorInitializationError, "initialization error")                        \
  X(cudaErrorInvalidConfiguration, "invalid configuration argument")             \
  X(cudaErrorInvalidPitchValue, "invalid pitch argument")                        \
  X(cudaErrorInvalidSymbol, "invalid device symbol")                             \
  X(cudaErrorInvalidHostPointer, "invalid host pointer")                         \
  X(cudaErrorInvalidDevicePointer, "invalid device pointer")                     \
  X(cudaErrorInvalidMemcpyDirection, "invalid copy direction for memcpy")        \
  X(cudaErrorInvalidDeviceFunction, "invalid device function")                   \
  X(cudaErrorNoDevice, "no CUDA-capable device is detected")                     \
  X(cudaErrorInvalidDevice, "invalid device ordinal")                            \
  X(cudaErrorInvalidResourceHandle, "invalid resource handle")                   \
  X(cudaErrorNotReady, "device not ready")                                       \
  X(cudaErrorIllegalAddress, "an illegal memory access was encountered")         \
  X(cudaErrorLaunchOutOfResources, "too many resources requested for launch")    \
  X(cudaErrorLaunchTimeout, "the launch timed out and was terminated")           \
  X(cudaErrorAssert, "device-side assert triggered")                             \
  X(cudaErrorIllegalInstruction, "an illegal instruction was encountered")       \
  X(cudaErrorLaunchFailure, "unspecified launch failure")                        \
  X(cudaErrorNotPermitted, "operation not permitted")                            \
  X(cudaErrorNotSupported, "operation not supported")                            \
  X(cudaErrorUnknown, "unknown error")

const char* cudaGetErrorString(cudaError_t error) {
#define X(code, text) \
  case code: return text;
  switch (error) { CAGE_EMU_ERRORS(X) }
#undef X
  return "unrecognized error code";
}
const char* cudaGetErrorName(cudaError_t error) {
#define X(code, text) \
  case code: return #code;
  switch (error) { CAGE_EMU_ERRORS(X) }
#undef X
  return "cudaErrorUnknown";
}

// ---- the device -----------------------------------------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return set_last_error(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return set_last_error(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : set_last_error(cudaErrorInvalidDevice); }

// An H100-like (sm_90) description; the limits are the ones the emulator enforces.
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return set_last_error(cudaErrorInvalidValue);
  if (device != 0) return set_last_error(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof(*p));
  std::snprintf(p->name, sizeof(p->name), "CAGE emulated device");
  p->totalGlobalMem = detail::physical_memory();
  p->sharedMemPerBlock = detail::k_default_shared_per_block;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->memPitch = 2147483647;
  p->maxThreadsPerBlock = detail::k_max_threads_per_block;
  for (int i = 0; i < 3; ++i) {
    p->maxThreadsDim[i] = detail::k_max_block_dim[i];
    p->maxGridSize[i] = int(detail::k_max_grid_dim[i]);
  }
  p->totalConstMem = 65536;
  p->major = 9;
  p->minor = 0;
  p->textureAlignment = 512;
  p->multiProcessorCount = 132;
  p->canMapHostMemory = 1;
  p->concurrentKernels = 1;
  p->asyncEngineCount = 2;
  p->unifiedAddressing = 1;
  p->memoryBusWidth = 5120;
  p->l2CacheSize = 50 * 1024 * 1024;
  p->persistingL2CacheMaxSize = 32 * 1024 * 1024;
  p->maxThreadsPerMultiProcessor = 2048;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerMultiprocessor = 65536;
  p->cooperativeLaunch = 1;
  p->sharedMemPerBlockOptin = detail::k_max_shared_per_block_optin;
  p->maxBlocksPerMultiProcessor = 32;
  p->reservedSharedMemPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return set_last_error(cudaErrorInvalidValue);
  if (device != 0) return set_last_error(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(p.sharedMemPerBlockOptin); break;
    default: return set_last_error(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return detail::sync_result(); }

// ---- streams --------------------------------------------------------------------------------------------------------
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (!stream || flags > cudaStreamNonBlocking) return set_last_error(cudaErrorInvalidValue);
  auto* s = new CUstream_st{flags};
  std::lock_guard<std::mutex> lock(detail::g_mu);
  detail::streams().insert(s);
  *stream = s;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(detail::g_mu);
  if (!stream || !detail::streams().erase(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  return detail::sync_result();
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return detail::valid_stream(stream) ? cudaSuccess : set_last_error(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  if (!detail::valid_stream(stream) || !detail::valid_event(event)) return set_last_error(cudaErrorInvalidResourceHandle);
  return cudaSuccess;  // the event's work has completed already
}
cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void* user_data) {
  if (!detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  if (!fn) return set_last_error(cudaErrorInvalidValue);
  fn(user_data);
  return cudaSuccess;
}

// ---- events ---------------------------------------------------------------------------------------------------------
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (!event || (flags & ~(cudaEventBlockingSync | cudaEventDisableTiming)) != 0)
    return set_last_error(cudaErrorInvalidValue);
  auto* e = new CUevent_st{flags, false, {}};
  std::lock_guard<std::mutex> lock(detail::g_mu);
  detail::events().insert(e);
  *event = e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!detail::valid_event(event) || !detail::valid_stream(stream)) return set_last_error(cudaErrorInvalidResourceHandle);
  event->recorded = true;
  event->when = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!detail::valid_event(event)) return set_last_error(cudaErrorInvalidResourceHandle);
  return detail::sync_result();
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  return detail::valid_event(event) ? cudaSuccess : set_last_error(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return set_last_error(cudaErrorInvalidValue);
  if (!detail::valid_event(start) || !detail::valid_event(end)) return set_last_error(cudaErrorInvalidResourceHandle);
  if ((start->flags | end->flags) & cudaEventDisableTiming) return set_last_error(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return set_last_error(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(detail::g_mu);
  if (!event || !detail::events().erase(event)) return set_last_error(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

}  // namespace cage_cuda_emu

namespace cage::emu {
std::string last_failure() {
  std::lock_guard<std::mutex> lock(cage_cuda_emu::detail::g_mu);
  return cage_cuda_emu::detail::last_failure_message();
}
}  // namespace cage::emu
