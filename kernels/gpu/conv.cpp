// Dense 2-D convolutions (NHWC, HWIO weights) on a GPU device: 1x1 stride-1 convolutions are one GEMM over all
// pixels (kernels/gpu/gemm.cpp); every other dense or grouped convolution goes to cuDNN (the real <cudnn.h> for device
// cuda, the emulator's subset kernels/emu/cudnn_emu.h for device emu); depthwise ones go to the depthwise ops, as on
// the CPU. cuDNN's NHWC filter layout is (Cout, KH, KW, Cin/groups) while the project's weights are HWIO, i.e. the
// transpose of the same (KH*KW*Cin/groups, Cout) matrix: the weight is transposed into a scratch tensor before
// forward / backward-data, and the filter gradient is transposed back. Deterministic algorithms (IMPLICIT_PRECOMP_GEMM
// forward, ALGO_1 for both backward passes; the next algorithm only when cuDNN does not offer that one for a shape)
// and FMA math (no TF32), so results do not change from run to run and stay float32-accurate.
#include <climits>

#include "kernels/gpu/blas.h"

#if defined(CAGE_GPU_REAL_CUDA)
#include <cudnn.h>
#else
#include "kernels/emu/cudnn_emu.h"
#endif

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  fail(what, ": ", cudnnGetErrorString(s), " on device ", device_name(kDevice));
}

cudnnHandle_t dnn_handle() {
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h = nullptr;
    check_cudnn(cudnnCreate(&h), "cudnnCreate");
    return h;
  }();
  check_cudnn(cudnnSetStream(handle, stream()), "cudnnSetStream");
  return handle;
}

int dim(int64_t v) {
  CAGE_CHECK(v > 0 && v <= INT_MAX, "conv2d: dimension ", v, " does not fit cuDNN's int");
  return static_cast<int>(v);
}

// The descriptors of one convolution shape, destroyed with the object.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  explicit Descriptors(const kernels::Conv2dShape& s) {
    const char* n = "conv2d descriptors";
    check_cudnn(cudnnCreateTensorDescriptor(&x), n);
    check_cudnn(cudnnCreateTensorDescriptor(&y), n);
    check_cudnn(cudnnCreateTensorDescriptor(&bias), n);
    check_cudnn(cudnnCreateFilterDescriptor(&w), n);
    check_cudnn(cudnnCreateConvolutionDescriptor(&conv), n);
    check_cudnn(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, dim(s.N), dim(s.Cin), dim(s.H),
                                           dim(s.W)),
                "conv2d input descriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, dim(s.N), dim(s.Cout), dim(s.Ho),
                                           dim(s.Wo)),
                "conv2d output descriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, dim(s.Cout), 1, 1),
                "conv2d bias descriptor");
    check_cudnn(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, dim(s.Cout), dim(s.Cin / s.groups),
                                           dim(s.KH), dim(s.KW)),
                "conv2d filter descriptor");
    const int pad = static_cast<int>(s.padding), stride = dim(s.stride);
    check_cudnn(cudnnSetConvolution2dDescriptor(conv, pad, pad, stride, stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT),
                "conv2d convolution descriptor");
    check_cudnn(cudnnSetConvolutionGroupCount(conv, dim(s.groups)), "conv2d group count");
    check_cudnn(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH), "conv2d math type");
    int on = 0, oc = 0, oh = 0, ow = 0;  // cuDNN must agree with the engine's output shape
    check_cudnn(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &on, &oc, &oh, &ow), "conv2d output dims");
    CAGE_CHECK(on == s.N && oc == s.Cout && oh == s.Ho && ow == s.Wo, "conv2d: cuDNN's output (", on, ", ", oc, ", ",
               oh, ", ", ow, ") differs from (", s.N, ", ", s.Cout, ", ", s.Ho, ", ", s.Wo, ")");
  }
  ~Descriptors() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

int64_t filter_cols(const kernels::Conv2dShape& s) { return s.KH * s.KW * (s.Cin / s.groups); }

// The HWIO weight as cuDNN's (Cout, KH, KW, Cin/groups).
Tensor filter_ohwi(const kernels::Conv2dShape& s, const float* w) {
  const int64_t L = filter_cols(s);
  Tensor t = device_empty({s.Cout, s.KH, s.KW, s.Cin / s.groups});
  transpose(w, L, s.Cout, s.Cout, static_cast<float*>(t.raw_data()), L);
  return t;
}

Tensor workspace(size_t bytes) { return device_empty({static_cast<int64_t>(bytes / sizeof(float)) + 1}); }

}  // namespace

void conv2d_forward(const kernels::Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  if (s.is_depthwise()) return CAGE_GPU_NAMESPACE::depthwise_conv2d_forward(s, x, w, b, y);
  const char* n = "conv2d_forward";
  const float* xp = f32(x, n, "x");
  const float* wp = f32(w, n, "w");
  const float* bp = f32_or_null(b, n, "b");
  float* yp = f32(y, n, "y");
  Descriptors d(s);
  const float one = 1.0f, zero = 0.0f;
  if (s.is_pointwise()) {
    gemm(false, false, s.N * s.Ho * s.Wo, s.Cout, s.Cin, 1.0f, xp, s.Cin, wp, s.Cout, 0.0f, yp, s.Cout);
  } else {
    Tensor wt = filter_ohwi(s, wp);
    cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    size_t bytes = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(dnn_handle(), d.x, d.w, d.conv, d.y, algo, &bytes) !=
        CUDNN_STATUS_SUCCESS) {  // not offered for this shape: the plain implicit GEMM needs no workspace
      algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
      check_cudnn(cudnnGetConvolutionForwardWorkspaceSize(dnn_handle(), d.x, d.w, d.conv, d.y, algo, &bytes),
                  "conv2d_forward workspace");
    }
    Tensor ws = workspace(bytes);
    check_cudnn(cudnnConvolutionForward(dnn_handle(), &one, d.x, xp, d.w, wt.raw_data(), d.conv, algo, ws.raw_data(),
                                        bytes, &zero, d.y, yp),
                "conv2d_forward (cudnnConvolutionForward)");
  }
  if (bp) check_cudnn(cudnnAddTensor(dnn_handle(), &one, d.bias, bp, &one, d.y, yp), "conv2d_forward bias");
}

void conv2d_backward(const kernels::Conv2dShape& s, const Tensor& x, const Tensor& w, const Tensor& gy,
                     const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  const char* n = "conv2d_backward";
  const float* gyp = f32(gy, n, "gy");
  float* gxp = f32_or_null(gx, n, "gx");
  float* gwp = f32_or_null(gw, n, "gw");
  float* gbp = f32_or_null(gb, n, "gb");
  Descriptors d(s);
  const float one = 1.0f, zero = 0.0f;
  if (gbp)
    check_cudnn(cudnnConvolutionBackwardBias(dnn_handle(), &one, d.y, gyp, &zero, d.bias, gbp),
                "conv2d_backward (cudnnConvolutionBackwardBias)");
  if (s.is_depthwise()) return CAGE_GPU_NAMESPACE::depthwise_conv2d_backward(s, x, w, gy, gx, gw);
  const float* xp = f32(x, n, "x");
  const float* wp = f32(w, n, "w");
  if (s.is_pointwise()) {
    const int64_t rows = s.N * s.Ho * s.Wo;
    if (gxp) gemm(false, true, rows, s.Cin, s.Cout, 1.0f, gyp, s.Cout, wp, s.Cout, 0.0f, gxp, s.Cin);
    if (gwp) gemm(true, false, s.Cin, s.Cout, rows, 1.0f, xp, s.Cin, gyp, s.Cout, 0.0f, gwp, s.Cout);
    return;
  }
  if (gxp) {
    Tensor wt = filter_ohwi(s, wp);
    auto algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    size_t bytes = 0;
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(dnn_handle(), d.w, d.y, d.conv, d.x, algo, &bytes) !=
        CUDNN_STATUS_SUCCESS) {  // ALGO_0 (atomics, not bit-reproducible) only where ALGO_1 is not offered
      algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
      check_cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(dnn_handle(), d.w, d.y, d.conv, d.x, algo, &bytes),
                  "conv2d_backward data workspace");
    }
    Tensor ws = workspace(bytes);
    check_cudnn(cudnnConvolutionBackwardData(dnn_handle(), &one, d.w, wt.raw_data(), d.y, gyp, d.conv, algo,
                                             ws.raw_data(), bytes, &zero, d.x, gxp),
                "conv2d_backward (cudnnConvolutionBackwardData)");
  }
  if (gwp) {
    auto algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
    size_t bytes = 0;
    if (cudnnGetConvolutionBackwardFilterWorkspaceSize(dnn_handle(), d.x, d.y, d.conv, d.w, algo, &bytes) !=
        CUDNN_STATUS_SUCCESS) {  // as for the data gradient
      algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
      check_cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(dnn_handle(), d.x, d.y, d.conv, d.w, algo, &bytes),
                  "conv2d_backward filter workspace");
    }
    Tensor ws = workspace(bytes);
    Tensor gwt = device_empty({s.Cout, s.KH, s.KW, s.Cin / s.groups});
    check_cudnn(cudnnConvolutionBackwardFilter(dnn_handle(), &one, d.x, xp, d.y, gyp, d.conv, algo, ws.raw_data(),
                                               bytes, &zero, d.w, gwt.raw_data()),
                "conv2d_backward (cudnnConvolutionBackwardFilter)");
    const int64_t L = filter_cols(s);
    transpose(static_cast<const float*>(gwt.raw_data()), s.Cout, L, L, gwp, s.Cout);
  }
}

}  // namespace cage::CAGE_GPU_NAMESPACE
