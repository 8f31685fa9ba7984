#include "kernels/gpu/common.h"

#if !defined(CAGE_GPU_REAL_CUDA)
#include "kernels/emu/emu.h"
#endif

namespace cage::CAGE_GPU_NAMESPACE {

void check_cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  fail(what, ": ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

void check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return;
#if !defined(CAGE_GPU_REAL_CUDA)
  const std::string detail = emu::last_failure();
  if (!detail.empty()) fail(what, ": ", cudaGetErrorName(e), ": ", detail);
#endif
  check_cuda(e, what);
}

namespace {
cudaStream_t g_stream = nullptr;  // made by install(); the legacy default stream until then
}

cudaStream_t stream() { return g_stream; }

void create_stream() {
  if (g_stream) return;
  check_cuda(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
}

void copy_to_host(void* dst, const void* src, size_t bytes, const char* what) {
  check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()), what);
  check_cuda(cudaStreamSynchronize(stream()), what);
}

void check_on_device(const Tensor& t, const char* op, const char* name) {
  CAGE_CHECK(t.defined(), op, ": ", name, " is undefined");
  CAGE_CHECK(t.device() == kDevice, op, ": ", name, " is on ", device_name(t.device()), ", expected ",
             device_name(kDevice));
  CAGE_CHECK(t.is_contiguous(), op, ": ", name, " ", describe(t), " is not contiguous");
}

namespace {
template <typename T>
T* typed(const Tensor& t, const char* op, const char* name) {
  check_on_device(t, op, name);
  CAGE_CHECK(t.dtype() == dtype_of<T>::value, op, ": ", name, " is ", dtype_name(t.dtype()), ", expected ",
             dtype_name(dtype_of<T>::value), " on ", device_name(kDevice));
  return static_cast<T*>(t.raw_data());
}
}  // namespace

float* f32(const Tensor& t, const char* op, const char* name) { return typed<float>(t, op, name); }
double* f64(const Tensor& t, const char* op, const char* name) { return typed<double>(t, op, name); }
int64_t* i64(const Tensor& t, const char* op, const char* name) { return typed<int64_t>(t, op, name); }
float* f32_or_null(const Tensor& t, const char* op, const char* name) {
  return t.defined() ? f32(t, op, name) : nullptr;
}

Tensor device_empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype, kDevice); }

}  // namespace cage::CAGE_GPU_NAMESPACE
