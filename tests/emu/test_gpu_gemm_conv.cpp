// GEMMs and dense convolutions on device emu against the CPU kernels (the oracle): the emulated cuBLAS / cuDNN
// subsets' argument checks and status codes, the row-major gemm / gemm_batched wrappers in all four transpose
// combinations at odd sizes with padded leading dimensions, nn::matmul / nn::linear forward and backward on emu
// tensors, and conv2d forward / backward (stem-like 3x3 stride 2, 3x3 stride 1, grouped, 1x1 as a GEMM, 1x1 stride 2).
// Outputs are pre-filled with NaN wherever the op must not read them, so an element left unwritten fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "emu/emu_test_util.h"
#include "emu/gpu_compare.h"
#include "kernels/conv.h"
#include "kernels/device.h"
#include "kernels/emu/cublas_emu.h"
#include "kernels/emu/cudnn_emu.h"
#include "kernels/gemm.h"
#include "nn/functional.h"

namespace cage_test {
namespace {

class GpuGemmConv : public EmuTest {};

// ---- emulated cuBLAS --------------------------------------------------------------------------------------------

TEST_F(GpuGemmConv, CublasChecksArgumentsAsCublas) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  // cudaMalloc'd buffers: exactly 64 floats each in the emulator's registry (tensors come from a caching
  // allocator whose blocks may be larger than the tensor).
  device_buffer<float> a(std::vector<float>(64, 0.0f)), b(std::vector<float>(64, 0.0f)), c(std::vector<float>(64, 0.0f));
  const float* A = a.get();
  const float* B = b.get();
  float* C = c.get();
  const float one = 1.0f, zero = 0.0f;
  const auto N = CUBLAS_OP_N, T = CUBLAS_OP_T;
  // m = 4, n = 3, k = 5: A (4, 5) needs lda >= 4, or lda >= 5 transposed; B (5, 3) ldb >= 5; C ldc >= 4.
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, 5, &one, A, 4, B, 5, &zero, C, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSgemm(nullptr, N, N, 4, 3, 5, &one, A, 4, B, 5, &zero, C, 4), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, 5, &one, A, 3, B, 5, &zero, C, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  EXPECT_EQ(cublasSgemm(h, T, N, 4, 3, 5, &one, A, 4, B, 5, &zero, C, 4), CUBLAS_STATUS_INVALID_VALUE);  // lda < k
  EXPECT_EQ(cublasSgemm(h, T, N, 4, 3, 5, &one, A, 5, B, 5, &zero, C, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, 5, &one, A, 4, B, 4, &zero, C, 4), CUBLAS_STATUS_INVALID_VALUE);  // ldb < k
  EXPECT_EQ(cublasSgemm(h, N, T, 4, 3, 5, &one, A, 4, B, 2, &zero, C, 4), CUBLAS_STATUS_INVALID_VALUE);  // ldb < n
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, 5, &one, A, 4, B, 5, &zero, C, 3), CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
  EXPECT_EQ(cublasSgemm(h, N, N, -1, 3, 5, &one, A, 4, B, 5, &zero, C, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, -2, &one, A, 4, B, 5, &zero, C, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, cublasOperation_t(9), N, 4, 3, 5, &one, A, 4, B, 5, &zero, C, 4),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemm(h, N, N, 0, 0, 0, &one, A, 0, B, 1, &zero, C, 1), CUBLAS_STATUS_INVALID_VALUE);  // lda >= 1
  EXPECT_EQ(cublasSgemm(h, N, N, 0, 3, 5, &one, A, 1, B, 5, &zero, C, 1), CUBLAS_STATUS_SUCCESS);  // empty: no work
  EXPECT_EQ(cublasSgemmStridedBatched(h, N, N, 4, 3, 5, &one, A, 4, 0, B, 5, 0, &zero, C, 4, 0, -1),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgemmStridedBatched(h, N, N, 4, 3, 5, &one, A, 4, 0, B, 5, 0, &zero, C, 4, 0, 0),
            CUBLAS_STATUS_SUCCESS);
  // Operands must be device memory and lie inside their allocation.
  std::vector<float> host(64);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, 5, &one, host.data(), 4, B, 5, &zero, C, 4), CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, 5, &one, A, 4, B, 5, &zero, C + 60, 4), CUBLAS_STATUS_EXECUTION_FAILED);
  EXPECT_EQ(cublasSgemmStridedBatched(h, N, N, 4, 3, 5, &one, A, 4, 0, B, 5, 0, &zero, C, 4, 12, 6),
            CUBLAS_STATUS_EXECUTION_FAILED);  // the 6th C ends past 64 floats
  // geam: in place only untransposed with the same leading dimension.
  EXPECT_EQ(cublasSgeam(h, T, N, 4, 4, &one, C, 4, &zero, C, 4, C, 4), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_EQ(cublasSgeam(h, N, N, 4, 4, &one, C, 4, &one, B, 4, C, 4), CUBLAS_STATUS_SUCCESS);
  EXPECT_STREQ(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE");
  ASSERT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasSgemm(h, N, N, 4, 3, 5, &one, A, 4, B, 5, &zero, C, 4), CUBLAS_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_NOT_INITIALIZED);
}

TEST_F(GpuGemmConv, CublasIsColumnMajor) {
  // A (2, 3) column-major = [[1, 3, 5], [2, 4, 6]], B (3, 1) = [1, 1, 1]^T: C = [9, 12].
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {6}).to(Device::emu);
  Tensor b = Tensor::from_vector<float>({1, 1, 1}, {3}).to(Device::emu);
  Tensor c = nan_tensor({2}, Device::emu);
  const float one = 1.0f, zero = 0.0f;
  ASSERT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 3, &one, a.data<float>(), 2, b.data<float>(), 3, &zero,
                        c.data<float>(), 2),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.to(Device::cpu).to_vector<float>(), (std::vector<float>{9, 12}));
  cublasDestroy(h);
}

// ---- row-major gemm wrappers ------------------------------------------------------------------------------------

struct GemmSize {
  int64_t M, N, K;
};
const GemmSize kSizes[] = {{1, 1, 1}, {7, 5, 3}, {33, 31, 17}, {5, 100, 33}, {64, 65, 129}};

TEST_F(GpuGemmConv, GemmAllTransposesMatchCpu) {
  uint32_t seed = 10;
  for (const GemmSize& z : kSizes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.0f, -0.5f}) {
          // Row strides padded past the row length, so the leading dimensions are really used.
          const int64_t a_rows = ta ? z.K : z.M, a_cols = ta ? z.M : z.K, lda = a_cols + 3;
          const int64_t b_rows = tb ? z.N : z.K, b_cols = tb ? z.K : z.N, ldb = b_cols + 2;
          const int64_t ldc = z.N + 1;
          Tensor A = random_tensor({a_rows, lda}, seed++), B = random_tensor({b_rows, ldb}, seed++);
          Tensor C = beta == 0.0f ? Tensor::full({z.M, ldc}, NAN) : random_tensor({z.M, ldc}, seed++);
          Tensor Ad = A.to(Device::emu), Bd = B.to(Device::emu), Cd = C.to(Device::emu);
          const float alpha = 0.75f;
          cage::kernels::gemm<float>(ta, tb, z.M, z.N, z.K, alpha, A.data<float>(), lda, B.data<float>(), ldb, beta,
                                     C.data<float>(), ldc);
          cage::kernels::gemm_device(Device::emu, ta, tb, z.M, z.N, z.K, alpha, Ad.data<float>(), lda,
                                     Bd.data<float>(), ldb, beta, Cd.data<float>(), ldc);
          char name[96];
          std::snprintf(name, sizeof name, "gemm %c%c M %lld N %lld K %lld beta %g", ta ? 'T' : 'N', tb ? 'T' : 'N',
                        (long long)z.M, (long long)z.N, (long long)z.K, beta);
          check_close(name, Cd.slice(1, 0, z.N), C.slice(1, 0, z.N), 1e-5, 1e-5);
          // The padding columns of C are not part of the product: they keep what they held (NaN stays NaN).
          std::vector<float> pad = Cd.slice(1, z.N, ldc).to(Device::cpu).contiguous().to_vector<float>();
          std::vector<float> want = C.slice(1, z.N, ldc).contiguous().to_vector<float>();
          for (size_t i = 0; i < pad.size(); ++i)
            EXPECT_TRUE(std::isnan(pad[i]) ? std::isnan(want[i]) : pad[i] == want[i]) << name;
        }
}

TEST_F(GpuGemmConv, GemmBatchedAllTransposesMatchCpu) {
  uint32_t seed = 100;
  const int64_t batch = 3;
  for (const GemmSize& z : {GemmSize{7, 5, 3}, GemmSize{33, 31, 17}, GemmSize{1, 9, 4}})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (bool shared_b : {false, true}) {  // stride 0: one B for every batch entry
          const int64_t a_rows = ta ? z.K : z.M, lda = (ta ? z.M : z.K) + 1, sa = a_rows * lda + 5;
          const int64_t b_rows = tb ? z.N : z.K, ldb = (tb ? z.K : z.N) + 2, sb = shared_b ? 0 : b_rows * ldb;
          const int64_t ldc = z.N, sc = z.M * ldc + 3;
          Tensor A = random_tensor({batch * sa}, seed++),
                 B = random_tensor({shared_b ? b_rows * ldb : batch * sb}, seed++);
          Tensor C = random_tensor({batch * sc}, seed++);
          Tensor Ad = A.to(Device::emu), Bd = B.to(Device::emu), Cd = C.to(Device::emu);
          for (int64_t i = 0; i < batch; ++i)
            cage::kernels::gemm<float>(ta, tb, z.M, z.N, z.K, 1.25f, A.data<float>() + i * sa, lda,
                                       B.data<float>() + i * sb, ldb, 0.5f, C.data<float>() + i * sc, ldc);
          cage::kernels::gemm_batched_device(Device::emu, ta, tb, z.M, z.N, z.K, 1.25f, Ad.data<float>(), lda, sa,
                                             Bd.data<float>(), ldb, sb, 0.5f, Cd.data<float>(), ldc, sc, batch);
          char name[96];
          std::snprintf(name, sizeof name, "gemm_batched %c%c M %lld N %lld K %lld%s", ta ? 'T' : 'N',
                        tb ? 'T' : 'N', (long long)z.M, (long long)z.N, (long long)z.K, shared_b ? " shared B" : "");
          check_close(name, Cd, C, 1e-5, 1e-5);  // the gaps between C matrices must be untouched too
        }
}

// ---- nn::matmul / nn::linear ------------------------------------------------------------------------------------

// f(a, b) forward and backward (seed gradient g) on the CPU and on emu leaves; outputs and gradients compared.
template <typename F>
void check_autograd(const std::string& what, F f, const Tensor& a, const Tensor& b, uint32_t seed) {
  Tensor ac = a.clone().set_requires_grad(true), bc = b.clone().set_requires_grad(true);
  Tensor ae = a.to(Device::emu).set_requires_grad(true), be = b.to(Device::emu).set_requires_grad(true);
  Tensor yc = f(ac, bc), ye = f(ae, be);
  ASSERT_EQ(ye.device(), Device::emu);
  Tensor g = random_tensor(yc.shape(), seed);
  yc.backward(g);
  ye.backward(g.to(Device::emu));
  check_close(what + " forward", ye, yc, 1e-5, 1e-5);
  ASSERT_TRUE(ae.grad().defined() && be.grad().defined()) << what;
  EXPECT_EQ(ae.grad().device(), Device::emu);
  check_close(what + " grad a", ae.grad(), ac.grad(), 1e-5, 1e-5);
  check_close(what + " grad b", be.grad(), bc.grad(), 1e-5, 1e-5);
}

TEST_F(GpuGemmConv, MatmulAndLinearForwardBackwardMatchCpu) {
  using cage::nn::linear;
  using cage::nn::matmul;
  check_autograd(
      "matmul (7,33)x(33,5)", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, random_tensor({7, 33}, 1),
      random_tensor({33, 5}, 2), 3);
  // A transposed view goes to the GEMM with its transpose flag.
  check_autograd(
      "matmul (7,33)x(5,33)^T", [](const Tensor& a, const Tensor& b) { return matmul(a, b.transpose(0, 1)); },
      random_tensor({7, 33}, 4), random_tensor({5, 33}, 5), 6);
  check_autograd(
      "matmul (3,7,9)x(3,9,31)", [](const Tensor& a, const Tensor& b) { return matmul(a, b); },
      random_tensor({3, 7, 9}, 7), random_tensor({3, 9, 31}, 8), 9);
  check_autograd(
      "matmul (3,7,9)x(9,5)", [](const Tensor& a, const Tensor& b) { return matmul(a, b); },
      random_tensor({3, 7, 9}, 10), random_tensor({9, 5}, 11), 12);
  check_autograd(
      "linear x (2,5,33) w (17,33)", [](const Tensor& x, const Tensor& w) { return linear(x, w); },
      random_tensor({2, 5, 33}, 13), random_tensor({17, 33}, 14), 15);
}

TEST_F(GpuGemmConv, LinearWithBiasForwardBackwardMatchCpu) {
  // On a device the bias is folded into the GEMMs (no elementwise kernel); the CPU adds it after the matmul.
  for (bool weight_view : {false, true}) {  // w as stored, or as the transposed view of an (in, out) matrix
    Tensor x = random_tensor({2, 5, 33}, 20), w = random_tensor({17, 33}, 21), b = random_tensor({17}, 22);
    Tensor wt_c = w.transpose(0, 1).contiguous();
    auto leaves = [&](Device d) {
      std::vector<Tensor> v = {x.to(d), (weight_view ? wt_c : w).to(d), b.to(d)};
      if (d == Device::cpu)
        for (Tensor& t : v) t = t.clone();
      for (Tensor& t : v) t.set_requires_grad(true);
      return v;
    };
    std::vector<Tensor> c = leaves(Device::cpu), e = leaves(Device::emu);
    auto weight = [&](const Tensor& t) { return weight_view ? t.transpose(0, 1) : t; };
    Tensor yc = cage::nn::linear(c[0], weight(c[1]), c[2]), ye = cage::nn::linear(e[0], weight(e[1]), e[2]);
    Tensor g = random_tensor(yc.shape(), 23);
    yc.backward(g);
    ye.backward(g.to(Device::emu));
    const std::string name = weight_view ? "linear + bias, weight view" : "linear + bias";
    check_close(name + " forward", ye, yc, 1e-5, 1e-5);
    check_close(name + " grad x", e[0].grad(), c[0].grad(), 1e-5, 1e-5);
    check_close(name + " grad w", e[1].grad(), c[1].grad(), 1e-5, 1e-5);
    check_close(name + " grad b", e[2].grad(), c[2].grad(), 1e-5, 1e-5);
  }
}

// ---- conv2d -----------------------------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  int64_t N, H, W, Cin, K, Cout, stride, padding, groups;
};
const ConvCase kConvs[] = {
    {"stem 3x3 s2 p1 17x17 3->8", 2, 17, 17, 3, 3, 8, 2, 1, 1},
    {"stem 3x3 s2 p1 16x16 3->8", 2, 16, 16, 3, 3, 8, 2, 1, 1},
    {"3x3 s1 p1 9x11 5->7", 2, 9, 11, 5, 3, 7, 1, 1, 1},
    {"3x3 s1 p1 groups 2 7x5 6->4", 1, 7, 5, 6, 3, 4, 1, 1, 2},
    {"1x1 (GEMM) 7x5 13->9", 2, 7, 5, 13, 1, 9, 1, 0, 1},
    {"1x1 s2 9x7 6->5", 2, 9, 7, 6, 1, 5, 2, 0, 1},
    {"5x5 s1 p2 6x6 4->3", 1, 6, 6, 4, 5, 3, 1, 2, 1},
};

TEST_F(GpuGemmConv, Conv2dForwardBackwardMatchCpu) {
  uint32_t seed = 200;
  for (const ConvCase& c : kConvs) {
    Tensor x = random_tensor({c.N, c.H, c.W, c.Cin}, seed++),
           w = random_tensor({c.K, c.K, c.Cin / c.groups, c.Cout}, seed++);
    Tensor b = random_tensor({c.Cout}, seed++);
    const cage::kernels::Conv2dShape s = cage::kernels::conv2d_shape(x.shape(), w.shape(), c.stride, c.padding, c.groups);
    Tensor gy = random_tensor({c.N, s.Ho, s.Wo, c.Cout}, seed++);
    Tensor xe = x.to(Device::emu), we = w.to(Device::emu), be = b.to(Device::emu), gye = gy.to(Device::emu);
    for (bool bias : {true, false}) {
      Tensor y = Tensor::empty(gy.shape()), ye = nan_tensor(gy.shape(), Device::emu);
      cage::kernels::conv2d_forward(s, x, w, bias ? b : Tensor(), y);
      cage::kernels::conv2d_forward(s, xe, we, bias ? be : Tensor(), ye);
      check_close(std::string(c.name) + (bias ? " forward + bias" : " forward"), ye, y, 1e-5, 1e-5);
    }
    Tensor gx = Tensor::empty(x.shape()), gw = Tensor::empty(w.shape()), gb = Tensor::empty(b.shape());
    Tensor gxe = nan_tensor(x.shape(), Device::emu), gwe = nan_tensor(w.shape(), Device::emu),
           gbe = nan_tensor(b.shape(), Device::emu);
    cage::kernels::conv2d_backward(s, x, w, gy, gx, gw, gb);
    cage::kernels::conv2d_backward(s, xe, we, gye, gxe, gwe, gbe);
    check_close(std::string(c.name) + " grad x", gxe, gx, 1e-5, 1e-5);
    check_close(std::string(c.name) + " grad w", gwe, gw, 1e-5, 1e-5);
    check_close(std::string(c.name) + " grad b", gbe, gb, 1e-5, 1e-5);
    // Gradients are optional one by one.
    Tensor gw_only = nan_tensor(w.shape(), Device::emu);
    cage::kernels::conv2d_backward(s, xe, we, gye, Tensor(), gw_only, Tensor());
    check_close(std::string(c.name) + " grad w alone", gw_only, gw, 1e-5, 1e-5);
  }
}

TEST_F(GpuGemmConv, NnConv2dOnEmuMatchesCpu) {
  auto stem = [](const Tensor& x, const Tensor& w) {
    return cage::nn::conv2d(x, w, Tensor(), cage::nn::Conv2dOptions{2, 1, 1});
  };
  check_autograd("nn::conv2d stem 3x3 s2 p1", stem, random_tensor({2, 17, 17, 3}, 300),
                 random_tensor({3, 3, 3, 8}, 301), 302);
}

// ---- emulated cuDNN ---------------------------------------------------------------------------------------------

TEST_F(GpuGemmConv, CudnnChecksDescriptorsAsCudnn) {
  cudnnHandle_t h = nullptr;
  ASSERT_EQ(cudnnCreate(&h), CUDNN_STATUS_SUCCESS);
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t fd;
  cudnnConvolutionDescriptor_t cd;
  ASSERT_EQ(cudnnCreateTensorDescriptor(&xd), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnCreateTensorDescriptor(&yd), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnCreateFilterDescriptor(&fd), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnCreateConvolutionDescriptor(&cd), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 0, 3, 17, 17), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 2, 3, 17, 17), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetFilter4dDescriptor(fd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 8, 3, 3, 3), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnSetConvolution2dDescriptor(cd, 1, 1, 0, 2, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_BAD_PARAM);  // stride 0
  ASSERT_EQ(cudnnSetConvolution2dDescriptor(cd, 1, 1, 2, 2, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnSetConvolutionGroupCount(cd, 0), CUDNN_STATUS_BAD_PARAM);
  int n, c, hh, ww;
  ASSERT_EQ(cudnnGetConvolution2dForwardOutputDim(cd, xd, fd, &n, &c, &hh, &ww), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(std::vector<int>({n, c, hh, ww}), std::vector<int>({2, 8, 9, 9}));

  Tensor x = random_tensor({2, 17, 17, 3}, 1).to(Device::emu), w = random_tensor({8, 3, 3, 3}, 2).to(Device::emu);
  Tensor y = nan_tensor({2, 9, 9, 8}, Device::emu);
  const float one = 1.0f, zero = 0.0f;
  const auto algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  auto forward = [&](cudnnHandle_t handle, const void* xp) {
    return cudnnConvolutionForward(handle, &one, xd, xp, fd, w.raw_data(), cd, algo, nullptr, 0, &zero, yd,
                                   y.raw_data());
  };
  ASSERT_EQ(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 2, 8, 8, 9), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(forward(h, x.raw_data()), CUDNN_STATUS_BAD_PARAM);  // output height 8, should be 9
  ASSERT_EQ(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 2, 8, 9, 9), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(forward(nullptr, x.raw_data()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(forward(h, nullptr), CUDNN_STATUS_BAD_PARAM);
  std::vector<float> host(2 * 17 * 17 * 3);
  EXPECT_EQ(forward(h, host.data()), CUDNN_STATUS_EXECUTION_FAILED);
  EXPECT_EQ(forward(h, x.raw_data()), CUDNN_STATUS_SUCCESS);
  // Input channels must be the filter's times the groups.
  ASSERT_EQ(cudnnSetFilter4dDescriptor(fd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 8, 2, 3, 3), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnGetConvolution2dForwardOutputDim(cd, xd, fd, &n, &c, &hh, &ww), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(forward(h, x.raw_data()), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(cudnnSetFilter4dDescriptor(fd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 8, 3, 3, 3), CUDNN_STATUS_SUCCESS);
  // NCHW is valid cuDNN but not computed by the emulator.
  ASSERT_EQ(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 3, 17, 17), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(forward(h, x.raw_data()), CUDNN_STATUS_NOT_SUPPORTED);
  // A filter too large for the padded input has no output.
  ASSERT_EQ(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 2, 3, 1, 1), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetConvolution2dDescriptor(cd, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnGetConvolution2dForwardOutputDim(cd, xd, fd, &n, &c, &hh, &ww), CUDNN_STATUS_BAD_PARAM);

  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyFilterDescriptor(fd);
  cudnnDestroyConvolutionDescriptor(cd);
  EXPECT_EQ(cudnnDestroy(h), CUDNN_STATUS_SUCCESS);
}

// A cuDNN tensor / filter / convolution descriptor set for NHWC float32, destroyed with the object.
struct DnnDescs {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  DnnDescs(int N, int H, int W, int C, int K, int R, int Ho, int Wo, int pad, int stride, cudnnConvolutionMode_t mode) {
    cudnnCreateTensorDescriptor(&x);
    cudnnCreateTensorDescriptor(&y);
    cudnnCreateTensorDescriptor(&bias);
    cudnnCreateFilterDescriptor(&w);
    cudnnCreateConvolutionDescriptor(&conv);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, N, C, H, W), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, N, K, Ho, Wo), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, K, 1, 1), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, K, C, R, R), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetConvolution2dDescriptor(conv, pad, pad, stride, stride, 1, 1, mode, CUDNN_DATA_FLOAT),
              CUDNN_STATUS_SUCCESS);
  }
  ~DnnDescs() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
};

TEST_F(GpuGemmConv, CudnnConvolutionModeFlipsTheFilter) {
  // CUDNN_CONVOLUTION with filter w equals CROSS_CORRELATION with w rotated by 180 degrees in (R, S).
  cudnnHandle_t h = nullptr;
  ASSERT_EQ(cudnnCreate(&h), CUDNN_STATUS_SUCCESS);
  const int N = 2, H = 7, W = 6, C = 3, K = 4, R = 3;
  Tensor x = random_tensor({N, H, W, C}, 40), w = random_tensor({K, R, R, C}, 41);
  std::vector<float> wv = w.to_vector<float>(), fv(wv.size());
  for (int k = 0; k < K; ++k)
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < R; ++q)
        for (int c = 0; c < C; ++c)
          fv[((k * R + r) * R + q) * C + c] = wv[((k * R + (R - 1 - r)) * R + (R - 1 - q)) * C + c];
  Tensor flipped = Tensor::from_vector(fv, {K, R, R, C});
  Tensor xe = x.to(Device::emu), we = w.to(Device::emu), fe = flipped.to(Device::emu);
  Tensor y1 = nan_tensor({N, H, W, K}, Device::emu), y2 = nan_tensor({N, H, W, K}, Device::emu);
  const float one = 1.0f, zero = 0.0f;
  DnnDescs conv(N, H, W, C, K, R, H, W, 1, 1, CUDNN_CONVOLUTION), xcorr(N, H, W, C, K, R, H, W, 1, 1,
                                                                         CUDNN_CROSS_CORRELATION);
  const auto algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  ASSERT_EQ(cudnnConvolutionForward(h, &one, conv.x, xe.raw_data(), conv.w, we.raw_data(), conv.conv, algo, nullptr,
                                    0, &zero, conv.y, y1.raw_data()),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnConvolutionForward(h, &one, xcorr.x, xe.raw_data(), xcorr.w, fe.raw_data(), xcorr.conv, algo,
                                    nullptr, 0, &zero, xcorr.y, y2.raw_data()),
            CUDNN_STATUS_SUCCESS);
  check_close("cudnn CONVOLUTION vs flipped CROSS_CORRELATION", y1, y2, 1e-5, 1e-5);  // other summation order
  // alpha and beta: y = 2 conv + 0.5 y.
  const float two = 2.0f, half = 0.5f;
  Tensor y3 = y2.clone();
  ASSERT_EQ(cudnnConvolutionForward(h, &two, conv.x, xe.raw_data(), conv.w, we.raw_data(), conv.conv, algo, nullptr,
                                    0, &half, conv.y, y3.raw_data()),
            CUDNN_STATUS_SUCCESS);
  std::vector<float> want = y2.to(Device::cpu).to_vector<float>();
  for (float& v : want) v *= 2.5f;
  check_close("cudnn forward alpha 2 beta 0.5", y3, Tensor::from_vector(want, {N, H, W, K}), 1e-6, 1e-6);
  cudnnDestroy(h);
}

TEST_F(GpuGemmConv, CudnnBackwardChecksShapes) {
  cudnnHandle_t h = nullptr;
  ASSERT_EQ(cudnnCreate(&h), CUDNN_STATUS_SUCCESS);
  const int N = 2, H = 9, W = 9, C = 3, K = 8, R = 3;
  DnnDescs d(N, H, W, C, K, R, 5, 5, 1, 2, CUDNN_CROSS_CORRELATION);
  Tensor x = random_tensor({N, H, W, C}, 50).to(Device::emu), w = random_tensor({K, R, R, C}, 51).to(Device::emu);
  Tensor gy = random_tensor({N, 5, 5, K}, 52).to(Device::emu), gb = nan_tensor({K}, Device::emu);
  Tensor gx = nan_tensor({N, H, W, C}, Device::emu), gw = nan_tensor({K, R, R, C}, Device::emu);
  const float one = 1.0f, zero = 0.0f;
  const auto data_algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  const auto filter_algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
  auto backward_data = [&] {
    return cudnnConvolutionBackwardData(h, &one, d.w, w.raw_data(), d.y, gy.raw_data(), d.conv, data_algo, nullptr, 0,
                                        &zero, d.x, gx.raw_data());
  };
  auto backward_filter = [&] {
    return cudnnConvolutionBackwardFilter(h, &one, d.x, x.raw_data(), d.y, gy.raw_data(), d.conv, filter_algo, nullptr,
                                          0, &zero, d.w, gw.raw_data());
  };
  auto backward_bias = [&] {
    return cudnnConvolutionBackwardBias(h, &one, d.y, gy.raw_data(), &zero, d.bias, gb.raw_data());
  };
  EXPECT_EQ(backward_data(), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(backward_filter(), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(backward_bias(), CUDNN_STATUS_SUCCESS);
  // dy with the wrong batch; db with the wrong channel count; an algorithm the emulator does not run.
  ASSERT_EQ(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, K, 5, 5), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(backward_data(), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(backward_filter(), CUDNN_STATUS_BAD_PARAM);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, N, K, 5, 5), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(d.bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, K - 1, 1, 1),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(backward_bias(), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnAddTensor(h, &one, d.bias, gb.raw_data(), &one, d.y, gy.raw_data()), CUDNN_STATUS_BAD_PARAM);
  size_t bytes = 1;
  EXPECT_EQ(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT,
                                                         &bytes),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, filter_algo, &bytes),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(bytes, 0u);
  cudnnDestroy(h);
}

}  // namespace
}  // namespace cage_test
