// Float64 finite-difference gradient checks: conv2d (regular, strided, 1x1, non-square, depthwise, grouped),
// avg_pool2d, global_avg_pool, batch_norm2d and batch_norm2d_gelu (training and eval), layer_norm, dropout and
// stochastic depth.
#include <gtest/gtest.h>

#include "gradcheck_util.h"
#include "nn/functional.h"

namespace cage::test {
namespace {

using V = std::vector<Tensor>;

struct ConvCase {
  const char* name;
  Shape x;  // NHWC
  int64_t kh, kw, cout, stride, padding, groups;
  bool bias;
};

TEST(Gradcheck, Conv2d) {
  const ConvCase cases[] = {
      {"3x3 s1 p1 bias", {2, 5, 4, 3}, 3, 3, 4, 1, 1, 1, true},
      {"3x3 s2 p1 bias", {1, 7, 6, 3}, 3, 3, 2, 2, 1, 1, true},
      {"1x1 no bias", {2, 3, 4, 5}, 1, 1, 3, 1, 0, 1, false},
      {"2x3 p0", {1, 4, 5, 2}, 2, 3, 3, 1, 0, 1, true},
      {"5x5 p2", {1, 5, 5, 2}, 5, 5, 2, 1, 2, 1, false},
      {"depthwise 3x3 s1", {2, 5, 4, 4}, 3, 3, 4, 1, 1, 4, true},
      {"depthwise 3x3 s2", {1, 7, 6, 3}, 3, 3, 3, 2, 1, 3, true},
      {"grouped g2", {1, 5, 4, 4}, 3, 3, 6, 1, 1, 2, true},
  };
  Philox rng(11);
  for (const ConvCase& c : cases) {
    Tensor x = grad_leaf(c.x, rng);
    Tensor w = grad_leaf({c.kh, c.kw, c.x[3] / c.groups, c.cout}, rng);
    nn::Conv2dOptions opt{c.stride, c.padding, c.groups};
    if (c.bias) {
      Tensor b = grad_leaf({c.cout}, rng);
      expect_gradcheck(std::string("conv2d ") + c.name, [opt](const V& v) { return nn::conv2d(v[0], v[1], v[2], opt); },
                       {x, w, b});
    } else {
      expect_gradcheck(std::string("conv2d ") + c.name, [opt](const V& v) { return nn::conv2d(v[0], v[1], Tensor(), opt); },
                       {x, w});
    }
  }
}

TEST(Gradcheck, Pooling) {
  Philox rng(12);
  Tensor even = grad_leaf({2, 6, 4, 3}, rng), odd = grad_leaf({1, 7, 5, 2}, rng);
  expect_gradcheck("avg_pool2d 3/2/1 even", [](const V& v) { return nn::avg_pool2d(v[0], 3, 2, 1, true); }, {even});
  expect_gradcheck("avg_pool2d 3/2/1 odd", [](const V& v) { return nn::avg_pool2d(v[0], 3, 2, 1, true); }, {odd});
  expect_gradcheck("avg_pool2d 3/2/1 odd, pad not counted",
                   [](const V& v) { return nn::avg_pool2d(v[0], 3, 2, 1, false); }, {odd});
  expect_gradcheck("global_avg_pool", [](const V& v) { return nn::global_avg_pool(v[0]); }, {odd});
}

TEST(Gradcheck, BatchNorm2d) {
  Philox rng(13);
  Tensor x = grad_leaf({2, 3, 4, 3}, rng, -1, 2), w = grad_leaf({3}, rng, 0.5, 1.5), b = grad_leaf({3}, rng);
  for (bool training : {true, false}) {
    // Fresh running statistics each evaluation: training mode updates them in place.
    auto f = [training](const V& v) {
      Tensor rm = Tensor::full({3}, 0.2, DType::f64), rv = Tensor::full({3}, 1.3, DType::f64);
      return nn::batch_norm2d(v[0], v[1], v[2], rm, rv, training, 0.1, 1e-3);
    };
    expect_gradcheck(training ? "batch_norm2d train" : "batch_norm2d eval", f, {x, w, b});
  }
}

TEST(Gradcheck, BatchNorm2dGelu) {
  Philox rng(16);
  Tensor x = grad_leaf({2, 3, 5, 4}, rng, -1, 2), w = grad_leaf({4}, rng, 0.5, 1.5), b = grad_leaf({4}, rng);
  for (bool training : {true, false}) {
    auto f = [training](const V& v) {
      Tensor rm = Tensor::full({4}, 0.2, DType::f64), rv = Tensor::full({4}, 1.3, DType::f64);
      return nn::batch_norm2d_gelu(v[0], v[1], v[2], rm, rv, training, 0.1, 1e-3);
    };
    expect_gradcheck(training ? "batch_norm2d_gelu train" : "batch_norm2d_gelu eval", f, {x, w, b});
  }
}

TEST(Gradcheck, LayerNorm) {
  Philox rng(14);
  Tensor x = grad_leaf({2, 3, 7}, rng, -1, 3), w = grad_leaf({7}, rng, 0.5, 1.5), b = grad_leaf({7}, rng);
  expect_gradcheck("layer_norm", [](const V& v) { return nn::layer_norm(v[0], v[1], v[2], 1e-5); }, {x, w, b});
}

TEST(Gradcheck, DropoutAndStochasticDepth) {
  Philox rng(15);
  Tensor x = grad_leaf({3, 4, 5}, rng);
  // A generator with a fixed seed built inside the closure: the same mask at every evaluation.
  expect_gradcheck("dropout p=0.4", [](const V& v) {
    Philox g(99);
    return nn::dropout(v[0], 0.4, true, g);
  }, {x});
  expect_gradcheck("dropout eval", [](const V& v) {
    Philox g(99);
    return nn::dropout(v[0], 0.4, false, g);
  }, {x});
  Tensor y = grad_leaf({8, 2, 3, 2}, rng);
  expect_gradcheck("stochastic_depth p=0.5", [](const V& v) {
    Philox g(7);
    return nn::stochastic_depth(v[0], 0.5, true, g);
  }, {y});
}

}  // namespace
}  // namespace cage::test
