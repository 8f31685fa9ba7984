// The fused squeeze-excitation op (nn::squeeze_excitation, CPU kernel kernels/cpu/se.cpp) against the composition
// MaxViT's MBConv used before it (global_avg_pool, 1x1 conv fc1, silu, 1x1 conv fc2, sigmoid, mul), forward and
// every gradient, in float64 and float32; float64 finite-difference gradient checks with and without biases.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "gradcheck_util.h"
#include "nn/functional.h"

namespace cage::test {
namespace {

using V = std::vector<Tensor>;

struct SeCase {
  const char* name;
  int64_t N, H, W, C, R;
};
const SeCase kCases[] = {{"1x1 pixel", 1, 1, 1, 4, 1}, {"odd", 2, 3, 5, 7, 3}, {"square", 3, 4, 4, 16, 4}};

Tensor composite(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  Tensor s = nn::global_avg_pool(x).reshape({x.size(0), 1, 1, x.size(3)});
  return nn::mul(x, nn::sigmoid(nn::conv2d(nn::silu(nn::conv2d(s, w1, b1)), w2, b2)));
}

struct Tolerance {
  double atol, rtol;
};

// y and the gradients of the leaves (x, w1, b1, w2, b2) for upstream gout: the fused op's against the composite's,
// each within its tolerance. Returns the largest absolute difference.
double fused_vs_composite(const SeCase& c, V leaves, const Tensor& gout, Tolerance y_tol, Tolerance grad_tol) {
  Tensor y = nn::squeeze_excitation(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4]);
  y.backward(gout);
  V fused;
  for (Tensor& t : leaves) {  // handles: the leaves' own gradients, taken and cleared
    fused.push_back(t.grad());
    t.zero_grad();
  }
  Tensor ref = composite(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4]);
  ref.backward(gout);
  EXPECT_TRUE(allclose(y, ref, y_tol.atol, y_tol.rtol)) << c.name << " y";
  const char* names[] = {"gx", "gw1", "gb1", "gw2", "gb2"};
  double worst = compare(y, ref, 0, 0).max_abs;
  for (size_t i = 0; i < leaves.size(); ++i) {
    EXPECT_TRUE(allclose(fused[i], leaves[i].grad(), grad_tol.atol, grad_tol.rtol)) << c.name << " " << names[i];
    worst = std::max(worst, compare(fused[i], leaves[i].grad(), 0, 0).max_abs);
  }
  return worst;
}

TEST(SqueezeExcitation, MatchesCompositeFloat64) {
  Philox rng(21);
  for (const SeCase& c : kCases) {
    Tensor x = grad_leaf({c.N, c.H, c.W, c.C}, rng, -2, 2);
    Tensor w1 = grad_leaf({1, 1, c.C, c.R}, rng), b1 = grad_leaf({c.R}, rng);
    Tensor w2 = grad_leaf({1, 1, c.R, c.C}, rng), b2 = grad_leaf({c.C}, rng);
    Tensor gout = random_tensor(x.shape(), rng, -1, 1, DType::f64);
    const double worst = fused_vs_composite(c, {x, w1, b1, w2, b2}, gout, {1e-14, 1e-12}, {1e-13, 1e-11});
    std::printf("[se f64 vs composite] %-10s max |err| %.2e\n", c.name, worst);
  }
}

TEST(SqueezeExcitation, MatchesCompositeFloat32) {
  Philox rng(22);
  for (const SeCase& c : kCases) {
    auto leaf = [&](const Shape& s, double lo, double hi) {
      return random_tensor(s, rng, lo, hi, DType::f32).set_requires_grad(true);
    };
    Tensor x = leaf({c.N, c.H, c.W, c.C}, -2, 2), w1 = leaf({1, 1, c.C, c.R}, -1, 1), b1 = leaf({c.R}, -1, 1);
    Tensor w2 = leaf({1, 1, c.R, c.C}, -1, 1), b2 = leaf({c.C}, -1, 1);
    Tensor gout = random_tensor(x.shape(), rng, -1, 1, DType::f32);
    const double worst = fused_vs_composite(c, {x, w1, b1, w2, b2}, gout, {1e-6, 1e-5}, {1e-5, 1e-4});
    std::printf("[se f32 vs composite] %-10s max |err| %.2e\n", c.name, worst);
  }
}

TEST(SqueezeExcitation, Gradcheck) {
  Philox rng(23);
  for (const SeCase& c : kCases) {
    Tensor x = grad_leaf({c.N, c.H, c.W, c.C}, rng, -2, 2);
    Tensor w1 = grad_leaf({1, 1, c.C, c.R}, rng), b1 = grad_leaf({c.R}, rng);
    Tensor w2 = grad_leaf({1, 1, c.R, c.C}, rng), b2 = grad_leaf({c.C}, rng);
    expect_gradcheck(std::string("squeeze_excitation ") + c.name,
                     [](const V& v) { return nn::squeeze_excitation(v[0], v[1], v[2], v[3], v[4]); },
                     {x, w1, b1, w2, b2});
    expect_gradcheck(std::string("squeeze_excitation no bias ") + c.name,
                     [](const V& v) { return nn::squeeze_excitation(v[0], v[1], Tensor(), v[2], Tensor()); },
                     {x, w1, w2});
  }
}

TEST(SqueezeExcitation, RejectsMismatchedWeights) {
  Tensor x = Tensor::zeros({1, 2, 2, 4});
  EXPECT_ANY_THROW(nn::squeeze_excitation(x, Tensor::zeros({1, 1, 3, 2}), Tensor(), Tensor::zeros({1, 1, 2, 4}),
                                          Tensor()));
  EXPECT_ANY_THROW(nn::squeeze_excitation(x, Tensor::zeros({1, 1, 4, 2}), Tensor(), Tensor::zeros({1, 1, 2, 3}),
                                          Tensor()));
  EXPECT_ANY_THROW(nn::squeeze_excitation(x, Tensor::zeros({1, 1, 4, 2}), Tensor::zeros({3}),
                                          Tensor::zeros({1, 1, 2, 4}), Tensor()));
}

}  // namespace
}  // namespace cage::test
