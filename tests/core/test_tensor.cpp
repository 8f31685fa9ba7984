// Tensor views (shared storage, strides, offsets), copies, dtype casts, error messages, and the CPU
// allocator's pooling and alignment.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>

#include "core/storage.h"
#include "core/tensor.h"

namespace cage {
namespace {

// (2, 3, 4) holding 0, 1, ..., 23: element (i, j, k) is 12 i + 4 j + k.
Tensor iota234() {
  std::vector<float> v(24);
  std::iota(v.begin(), v.end(), 0.0f);
  return Tensor::from_vector(v, {2, 3, 4});
}

// The message of the cage::Error thrown by f ("" when nothing or something else is thrown).
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (...) {
    return "<not a cage::Error>";
  }
  return "";
}

TEST(Tensor, PermuteAndTransposeAreViews) {
  Tensor x = iota234();
  Tensor p = x.permute({2, 0, 1});
  EXPECT_EQ(p.storage(), x.storage());
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_EQ(p.offset(), 0);
  EXPECT_FALSE(p.is_contiguous());
  std::vector<float> v = p.to_vector<float>();  // p[k][i][j] = x[i][j][k]
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(v[k * 6 + i * 3 + j], 12 * i + 4 * j + k);
  Tensor t = x.transpose(0, -1);
  EXPECT_EQ(t.storage(), x.storage());
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
}

TEST(Tensor, SliceIsAViewWithAnOffset) {
  Tensor x = iota234();
  Tensor s = x.slice(1, 1, 3);
  EXPECT_EQ(s.storage(), x.storage());
  EXPECT_EQ(s.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(s.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(s.offset(), 4);
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}));
  Tensor ss = s.slice(-1, 1, 3);  // a slice of a slice accumulates the offset
  EXPECT_EQ(ss.offset(), 5);
  EXPECT_EQ(ss.to_vector<float>(), (std::vector<float>{5, 6, 9, 10, 17, 18, 21, 22}));
  // Writing through the view reaches the base tensor.
  ss.fill_(-1);
  EXPECT_EQ(x.to_vector<float>()[5], -1);
  EXPECT_EQ(x.to_vector<float>()[22], -1);
  EXPECT_EQ(x.to_vector<float>()[7], 7);
  EXPECT_EQ(x.slice(0, 1, 1).numel(), 0);  // empty slices are allowed
}

TEST(Tensor, ChunkFollowsPyTorchSizes) {
  Tensor x = Tensor::zeros({2, 5});
  auto sizes = [](const std::vector<Tensor>& parts) {
    std::vector<int64_t> s;
    for (auto& p : parts) s.push_back(p.size(1));
    return s;
  };
  EXPECT_EQ(sizes(x.chunk(2, 1)), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(sizes(x.chunk(3, 1)), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(sizes(x.chunk(5, 1)), (std::vector<int64_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(sizes(Tensor::zeros({2, 4}).chunk(3, 1)), (std::vector<int64_t>{2, 2}));  // torch gives 2 chunks too
  Tensor y = iota234();
  std::vector<Tensor> q = y.chunk(2, -1);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[1].storage(), y.storage());
  EXPECT_EQ(q[1].offset(), 2);
  EXPECT_EQ(q[1].to_vector<float>(), (std::vector<float>{2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23}));
}

TEST(Tensor, ReshapeViewsContiguousAndCopiesStrided) {
  Tensor x = iota234();
  Tensor r = x.reshape({6, -1});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.storage(), x.storage());
  Tensor sliced = x.slice(0, 1, 2).reshape({12});  // contiguous slice: still a view, offset kept
  EXPECT_EQ(sliced.storage(), x.storage());
  EXPECT_EQ(sliced.offset(), 12);
  Tensor p = x.permute({2, 0, 1});
  Tensor c = p.reshape({4, 6});
  EXPECT_NE(c.storage(), x.storage());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector<float>(), p.to_vector<float>());
  // A copy: writing to it leaves the source alone.
  c.fill_(0);
  EXPECT_EQ(x.to_vector<float>()[1], 1);
}

TEST(Tensor, ContiguousCloneAndStridedOffset) {
  Tensor x = iota234();
  EXPECT_EQ(x.contiguous().storage(), x.storage());
  EXPECT_NE(x.clone().storage(), x.storage());
  Tensor p = x.transpose(0, 1);
  Tensor pc = p.contiguous();
  EXPECT_NE(pc.storage(), x.storage());
  EXPECT_TRUE(pc.is_contiguous());
  EXPECT_EQ(pc.strides(), contiguous_strides(pc.shape()));
  for (int64_t flat = 0; flat < p.numel(); ++flat)
    EXPECT_EQ(x.to_vector<float>()[strided_offset(flat, p.shape(), p.strides())], pc.to_vector<float>()[flat]);
  // Size-1 dims do not break contiguity whatever their stride.
  EXPECT_TRUE(x.slice(0, 0, 1).permute({1, 0, 2}).is_contiguous());
}

TEST(Tensor, DtypeCasts) {
  Tensor f = Tensor::from_vector<float>({1.5f, -2.25f, 3.0f, 0.0f}, {2, 2});
  Tensor d = f.to(DType::f64);
  EXPECT_EQ(d.dtype(), DType::f64);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{1.5, -2.25, 3.0, 0.0}));
  EXPECT_EQ(f.to(DType::f32).storage(), f.storage());  // same dtype: itself
  Tensor i = Tensor::from_vector<float>({7.0f, -2.0f, 0.0f, 255.0f}, {4}).to(DType::i64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{7, -2, 0, 255}));
  Tensor u = Tensor::from_vector<int64_t>({0, 1, 200, 255}, {4}).to(DType::u8);
  EXPECT_EQ(u.to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 200, 255}));
  Tensor back = u.to(DType::f32);
  EXPECT_EQ(back.to_vector<float>(), (std::vector<float>{0, 1, 200, 255}));
  // A cast of a strided view reads through the strides.
  EXPECT_EQ(iota234().transpose(0, 2).to(DType::f64).to_vector<double>()[1], 12.0);
  EXPECT_DOUBLE_EQ(Tensor::scalar(2.5, DType::f64).item(), 2.5);
  EXPECT_THROW(f.data<double>(), Error);
}

TEST(Tensor, ErrorsNameTheShapes) {
  Tensor x = iota234();
  std::string m = error_message([&] { x.reshape({5, 5}); });
  EXPECT_NE(m.find("[2, 3, 4]"), std::string::npos) << m;
  EXPECT_NE(m.find("[5, 5]"), std::string::npos) << m;
  m = error_message([&] { x.reshape({-1, 5}); });
  EXPECT_NE(m.find("[2, 3, 4]"), std::string::npos) << m;
  EXPECT_NE(error_message([&] { x.reshape({-1, -1}); }), "");
  m = error_message([&] { x.slice(1, 1, 4); });
  EXPECT_NE(m.find("slice"), std::string::npos) << m;
  EXPECT_NE(m.find("size 3"), std::string::npos) << m;
  EXPECT_NE(error_message([&] { x.slice(1, 2, 1); }), "");
  EXPECT_NE(error_message([&] { x.slice(3, 0, 1); }), "");
  EXPECT_NE(error_message([&] { x.permute({0, 1}); }), "");
  EXPECT_NE(error_message([&] { x.permute({0, 1, 1}); }), "");
  EXPECT_NE(error_message([&] { x.chunk(0, 0); }), "");
  m = error_message([&] { Tensor::from_vector<float>({1, 2, 3}, {2, 2}); });
  EXPECT_NE(m.find("[2, 2]"), std::string::npos) << m;
  EXPECT_NE(error_message([&] { Tensor::empty({2, -1}); }), "");
  EXPECT_NE(error_message([&] { x.item(); }), "");
}

TEST(Allocator, PoolsFreedBlocks) {
  const size_t n = 12345;  // a size no other test uses right now
  void* first = nullptr;
  {
    Tensor t = Tensor::empty({static_cast<int64_t>(n)});
    first = t.raw_data();
  }
  CpuAllocatorStats before = cpu_allocator_stats();
  EXPECT_GT(before.cached_bytes, 0u);
  Tensor again = Tensor::empty({static_cast<int64_t>(n)});
  CpuAllocatorStats after = cpu_allocator_stats();
  EXPECT_EQ(after.allocations, before.allocations + 1);
  EXPECT_EQ(after.pool_hits, before.pool_hits + 1);
  EXPECT_EQ(again.raw_data(), first);  // the block just freed comes back
}

TEST(Allocator, DataIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000, 4097, 100001}) {
    Tensor f = Tensor::empty({n});
    Tensor d = Tensor::empty({n}, DType::f64);
    Tensor b = Tensor::empty({n}, DType::u8);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f.raw_data()) % 64, 0u) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(d.raw_data()) % 64, 0u) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.raw_data()) % 64, 0u) << n;
  }
}

}  // namespace
}  // namespace cage
