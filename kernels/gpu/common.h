// Helpers of the Tensor-level GPU code (kernels/gpu/*.cpp), compiled once per backend namespace: emu by default,
// cuda when CAGE_GPU_REAL_CUDA is defined (kernels/cuda/host_api.cuh).
#pragma once
#include <string>

#include "core/tensor.h"
#include "kernels/cuda/host_api.cuh"
#include "kernels/gpu/ops.h"

namespace cage::CAGE_GPU_NAMESPACE {

constexpr Device kDevice = Device::CAGE_GPU_NAMESPACE;  // Device::emu or Device::cuda

// Error "<what>: <cudaErrorName> (<message>)" when e is not cudaSuccess.
void check_cuda(cudaError_t e, const char* what);
// After a launch: the launch's own error (bad configuration) or, in the emulator, the kernel's failure.
void check_launch(const char* what);
// The stream every op, copy and library call of the device is issued on: one non-blocking stream made by install(),
// so work is ordered among itself and host code waits only where it reads results (copy_to_host, synchronize).
cudaStream_t stream();
void create_stream();
// Device -> host copy on the device's stream, waiting for it (and for the work before it).
void copy_to_host(void* dst, const void* src, size_t bytes, const char* what);

// The data pointer of a tensor on this backend's device, checked: right device, dtype and contiguous.
void check_on_device(const Tensor& t, const char* op, const char* name);
float* f32(const Tensor& t, const char* op, const char* name);
double* f64(const Tensor& t, const char* op, const char* name);
int64_t* i64(const Tensor& t, const char* op, const char* name);
// The same for optional tensors: nullptr when t is undefined.
float* f32_or_null(const Tensor& t, const char* op, const char* name);

// A scratch tensor on this device (contiguous).
Tensor device_empty(const Shape& shape, DType dtype = DType::f32);

}  // namespace cage::CAGE_GPU_NAMESPACE
