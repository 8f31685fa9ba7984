// Losses in float64 against central finite differences (every differentiable input), and the errors a caller
// gets for bad labels and mismatched shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gradcheck_util.h"
#include "nn/functional.h"

namespace cage::test {
namespace {

Tensor labels_of(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())}); }

TEST(LossGradcheck, CrossEntropy) {
  Philox rng(11);
  Tensor logits = grad_leaf({5, 7}, rng, -3, 3);
  Tensor labels = labels_of({0, 6, 3, 3, 1});
  expect_gradcheck("cross_entropy", [&](const std::vector<Tensor>& in) { return nn::cross_entropy(in[0], labels); },
                   {logits});
  Tensor w = random_tensor({7}, rng, 0.1, 1.0, DType::f64);
  expect_gradcheck("cross_entropy weighted",
                   [&](const std::vector<Tensor>& in) { return nn::cross_entropy(in[0], labels, w); }, {logits});
  Tensor w32 = w.to(DType::f32);  // weights in another dtype are converted
  expect_gradcheck("cross_entropy f32 weights",
                   [&](const std::vector<Tensor>& in) { return nn::cross_entropy(in[0], labels, w32); }, {logits});
}

TEST(LossGradcheck, MseLoss) {
  Philox rng(12);
  Tensor p = grad_leaf({4, 3}, rng), t = grad_leaf({4, 3}, rng);
  expect_gradcheck("mse_loss", [](const std::vector<Tensor>& in) { return nn::mse_loss(in[0], in[1]); }, {p, t});
  // Strided operands: columns of a wider tensor.
  Tensor wide = grad_leaf({5, 4}, rng), t2 = grad_leaf({5, 2}, rng);
  expect_gradcheck("mse_loss strided",
                   [](const std::vector<Tensor>& in) { return nn::mse_loss(in[0].slice(1, 1, 3), in[1]); },
                   {wide, t2});
}

TEST(LossGradcheck, CccLoss) {
  Philox rng(13);
  for (int64_t n : {2, 3, 17}) {
    Tensor p = grad_leaf({n}, rng), t = grad_leaf({n}, rng);
    expect_gradcheck("ccc_loss n=" + std::to_string(n),
                     [](const std::vector<Tensor>& in) { return nn::ccc_loss(in[0], in[1]); }, {p, t});
  }
  Tensor p = grad_leaf({9}, rng, 2.0, 2.5), t = grad_leaf({9}, rng, -1.0, 0.0);  // means apart
  expect_gradcheck("ccc_loss offset", [](const std::vector<Tensor>& in) { return nn::ccc_loss(in[0], in[1]); },
                   {p, t});
  Tensor t_const = random_tensor({9}, rng, -1, 1, DType::f64);  // target without gradient
  expect_gradcheck("ccc_loss pred only",
                   [&](const std::vector<Tensor>& in) { return nn::ccc_loss(in[0], t_const); }, {p});
}

TEST(LossGradcheck, BceWithLogits) {
  Philox rng(14);
  Tensor x = grad_leaf({4, 5}, rng, -4, 4), t = grad_leaf({4, 5}, rng, 0, 1);
  expect_gradcheck("bce_with_logits",
                   [](const std::vector<Tensor>& in) { return nn::bce_with_logits(in[0], in[1]); }, {x, t});
  Tensor pw = random_tensor({5}, rng, 0.5, 8.0, DType::f64);
  expect_gradcheck("bce_with_logits pos_weight",
                   [&](const std::vector<Tensor>& in) { return nn::bce_with_logits(in[0], in[1], pw); }, {x, t});
  Tensor big = grad_leaf({2, 5}, rng, 30, 40), tb = grad_leaf({2, 5}, rng, 0, 1);
  expect_gradcheck("bce_with_logits large logits",
                   [&](const std::vector<Tensor>& in) { return nn::bce_with_logits(nn::scale(in[0], -1), in[1], pw); },
                   {big, tb});
}

// Runs f, expects a cage::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(LossErrors, CrossEntropyBadLabel) {
  Tensor logits = Tensor::zeros({4, 8});
  expect_error([&] { nn::cross_entropy(logits, labels_of({0, 1, 8, 2})); }, {"index 2", "value 8"});
  expect_error([&] { nn::cross_entropy(logits, labels_of({0, -1, 3, 2})); }, {"index 1", "value -1"});
  expect_error([&] { nn::cross_entropy(logits, labels_of({0, 1, 2})); }, {"labels", "[4]"});
  expect_error([&] { nn::cross_entropy(logits, Tensor::zeros({4})); }, {"i64"});
  expect_error([&] { nn::cross_entropy(logits, labels_of({0, 1, 2, 3}), Tensor::zeros({7})); },
               {"class_weights", "[8]"});
  expect_error([&] { nn::cross_entropy(Tensor::zeros({4, 8, 1}), labels_of({0, 1, 2, 3})); }, {"(N, K)"});
}

TEST(LossErrors, ShapeAndDtypeMismatch) {
  expect_error([] { nn::mse_loss(Tensor::zeros({4, 2}), Tensor::zeros({2, 4})); }, {"[4, 2]", "[2, 4]"});
  expect_error([] { nn::mse_loss(Tensor::zeros({3}), Tensor::zeros({3}, DType::f64)); }, {"dtype"});
  expect_error([] { nn::ccc_loss(Tensor::zeros({5}), Tensor::zeros({6})); }, {"[5]", "[6]"});
  expect_error([] { nn::ccc_loss(Tensor::zeros({5, 1}), Tensor::zeros({5, 1})); }, {"1-D"});
  expect_error([] { nn::ccc_loss(Tensor::zeros({1}), Tensor::zeros({1})); }, {"at least 2"});
  expect_error([] { nn::bce_with_logits(Tensor::zeros({3, 26}), Tensor::zeros({3, 25})); }, {"[3, 26]"});
  expect_error([] { nn::bce_with_logits(Tensor::zeros({3, 26}), Tensor::zeros({3, 26}), Tensor::zeros({3})); },
               {"pos_weight", "[26]"});
}

// Values that a broken formula would get wrong even where gradients agree.
TEST(LossValues, KnownAnswers) {
  // CCC of identical vectors is 1, of a negated zero-mean copy -1: the loss is -1 / +1. A shifted copy keeps
  // the covariance but pays (mean_p - mean_t)^2 in the denominator.
  Tensor p = Tensor::from_vector<double>({0.1, -0.4, 0.7, -0.4}, {4});  // mean 0, unbiased var 0.82 / 3
  EXPECT_NEAR(nn::ccc_loss(p, p).item(), -1.0, 1e-15);
  EXPECT_NEAR(nn::ccc_loss(p, nn::scale(p, -1)).item(), 1.0, 1e-15);
  Tensor shifted = Tensor::from_vector<double>({0.6, 0.1, 1.2, 0.1}, {4});  // p + 0.5
  EXPECT_NEAR(nn::ccc_loss(p, shifted).item(), -2 * (0.82 / 3) / (2 * (0.82 / 3) + 0.25), 1e-15);
  // Uniform logits: cross-entropy is log K whatever the labels and weights.
  Tensor w = Tensor::from_vector<float>({0.015605f, 0.008709f, 0.046078f, 0.083078f, 0.185434f, 0.305953f,
                                         0.046934f, 0.308210f}, {8});
  EXPECT_NEAR(nn::cross_entropy(Tensor::full({3, 8}, 5.0), labels_of({7, 0, 4}), w).item(), std::log(8.0), 1e-6);
  // BCE at x = 0 is log 2 per element; with pos_weight 3 a positive costs 3 log 2.
  Tensor t = Tensor::from_vector<double>({1, 0}, {1, 2});
  Tensor pw = Tensor::from_vector<double>({3, 3}, {2});
  EXPECT_NEAR(nn::bce_with_logits(Tensor::zeros({1, 2}, DType::f64), t, pw).item(), 2 * std::log(2.0), 1e-15);
  // Extreme logits stay finite.
  EXPECT_NEAR(nn::bce_with_logits(Tensor::full({1, 2}, 1000.0, DType::f64), t).item(), 500.0, 1e-12);
}

}  // namespace
}  // namespace cage::test
