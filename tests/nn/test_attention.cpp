// relpos_attention (fused window / grid attention): finite-difference gradients in float64, agreement with
// the same attention composed from views + matmul + softmax (forward and both gradients), the float32
// kernel against the float64 one, and the errors for partitions that do not fit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "kernels/attention.h"
#include "nn/functional.h"
#include "support/test_support.h"
#include "gradcheck_util.h"

namespace cage::test {
namespace {

using nn::AttentionOptions;
using nn::Partition;

struct Case {
  const char* name;
  int64_t B, H, W, C, heads, P;
  Partition kind;
};

AttentionOptions options(const Case& c) {
  AttentionOptions o;
  o.kind = c.kind;
  o.partition = c.P;
  o.heads = c.heads;
  o.scale = 1.0 / std::sqrt(static_cast<double>(c.C));
  return o;
}

// (B, H, W, C) -> (B * G * heads, N, D) in the window or grid token order, by reshape and permute.
Tensor partition(const Tensor& x, const Case& c) {
  int64_t D = c.C / c.heads, P = c.P, N = P * P;
  Tensor t;
  if (c.kind == Partition::window)  // h = gy * P + ty, w = gx * P + tx
    t = x.reshape({c.B, c.H / P, P, c.W / P, P, c.C}).permute({0, 1, 3, 2, 4, 5});
  else  // h = ty * (H / P) + gy, w = tx * (W / P) + gx
    t = x.reshape({c.B, P, c.H / P, P, c.W / P, c.C}).permute({0, 2, 4, 1, 3, 5});
  // (B, gy, gx, ty, tx, C) -> (B * G, N, heads, D) -> (B * G, heads, N, D)
  t = t.reshape({-1, N, c.heads, D}).permute({0, 2, 1, 3});
  return t.reshape({-1, N, D});
}

Tensor departition(const Tensor& o, const Case& c) {
  int64_t D = c.C / c.heads, P = c.P;
  Tensor t = o.reshape({c.B, c.H / P, c.W / P, c.heads, P, P, D});  // (B, gy, gx, heads, ty, tx, D)
  if (c.kind == Partition::window)
    t = t.permute({0, 1, 4, 2, 5, 3, 6});  // (B, gy, ty, gx, tx, heads, D)
  else
    t = t.permute({0, 4, 1, 5, 2, 3, 6});  // (B, ty, gy, tx, gx, heads, D)
  return t.reshape({c.B, c.H, c.W, c.C});
}

// One-hot (N * N, (2P-1)^2) that gathers the bias table as a matmul, so the composite stays differentiable.
Tensor bias_gather_matrix(int64_t P, DType dt) {
  int64_t N = P * P, span = 2 * P - 1;
  Tensor m = Tensor::zeros({N * N, span * span}, DType::f64);
  double* p = m.data<double>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j)
      p[(i * N + j) * span * span + (i / P - j / P + P - 1) * span + (i % P - j % P + P - 1)] = 1;
  return m.to(dt);
}

// The same attention from primitive ops, written after torchvision's RelativePositionalMultiHeadAttention.
Tensor composite(const Tensor& qkv, const Tensor& table, const Case& c) {
  int64_t N = c.P * c.P, G = (c.H / c.P) * (c.W / c.P);
  std::vector<Tensor> parts = qkv.chunk(3, 3);
  Tensor q = partition(parts[0], c), k = partition(parts[1], c), v = partition(parts[2], c);
  k = nn::scale(k, options(c).scale);
  Tensor s = nn::matmul(q, k.transpose(1, 2).contiguous());  // (B * G * heads, N, N)
  Tensor bias = nn::matmul(bias_gather_matrix(c.P, qkv.dtype()), table);  // (N * N, heads)
  bias = bias.reshape({N, N, c.heads}).permute({2, 0, 1});                // (heads, N, N)
  s = nn::add(s.reshape({c.B * G, c.heads, N, N}), bias);
  Tensor a = nn::softmax(s).reshape({-1, N, N});
  return departition(nn::matmul(a, v), c);
}

// Small shapes for the finite differences (non-square maps, several heads, P = 2 and 3).
const Case kSmallCases[] = {
    {"window_4x6_P2", 2, 4, 6, 6, 2, 2, Partition::window},
    {"grid_4x6_P2", 2, 4, 6, 6, 2, 2, Partition::grid},
    {"window_6x9_P3", 1, 6, 9, 6, 3, 3, Partition::window},
    {"grid_6x9_P3", 1, 6, 9, 6, 3, 3, Partition::grid},
    {"grid_6x6_P3", 2, 6, 6, 4, 1, 3, Partition::grid},
};
// MaxViT's partition (P = 7, head width 32) on a 14 x 21 map.
const Case kMaxvitCases[] = {
    {"window_14x21_P7", 2, 14, 21, 64, 2, 7, Partition::window},
    {"grid_14x21_P7", 2, 14, 21, 64, 2, 7, Partition::grid},
};

class Attention : public ::testing::TestWithParam<Case> {};
class AttentionSmall : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionSmall, Gradcheck) {
  const Case& c = GetParam();
  Philox rng(11);
  Tensor qkv = grad_leaf({c.B, c.H, c.W, 3 * c.C}, rng, -1.5, 1.5);
  Tensor table = grad_leaf({(2 * c.P - 1) * (2 * c.P - 1), c.heads}, rng);
  AttentionOptions o = options(c);
  expect_gradcheck(std::string("relpos_attention ") + c.name,
                   [&](const std::vector<Tensor>& in) { return nn::relpos_attention(in[0], in[1], o); },
                   {qkv, table});
}

TEST_P(Attention, MatchesComposite) {
  const Case& c = GetParam();
  Philox rng(12);
  // qkv is a non-contiguous view (a slice of a wider tensor): the op must read it correctly and pass
  // the gradient back through the view.
  Tensor wide = grad_leaf({c.B, c.H, c.W, 3 * c.C + 5}, rng, -2, 2);
  Tensor table = grad_leaf({(2 * c.P - 1) * (2 * c.P - 1), c.heads}, rng);
  Tensor gout = random_tensor({c.B, c.H, c.W, c.C}, rng, -1, 1, DType::f64);

  Tensor out = nn::relpos_attention(wide.slice(3, 2, 2 + 3 * c.C), table, options(c));
  out.backward(gout);
  Tensor g_wide = wide.grad(), g_table = table.grad();
  wide.zero_grad();
  table.zero_grad();
  Tensor ref = composite(wide.slice(3, 2, 2 + 3 * c.C), table, c);
  ref.backward(gout);

  EXPECT_TRUE(allclose(out, ref, 1e-12, 1e-10)) << c.name << " out";
  EXPECT_TRUE(allclose(g_wide, wide.grad(), 1e-12, 1e-10)) << c.name << " grad qkv";
  EXPECT_TRUE(allclose(g_table, table.grad(), 1e-12, 1e-10)) << c.name << " grad table";
  // The view's padding columns get no gradient.
  EXPECT_EQ(compare(g_wide.slice(3, 0, 2), Tensor::zeros({c.B, c.H, c.W, 2}, DType::f64), 0, 0).max_abs, 0);
}

// float32 kernel (polynomial exp, float accumulation) against the float64 one on MaxViT-like logits.
TEST_P(Attention, Float32MatchesFloat64) {
  const Case& c = GetParam();
  Philox rng(13);
  // The float64 run starts from the float32 inputs, so the comparison sees the kernel's rounding only.
  Tensor qkv32 = random_tensor({c.B, c.H, c.W, 3 * c.C}, rng, -3, 3, DType::f32).set_requires_grad(true);
  Tensor table32 = random_tensor({(2 * c.P - 1) * (2 * c.P - 1), c.heads}, rng, -2, 2, DType::f32)
                       .set_requires_grad(true);
  Tensor gout = random_tensor({c.B, c.H, c.W, c.C}, rng, -1, 1, DType::f64);
  Tensor qkv64 = qkv32.detach().to(DType::f64).set_requires_grad(true);
  Tensor table64 = table32.detach().to(DType::f64).set_requires_grad(true);
  Tensor out64 = nn::relpos_attention(qkv64, table64, options(c));
  Tensor out32 = nn::relpos_attention(qkv32, table32, options(c));
  out64.backward(gout);
  out32.backward(gout.to(DType::f32));
  EXPECT_TRUE(allclose(out32, out64, 2e-6, 2e-5)) << c.name;
  EXPECT_TRUE(allclose(qkv32.grad(), qkv64.grad(), 5e-6, 5e-5)) << c.name;
  EXPECT_TRUE(allclose(table32.grad(), table64.grad(), 5e-6, 5e-5)) << c.name;
  std::printf("[f32 vs f64] %-20s out %.2e  grad.qkv %.2e  grad.bias_table %.2e\n", c.name,
              compare(out32, out64, 0, 0).max_abs, compare(qkv32.grad(), qkv64.grad(), 0, 0).max_abs,
              compare(table32.grad(), table64.grad(), 0, 0).max_abs);
}

auto case_name = [](const auto& info) { return std::string(info.param.name); };
INSTANTIATE_TEST_SUITE_P(Small, AttentionSmall, ::testing::ValuesIn(kSmallCases), case_name);
INSTANTIATE_TEST_SUITE_P(Small, Attention, ::testing::ValuesIn(kSmallCases), case_name);
INSTANTIATE_TEST_SUITE_P(Maxvit, Attention, ::testing::ValuesIn(kMaxvitCases), case_name);

// The index map visits every pixel exactly once per kind, and grid groups are P x P dilated grids.
TEST(AttentionIndexMap, IsABijection) {
  for (auto kind : {kernels::AttentionPartition::window, kernels::AttentionPartition::grid}) {
    int64_t H = 6, W = 9, P = 3, G = (H / P) * (W / P);
    std::vector<int> seen(H * W, 0);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t t = 0; t < P * P; ++t) ++seen[kernels::relpos_attention_pixel(kind, H, W, P, g, t)];
    for (int64_t i = 0; i < H * W; ++i) EXPECT_EQ(seen[i], 1) << "pixel " << i;
  }
  // grid, H = W = 6, P = 3: group 0 is rows {0, 2, 4} x cols {0, 2, 4}; token 4 (row 1, col 1) is (2, 2).
  EXPECT_EQ(kernels::relpos_attention_pixel(kernels::AttentionPartition::grid, 6, 6, 3, 0, 4), 2 * 6 + 2);
  // window, group 1 of a 6x6 map is the top-right 3x3 block; token 5 is its (1, 2).
  EXPECT_EQ(kernels::relpos_attention_pixel(kernels::AttentionPartition::window, 6, 6, 3, 1, 5), 1 * 6 + 5);
}

TEST(AttentionErrors, PartitionMustDivideTheMap) {
  Philox rng(14);
  AttentionOptions o;
  o.partition = 2;
  o.heads = 1;
  Tensor table = random_tensor({9, 1}, rng);
  for (Partition kind : {Partition::window, Partition::grid}) {
    o.kind = kind;
    EXPECT_THROW(nn::relpos_attention(random_tensor({1, 5, 4, 6}, rng), table, o), Error);  // H = 5
    EXPECT_THROW(nn::relpos_attention(random_tensor({1, 4, 3, 6}, rng), table, o), Error);  // W = 3
    EXPECT_NO_THROW(nn::relpos_attention(random_tensor({1, 4, 4, 6}, rng), table, o));
  }
  EXPECT_THROW(nn::relpos_attention(random_tensor({1, 4, 4, 6}, rng), random_tensor({8, 1}, rng), o), Error);
  o.heads = 4;  // C = 2 is not divisible by 4
  EXPECT_THROW(nn::relpos_attention(random_tensor({1, 4, 4, 6}, rng), random_tensor({9, 4}, rng), o), Error);
  o.heads = 1;
  EXPECT_THROW(nn::relpos_attention(random_tensor({1, 4, 4, 7}, rng), table, o), Error);  // not 3C
  try {
    nn::relpos_attention(random_tensor({1, 6, 4, 6}, rng), table, [] {
      AttentionOptions p;
      p.partition = 4;
      p.heads = 1;
      return p;
    }());
    ADD_FAILURE() << "no error for a 6 x 4 map with partition 4";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not divide"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cage::test
