// Tensors on device emu: the core's data movement (to, contiguous, clone, copy_ into views, fill, casts, item) goes
// through the GPU backend's DeviceOps and copy kernels and must give exactly what the CPU gives; an op dispatched on an
// emu tensor runs the CUDA kernel, and gradients flow back across Tensor::to. A cuda request without a GPU says so.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "emu/gpu_compare.h"
#include "kernels/device.h"
#include "kernels/emu/emu.h"
#include "kernels/gpu/common.h"
#include "kernels/elementwise.h"
#include "nn/functional.h"

namespace cage_test {
namespace {

class DeviceTensor : public EmuTest {};

TEST_F(DeviceTensor, RoundTripIsExact) {
  Tensor x = random_tensor({3, 5, 7}, 1, -2.0f, 2.0f);
  Tensor d = x.to(Device::emu);
  EXPECT_EQ(d.device(), Device::emu);
  EXPECT_EQ(d.to(Device::cpu).to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(d.to_vector<float>(), x.to_vector<float>());  // to_vector reads through the host
}

TEST_F(DeviceTensor, StridedViewsMadeContiguousOnTheDevice) {
  Tensor x = random_tensor({2, 3, 4, 5}, 2, -2.0f, 2.0f);
  Tensor d = x.to(Device::emu);
  Tensor pc = x.permute({0, 3, 1, 2}).slice(2, 1, 3).contiguous();
  Tensor pd = d.permute({0, 3, 1, 2}).slice(2, 1, 3).contiguous();
  EXPECT_EQ(pd.device(), Device::emu);
  EXPECT_TRUE(pd.is_contiguous());
  EXPECT_EQ(pd.to_vector<float>(), pc.to_vector<float>());
  // A strided device view copied straight to the host.
  EXPECT_EQ(d.transpose(1, 3).to(Device::cpu).to_vector<float>(), x.transpose(1, 3).contiguous().to_vector<float>());
}

TEST_F(DeviceTensor, CopyIntoADeviceViewFromTheHost) {
  Tensor d = Tensor::zeros({4, 6}, DType::f32, Device::emu);
  Tensor src = random_tensor({6, 2}, 3, -2.0f, 2.0f);
  d.slice(1, 2, 4).copy_(src.transpose(0, 1).transpose(0, 1).slice(0, 0, 4));
  std::vector<float> got = d.to_vector<float>(), s = src.to_vector<float>();
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c)
      EXPECT_EQ(got[r * 6 + c], (c >= 2 && c < 4) ? s[r * 2 + (c - 2)] : 0.0f) << r << "," << c;
}

TEST_F(DeviceTensor, FillCastAndItem) {
  Tensor f = Tensor::full({7, 3}, 2.5, DType::f32, Device::emu);
  EXPECT_EQ(f.to_vector<float>(), std::vector<float>(21, 2.5f));
  Tensor i = Tensor::full({5}, -3, DType::i64, Device::emu);
  EXPECT_EQ(i.to_vector<int64_t>(), std::vector<int64_t>(5, -3));
  Tensor v = f.slice(1, 1, 2);  // a strided view filled in place
  v.fill_(-1.0);
  EXPECT_EQ(f.to_vector<float>()[1], -1.0f);
  EXPECT_EQ(f.to_vector<float>()[0], 2.5f);
  Tensor x = random_tensor({9}, 4, -2.0f, 2.0f);
  Tensor d64 = x.to(Device::emu).to(DType::f64);
  EXPECT_EQ(d64.device(), Device::emu);
  std::vector<double> want;
  for (float a : x.to_vector<float>()) want.push_back(a);
  EXPECT_EQ(d64.to_vector<double>(), want);
  EXPECT_EQ(d64.slice(0, 4, 5).item(), want[4]);
}

TEST_F(DeviceTensor, OpsDispatchAndGradientsFlowBackToTheHost) {
  Tensor x = random_tensor({4, 33}, 5, -2.0f, 2.0f).set_requires_grad(true);
  Tensor y = cage::nn::gelu(x.to(Device::emu));
  EXPECT_EQ(y.device(), Device::emu);
  Tensor g = random_tensor({4, 33}, 6, -2.0f, 2.0f);
  y.backward(g.to(Device::emu));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), Device::cpu);

  Tensor xc = x.detach().clone().set_requires_grad(true);
  Tensor yc = cage::nn::gelu(xc);
  yc.backward(g);
  std::vector<float> a = y.to_vector<float>(), b = yc.to_vector<float>();
  std::vector<float> ga = x.grad().to_vector<float>(), gb = xc.grad().to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-6 + 1e-6 * std::abs(b[i])) << i;
    EXPECT_NEAR(ga[i], gb[i], 1e-6 + 1e-6 * std::abs(gb[i])) << i;
  }
}

TEST_F(DeviceTensor, MixingDevicesInOneOpIsAnError) {
  Tensor a = random_tensor({3}, 7, -2.0f, 2.0f).to(Device::emu);
  Tensor b = Tensor::zeros({3}, DType::f32, Device::emu);
  Tensor c = Tensor::zeros({3});
  EXPECT_THROW(cage::kernels::unary_forward(cage::kernels::Unary::relu, a, c), cage::Error);
  EXPECT_NO_THROW(cage::kernels::unary_forward(cage::kernels::Unary::relu, a, b));
}

// The caching allocator behind device storages: a freed block is handed out again for the same size class without a
// new cudaMalloc, and release_cached() gives cached blocks back to the device.
TEST_F(DeviceTensor, CachingAllocatorReusesFreedBlocks) {
  cage::Allocator& a = cage::allocator_for(Device::emu);
  a.release_cached();
  const size_t base = cage::emu::device_bytes_in_use();
  void* p = a.allocate(3000);
  const size_t live = cage::emu::device_bytes_in_use();
  EXPECT_GE(live, base + 3000);
  a.deallocate(p, 3000);
  EXPECT_EQ(cage::emu::device_bytes_in_use(), live);  // cached, not freed
  void* q = a.allocate(2900);  // same 512-byte size class
  EXPECT_EQ(q, p);
  EXPECT_EQ(cage::emu::device_bytes_in_use(), live);
  a.deallocate(q, 2900);
  a.release_cached();
  EXPECT_EQ(cage::emu::device_bytes_in_use(), base);
}

// Device work goes to the backend's own non-blocking stream, which the emulator knows as a live stream handle.
TEST_F(DeviceTensor, WorkIsIssuedOnTheDeviceStream) {
  cudaStream_t s = cage::emu::stream();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(cudaStreamQuery(s), cudaSuccess);
  Tensor x = random_tensor({5, 7}, 9).to(Device::emu);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(x.to_vector<float>(), random_tensor({5, 7}, 9).to_vector<float>());
}

TEST(DeviceSelection, CudaWithoutAGpuSaysSoAndRunsOnTheCpu) {
  std::string why;
  if (cage::kernels::try_use_device(Device::cuda, &why)) GTEST_SKIP() << "a GPU is present";
  EXPECT_FALSE(why.empty());
  testing::internal::CaptureStderr();
  Device d = cage::kernels::select_device("cuda");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(d, Device::cpu);
  EXPECT_NE(err.find("--device cuda"), std::string::npos) << err;
  EXPECT_NE(err.find("running on the CPU"), std::string::npos) << err;
  EXPECT_EQ(cage::kernels::select_device("auto"), Device::cpu);
  EXPECT_EQ(cage::kernels::select_device("emu"), Device::emu);
  EXPECT_THROW(cage::kernels::select_device("tpu"), cage::Error);
}

}  // namespace
}  // namespace cage_test
