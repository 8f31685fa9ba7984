// The autograd tape: accumulation into leaves, fan-out (diamond graphs), NoGradGuard, detach, release of
// saved tensors after backward, and the errors of misuse. Built from core-only ops (views, clone, to) and
// a few hand-recorded nodes, so these tests do not depend on nn/.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/autograd.h"
#include "core/tensor.h"

namespace cage {
namespace {

Tensor leaf(const std::vector<double>& v, const Shape& shape) {
  Tensor t = Tensor::from_vector(v, shape);
  t.set_requires_grad(true);
  return t;
}

// y = a * b element-wise (same shapes, f64), recorded by hand: grad_a = g * b, grad_b = g * a.
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(a.shape(), DType::f64);
  for (int64_t i = 0; i < out.numel(); ++i) out.data<double>()[i] = ac.data<double>()[i] * bc.data<double>()[i];
  Tensor ad = ac.detach(), bd = bc.detach();
  return record(out, "test_mul", {ac, bc}, [ad, bd](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor ga = Tensor::empty(ad.shape(), DType::f64), gb = Tensor::empty(bd.shape(), DType::f64);
    for (int64_t i = 0; i < ga.numel(); ++i) {
      ga.data<double>()[i] = gc.data<double>()[i] * bd.data<double>()[i];
      gb.data<double>()[i] = gc.data<double>()[i] * ad.data<double>()[i];
    }
    return std::vector<Tensor>{ga, gb};
  });
}

// Sum of all elements to a scalar.
Tensor sum(const Tensor& x) {
  Tensor xc = x.contiguous();
  double s = 0;
  for (int64_t i = 0; i < xc.numel(); ++i) s += xc.data<double>()[i];
  Shape shape = x.shape();
  return record(Tensor::full({}, s, DType::f64), "test_sum", {xc},
                [shape](const Tensor& g) { return std::vector<Tensor>{Tensor::full(shape, g.item(), DType::f64)}; });
}

std::vector<double> grad_of(const Tensor& t) {
  EXPECT_TRUE(t.grad().defined());
  return t.grad().defined() ? t.grad().to_vector<double>() : std::vector<double>{};
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor c = Tensor::from_vector<double>({4, 5, 6}, {3});
  sum(mul(x, c)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{4, 5, 6}));
  sum(mul(x, c)).backward();  // a second forward and backward adds to the stored gradient
  EXPECT_EQ(grad_of(x), (std::vector<double>{8, 10, 12}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  sum(x.slice(0, 1, 3)).backward();  // through a view: zeros where the slice does not reach
  EXPECT_EQ(grad_of(x), (std::vector<double>{0, 1, 1}));
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  Tensor x = leaf({1, -2, 3}, {3});
  // x feeds both factors: d(x*x)/dx = 2x.
  sum(mul(x, x)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{2, -4, 6}));
  x.zero_grad();
  // An intermediate used twice: y = x * x, out = sum(y * y) = sum(x^4), grad 4 x^3.
  Tensor y = mul(x, x);
  sum(mul(y, y)).backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{4, -32, 108}));
  x.zero_grad();
  // Two views of the same leaf combined: sum(x[0:2] * x[1:3]) -> grad (x1, x0 + x2, x1).
  sum(mul(x.slice(0, 0, 2), x.slice(0, 1, 3))).backward();
  EXPECT_EQ(grad_of(x), (std::vector<double>{-2, 4, -2}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = leaf({1, 2}, {2});
  EXPECT_TRUE(grad_enabled());
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_enabled());
    Tensor y = mul(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(y.grad_fn());
    EXPECT_FALSE(x.permute({0}).requires_grad());
    {
      NoGradGuard nested;
    }
    EXPECT_FALSE(grad_enabled());  // the nested guard restores "off", not "on"
  }
  EXPECT_TRUE(grad_enabled());
  Tensor z = mul(x, x);
  EXPECT_TRUE(z.requires_grad());
  EXPECT_TRUE(z.grad_fn());
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = leaf({3, 4}, {2});
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_FALSE(d.grad_fn());
  EXPECT_EQ(d.storage(), x.storage());
  sum(mul(x, d)).backward();  // only the path through x counts: grad = d
  EXPECT_EQ(grad_of(x), (std::vector<double>{3, 4}));
  Tensor y = mul(x, x);
  Tensor yd = y.detach();
  EXPECT_FALSE(yd.requires_grad());
  EXPECT_THROW(sum(yd).backward(), Error);  // nothing to differentiate
}

TEST(Autograd, SavedTensorsAreReleasedAfterBackward) {
  Tensor x = leaf({1, 2, 3, 4}, {4});
  std::weak_ptr<TensorImpl> weak_impl;
  std::weak_ptr<Storage> weak_storage;
  Tensor out;
  {
    Tensor h = mul(x, x);  // only the graph keeps h alive once this scope ends
    weak_impl = h.impl_ptr();
    weak_storage = h.storage();
    out = sum(mul(h, h));
  }
  EXPECT_FALSE(weak_impl.expired());  // held by the graph until backward
  EXPECT_FALSE(weak_storage.expired());
  out.backward();
  EXPECT_TRUE(weak_impl.expired()) << "a node still holds its input after backward";
  EXPECT_TRUE(weak_storage.expired()) << "a backward closure still holds a saved tensor";
  EXPECT_EQ(grad_of(x), (std::vector<double>{4, 32, 108, 256}));
  try {
    out.backward();
    ADD_FAILURE() << "a second backward through a released graph did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("saved tensors"), std::string::npos) << e.what();
  }
}

TEST(Autograd, MisuseThrows) {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor y = mul(x, x);
  try {
    y.backward();
    ADD_FAILURE() << "backward of a non-scalar without a gradient did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(y.backward(Tensor::full({4}, 1.0, DType::f64)), Error);  // wrong gradient shape
  EXPECT_THROW(y.set_requires_grad(true), Error);                        // not a leaf
  EXPECT_THROW(Tensor::zeros({2}, DType::i64).set_requires_grad(true), Error);
  EXPECT_THROW(Tensor::zeros({2}, DType::f64).backward(), Error);        // does not require grad
  y.backward(Tensor::full({3}, 1.0, DType::f64));                         // with a gradient it works
  EXPECT_EQ(grad_of(x), (std::vector<double>{2, 4, 6}));
}

TEST(Autograd, CastsAndClonesCarryGradients) {
  Tensor x = leaf({1, 2}, {2});
  Tensor f = x.to(DType::f32);
  EXPECT_TRUE(f.requires_grad());
  Tensor back = f.to(DType::f64).clone();
  sum(mul(back, back)).backward();
  EXPECT_EQ(x.grad().dtype(), DType::f64);
  EXPECT_EQ(grad_of(x), (std::vector<double>{2, 4}));
}

}  // namespace
}  // namespace cage
