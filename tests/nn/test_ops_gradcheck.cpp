// Float64 finite-difference gradient checks: element-wise ops (with broadcasting), activations, reductions,
// softmax, matmul in its three forms, linear, concat, and the views (slice, permute, reshape, chunk,
// transpose) composed with ops so gradients flow through strided tensors.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "gradcheck_util.h"
#include "nn/functional.h"

namespace cage::test {
namespace {

using V = std::vector<Tensor>;

// The checker itself must catch a wrong backward, or every check below would pass vacuously.
TEST(Gradcheck, DetectsAWrongGradient) {
  Philox rng(0);
  Tensor x = grad_leaf({4, 3}, rng);
  auto off_by_ten_percent = [](const V& v) {
    Tensor y = nn::tanh(v[0]).detach().clone();
    Tensor xd = v[0].detach();
    return record(y, "wrong_tanh", {v[0]}, [xd](const Tensor& g) {
      return std::vector<Tensor>{nn::scale(nn::mul(g, nn::sub(Tensor::full({}, 1.0, DType::f64),
                                                              nn::mul(nn::tanh(xd), nn::tanh(xd)))), 1.1)};
    });
  };
  GradcheckResult r = gradcheck(off_by_ten_percent, {x}, 1e-6, 1e-6, 1e-5);
  EXPECT_FALSE(r.ok);
  EXPECT_GT(r.max_abs_error, 1e-3);
}

TEST(Gradcheck, BinaryBroadcasting) {
  Philox rng(1);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{3, 5}, {3, 5}}, {{5, 1, 3}, {1, 4, 1}}, {{}, {2, 3}}};
  for (auto& [sa, sb] : shapes) {
    Tensor a = grad_leaf(sa, rng), b = grad_leaf(sb, rng);
    std::string tag = shape_str(sa) + " " + shape_str(sb);
    expect_gradcheck("add " + tag, [](const V& v) { return nn::add(v[0], v[1]); }, {a, b});
    expect_gradcheck("sub " + tag, [](const V& v) { return nn::sub(v[0], v[1]); }, {a, b});
    expect_gradcheck("mul " + tag, [](const V& v) { return nn::mul(v[0], v[1]); }, {a, b});
  }
  Tensor a = grad_leaf({3, 4}, rng);
  expect_gradcheck("scale", [](const V& v) { return nn::scale(v[0], -2.5); }, {a});
  // The same tensor on both sides: the two gradient contributions must add up.
  expect_gradcheck("mul(a, a)", [](const V& v) { return nn::mul(v[0], v[0]); }, {a});
}

TEST(Gradcheck, Activations) {
  Philox rng(2);
  Tensor x = grad_leaf_away_from_zero({2, 5, 7, 3}, rng);
  Tensor wide = grad_leaf({4, 9}, rng, -4, 4);  // saturated tails of sigmoid / tanh / gelu
  const std::vector<std::pair<const char*, Tensor (*)(const Tensor&)>> ops = {
      {"gelu", nn::gelu}, {"silu", nn::silu}, {"sigmoid", nn::sigmoid}, {"tanh", nn::tanh}, {"relu", nn::relu}};
  for (auto& [name, f] : ops) {
    auto fn = f;
    expect_gradcheck(name, [fn](const V& v) { return fn(v[0]); }, {x});
    if (std::string(name) != "relu") expect_gradcheck(std::string(name) + " wide", [fn](const V& v) { return fn(v[0]); }, {wide});
  }
}

TEST(Gradcheck, Reductions) {
  Philox rng(3);
  Tensor x = grad_leaf({3, 5, 7}, rng);
  expect_gradcheck("sum", [](const V& v) { return nn::sum(v[0]); }, {x});
  expect_gradcheck("mean", [](const V& v) { return nn::mean(v[0]); }, {x});
  // Softmax over the last dim, with large logits so some rows are nearly one-hot.
  Tensor logits = grad_leaf({4, 7}, rng, -6, 6);
  expect_gradcheck("softmax", [](const V& v) { return nn::softmax(v[0]); }, {logits});
  Tensor logits4 = grad_leaf({2, 3, 2, 5}, rng, -2, 2);
  expect_gradcheck("softmax 4-d", [](const V& v) { return nn::softmax(v[0]); }, {logits4});
}

TEST(Gradcheck, Matmul) {
  Philox rng(4);
  Tensor a2 = grad_leaf({5, 7}, rng), b2 = grad_leaf({7, 3}, rng);
  expect_gradcheck("matmul 2-d", [](const V& v) { return nn::matmul(v[0], v[1]); }, {a2, b2});
  Tensor a3 = grad_leaf({3, 4, 6}, rng), b3 = grad_leaf({3, 6, 5}, rng);
  expect_gradcheck("matmul batched", [](const V& v) { return nn::matmul(v[0], v[1]); }, {a3, b3});
  Tensor ab = grad_leaf({2, 5, 7}, rng), bb = grad_leaf({7, 4}, rng);
  expect_gradcheck("matmul (B,M,K)x(K,N)", [](const V& v) { return nn::matmul(v[0], v[1]); }, {ab, bb});
}

TEST(Gradcheck, Linear) {
  Philox rng(5);
  Tensor w = grad_leaf({4, 6}, rng), b = grad_leaf({4}, rng);
  Tensor x2 = grad_leaf({5, 6}, rng), x4 = grad_leaf({2, 3, 2, 6}, rng);
  expect_gradcheck("linear 2-d bias", [](const V& v) { return nn::linear(v[0], v[1], v[2]); }, {x2, w, b});
  expect_gradcheck("linear 4-d bias", [](const V& v) { return nn::linear(v[0], v[1], v[2]); }, {x4, w, b});
  expect_gradcheck("linear 2-d no bias", [](const V& v) { return nn::linear(v[0], v[1]); }, {x2, w});
}

TEST(Gradcheck, Concat) {
  Philox rng(6);
  Tensor a = grad_leaf({2, 3, 4, 2}, rng), b = grad_leaf({2, 1, 4, 2}, rng), c = grad_leaf({2, 2, 4, 2}, rng);
  expect_gradcheck("concat dim 1", [](const V& v) { return nn::concat({v[0], v[1], v[2]}, 1); }, {a, b, c});
  Tensor d = grad_leaf({2, 3, 4, 5}, rng);  // a: (2, 3, 4, 2)
  expect_gradcheck("concat last dim", [](const V& v) { return nn::concat({v[0], v[1]}, -1); }, {a, d});
}

TEST(Gradcheck, Views) {
  Philox rng(7);
  Tensor x = grad_leaf({2, 5, 6, 3}, rng);
  expect_gradcheck("permute", [](const V& v) { return v[0].permute({0, 3, 1, 2}); }, {x});
  expect_gradcheck("permute -> gelu", [](const V& v) { return nn::gelu(v[0].permute({3, 1, 0, 2})); }, {x});
  expect_gradcheck("transpose -> tanh", [](const V& v) { return nn::tanh(v[0].transpose(1, 2)); }, {x});
  expect_gradcheck("slice", [](const V& v) { return v[0].slice(1, 1, 4); }, {x});
  expect_gradcheck("slice x2 -> mul", [](const V& v) { return nn::mul(v[0].slice(1, 1, 4).slice(2, 2, 5), v[0].slice(1, 0, 3).slice(2, 0, 3)); }, {x});
  expect_gradcheck("reshape (view)", [](const V& v) { return nn::sigmoid(v[0].reshape({10, -1})); }, {x});
  expect_gradcheck("reshape of a permutation (copy)", [](const V& v) { return nn::silu(v[0].permute({0, 3, 1, 2}).reshape({6, 30})); }, {x});
  expect_gradcheck("chunk", [](const V& v) {
    std::vector<Tensor> p = v[0].chunk(3, -1);
    return nn::add(nn::mul(p[0], p[1]), p[2]);
  }, {x});
  // Uneven chunks (PyTorch's rule: size ceil(5/2) = 3, then 2).
  expect_gradcheck("chunk uneven", [](const V& v) {
    std::vector<Tensor> p = v[0].chunk(2, 1);
    return nn::concat({nn::scale(p[1], 3.0), p[0]}, 1);
  }, {x});
  Tensor a = grad_leaf({2, 5, 4}, rng), b = grad_leaf({2, 6, 4}, rng);
  expect_gradcheck("matmul with a transposed view", [](const V& v) { return nn::matmul(v[0], v[1].transpose(1, 2)); }, {a, b});
  Tensor w = grad_leaf({3, 4}, rng);
  expect_gradcheck("linear of a permuted input", [](const V& v) { return nn::linear(v[0].transpose(1, 2), v[1]); }, {grad_leaf({2, 4, 5}, rng), w});
}

}  // namespace
}  // namespace cage::test
