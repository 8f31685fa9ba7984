// Element-wise ops, reductions, softmax, matmul, linear, concat and views composed with ops, forward and
// backward, against PyTorch fixtures (tools/reference/ref_ops.py). Tolerances are for float32 results
// against a float64 reference; they grow with the length of the reductions each op performs.
#include <gtest/gtest.h>

#include <cmath>

#include "nn/functional.h"
#include "torch_case.h"

namespace cage::test {
namespace {

class TorchOps : public DeviceTest {};

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
using UnaryFn = Tensor (*)(const Tensor&);

void run_binary(const char* op, BinaryFn f) {
  for (auto& c : device_cases(op)) {
    TorchCase t(c, {2e-6, 1e-6}, {1e-13, 1e-13});
    Tensor a = t.leaf("a"), b = t.leaf("b");
    t.run(f(a, b));
  }
}

void run_unary(const char* op, UnaryFn f) {
  for (auto& c : device_cases(op)) {
    TorchCase t(c, {2e-6, 1e-5}, {1e-13, 1e-12});
    t.run(f(t.leaf("x")));
  }
}

TEST_P(TorchOps, Add) { run_binary("add", nn::add); }
TEST_P(TorchOps, Sub) { run_binary("sub", nn::sub); }
TEST_P(TorchOps, Mul) { run_binary("mul", nn::mul); }
TEST_P(TorchOps, Gelu) { run_unary("gelu", nn::gelu); }
TEST_P(TorchOps, Silu) { run_unary("silu", nn::silu); }
TEST_P(TorchOps, Sigmoid) { run_unary("sigmoid", nn::sigmoid); }
TEST_P(TorchOps, Tanh) { run_unary("tanh", nn::tanh); }
TEST_P(TorchOps, Relu) { run_unary("relu", nn::relu); }

TEST_P(TorchOps, Sum) {
  for (auto& c : device_cases("sum")) {
    TorchCase t(c, {1e-4, 1e-5}, {1e-12, 1e-12});
    t.run(nn::sum(t.leaf("x")));
  }
}

TEST_P(TorchOps, Mean) {
  for (auto& c : device_cases("mean")) {
    TorchCase t(c, {1e-6, 1e-5}, {1e-14, 1e-12});
    t.run(nn::mean(t.leaf("x")));
  }
}

TEST_P(TorchOps, Softmax) {
  for (auto& c : device_cases("softmax")) {
    TorchCase t(c, {2e-6, 1e-5}, {1e-14, 1e-12});
    t.run(nn::softmax(t.leaf("x")));
  }
}

TEST_P(TorchOps, Matmul) {
  for (auto& c : device_cases("matmul")) {
    TorchCase t(c, {2e-5, 1e-5}, {1e-12, 1e-12});
    Tensor a = t.leaf("a"), b = t.leaf("b");
    t.run(nn::matmul(a, b));
  }
}

TEST_P(TorchOps, Linear) {
  for (auto& c : device_cases("linear")) {
    TorchCase t(c, {2e-5, 1e-5}, {1e-12, 1e-12});
    Tensor x = t.leaf("x"), w = t.leaf("w");
    Tensor b = t.params().at("bias").get<bool>() ? t.leaf("b") : Tensor();
    t.run(nn::linear(x, w, b));
  }
}

TEST_P(TorchOps, Concat) {
  for (auto& c : device_cases("concat")) {
    // Pure data movement: exact.
    TorchCase t(c, {0, 0}, {0, 0});
    std::vector<Tensor> xs;
    for (int i = 0; i < t.params().at("n").get<int>(); ++i) xs.push_back(t.leaf("x" + std::to_string(i)));
    t.run(nn::concat(xs, t.params().at("dim").get<int64_t>()));
  }
}

// Each `kind` mirrors one composition in ref_ops.py (_shape_ops): views feeding ops, gradients flowing back
// through the views into the leaves.
Tensor run_view_case(TorchCase& t, const std::string& kind) {
  if (kind == "permute_gelu") return nn::gelu(t.leaf("x").permute({0, 3, 1, 2}));
  if (kind == "slice_mul") return nn::mul(t.leaf("x").slice(1, 2, 7).slice(2, 1, 5), t.leaf("y"));
  if (kind == "transpose_reshape_tanh") return nn::tanh(t.leaf("x").transpose(1, 2).reshape({3, 24}));
  if (kind == "chunk_mul_add") {
    std::vector<Tensor> p = t.leaf("x").chunk(3, -1);
    EXPECT_EQ(p.size(), 3u);
    return nn::add(nn::mul(p[0], p[1]), p[2]);
  }
  if (kind == "matmul_transposed") {
    Tensor a = t.leaf("a"), b = t.leaf("b");
    return nn::matmul(a, b.transpose(1, 2));
  }
  if (kind == "slice_linear") {
    Tensor x = t.leaf("x"), w = t.leaf("w");
    return nn::linear(x.slice(-1, 2, 8), w);
  }
  if (kind == "permuted_conv2d") {
    Tensor x = t.leaf("x"), w = t.leaf("w");
    return nn::conv2d(x.permute({0, 2, 3, 1}), w, Tensor(), {1, 1, 1});
  }
  if (kind == "transposed_softmax") return nn::softmax(t.leaf("x").transpose(1, 2));
  if (kind == "transposed_layer_norm") {
    Tensor x = t.leaf("x"), w = t.leaf("weight"), b = t.leaf("bias");
    return nn::layer_norm(x.transpose(1, 2), w, b, 1e-5);
  }
  if (kind == "permute_slice_sum") return nn::sum(t.leaf("x").permute({0, 3, 1, 2}).slice(1, 1, 3).slice(3, 2, 6));
  ADD_FAILURE() << "unknown views case kind '" << kind << "'";
  return Tensor();
}

TEST_P(TorchOps, Views) {
  for (auto& c : device_cases("views")) {
    TorchCase t(c, {1e-5, 1e-5}, {1e-12, 1e-10});
    Tensor out = run_view_case(t, c.params.at("kind").get<std::string>());
    if (!out.defined()) continue;
    t.run(out);
  }
}

CAGE_INSTANTIATE_DEVICE_SUITE(TorchOps);

}  // namespace
}  // namespace cage::test
