// The native MaxViT against the torchvision goldens: every bundle of the reference directory is discovered
// from its metadata and checked (forward intermediates, one training step, splitmix-generated maxvit_t).
// Each checked bundle prints its device, its name and its max abs / rel errors. The bundle tests run on every device
// (support/devices.h): the model and inputs are moved there, results come back to the CPU for the comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/pth.h"
#include "models/maxvit.h"
#include "models/reference_bundles.h"
#include "nn/functional.h"
#include "support/devices.h"
#include "support/splitmix.h"
#include "train/optim.h"

namespace cage::test {
namespace {

Tensor nhwc_to_nchw(const Tensor& t) { return t.dim() == 4 ? t.permute({0, 3, 1, 2}).contiguous() : t; }

// Forward outputs are O(1): the bound scales with the reference's magnitude (README: f32 error ~1e-6 of it).
::testing::AssertionResult check_output(const std::string& bundle, const std::string& name, const Tensor& ours,
                                        const Tensor& ref, double rel_to_max) {
  double atol = rel_to_max * std::max(1.0, max_abs(ref));
  Compare c = compare(ours, ref, atol, 0);
  std::printf("[reference %s] %-38s %-34s max abs %.3g  max rel %.3g  (atol %.1g)\n",
              device_name(current_test_device()), bundle.c_str(), name.c_str(), c.max_abs, c.max_rel, atol);
  return allclose(ours, ref, atol, 0);
}


TEST(MaxVitReference, BundlesExist) {
  size_t n = bundles_of_kind("forward").size() + bundles_of_kind("train_step").size() +
             bundles_of_kind("splitmix_forward").size();
  ASSERT_GT(n, 0u) << "no reference bundles in " << reference_dir();
}

class MaxVitBundles : public DeviceTest {};

TEST_P(MaxVitBundles, Forward) {
  auto bundles = bundles_of_kind("forward");
  if (bundles.empty()) GTEST_SKIP() << "no forward bundles in " << reference_dir();
  for (auto& b : bundles) {
    models::MaxVit model(models::MaxVitConfig::from_json(b.file.meta("config")));
    model.load_state_dict(load_checkpoint(b));
    model.to(device());
    model.eval();
    std::map<std::string, Tensor> seen;
    NoGradGuard no_grad;
    model.forward(nchw_to_nhwc(b.file.get(b.file.meta("input"))).to(device()),
                  [&](const std::string& name, const Tensor& t) { seen[name] = t; });
    std::string outputs = b.file.meta("outputs");
    size_t start = 0, checked = 0;
    while (start < outputs.size()) {
      size_t end = outputs.find(',', start);
      if (end == std::string::npos) end = outputs.size();
      std::string name = outputs.substr(start, end - start);
      start = end + 1;
      ASSERT_TRUE(seen.count(name)) << b.name << ": the model produced no output named '" << name << "'";
      EXPECT_TRUE(check_output(b.name, name, nhwc_to_nchw(seen[name]), b.file.get(name), 1e-5)) << b.name << " " << name;
      ++checked;
    }
    EXPECT_GT(checked, 0u);
  }
}

TEST_P(MaxVitBundles, Splitmix) {
  auto bundles = bundles_of_kind("splitmix_forward");
  if (bundles.empty()) GTEST_SKIP() << "no splitmix bundles in " << reference_dir();
  for (auto& b : bundles) {
    ASSERT_EQ(b.file.meta("arch"), "maxvit_t") << b.name << ": unknown arch";
    models::MaxVit model(models::maxvit_t_config(std::stoll(b.file.meta("num_classes"))));
    model.eval();
    SplitMix64 rng(std::stoull(b.file.meta("splitmix_seed")));
    splitmix_fill(model, rng);
    // The fill is checked first: a slip there would make every later comparison meaningless.
    auto keys = nlohmann::json::parse(b.file.meta("fill_check_keys")).get<std::vector<std::string>>();
    auto sd = model.state_dict();
    std::map<std::string, Tensor> by_key(sd.begin(), sd.end());
    const Tensor& first4 = b.file.get("fill_check.first4");
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE(by_key.count(keys[i])) << keys[i];
      std::vector<float> v = by_key[keys[i]].to_vector<float>();
      for (int j = 0; j < 4; ++j) ASSERT_EQ(v[j], first4.data<float>()[i * 4 + j]) << keys[i];
    }
    const Tensor& ref_input = b.file.get("input");
    Tensor input = Tensor::empty(ref_input.shape());
    for (int64_t i = 0; i < input.numel(); ++i) input.data<float>()[i] = static_cast<float>(2.0 * rng.uniform() - 1.0);
    ASSERT_TRUE(allclose(input, ref_input, 0, 0)) << "generated input differs from the stored one";
    model.to(device());

    std::map<std::string, Tensor> seen;
    NoGradGuard no_grad;
    Tensor logits = model.forward(nchw_to_nhwc(input).to(device()), [&](const std::string& name, const Tensor& t) { seen[name] = t; });
    EXPECT_TRUE(check_output(b.name, "logits", logits, b.file.get("logits"), 1e-5));
    EXPECT_TRUE(check_output(b.name, "pre_logits", seen["pre_logits"], b.file.get("pre_logits"), 1e-5));
    EXPECT_TRUE(check_output(b.name, "stem_img0", nhwc_to_nchw(seen["stem"]).slice(0, 0, 1), b.file.get("stem_img0"), 1e-5));
    for (int s = 0; s < 4; ++s) {
      std::string key = "stage" + std::to_string(s);
      EXPECT_TRUE(check_output(b.name, key + "_img0", nhwc_to_nchw(seen[key]).slice(0, 0, 1), b.file.get(key + "_img0"), 1e-5));
    }
  }
}

TEST_P(MaxVitBundles, TrainStep) {
  auto bundles = bundles_of_kind("train_step");
  if (bundles.empty()) GTEST_SKIP() << "no train_step bundles in " << reference_dir();
  for (auto& b : bundles) {
    auto ts = nlohmann::json::parse(b.file.meta("train_step"));
    models::MaxVitConfig cfg = models::MaxVitConfig::from_json(b.file.meta("config"));
    cfg.bn_momentum = ts.value("bn_momentum", 0.01);
    auto checkpoint = load_checkpoint(b);
    models::MaxVit model(cfg);
    model.load_state_dict(checkpoint);
    model.to(device());
    model.train();
    Tensor input = nchw_to_nhwc(b.file.get(ts.at("inputs").get<std::string>())).to(device());
    Tensor logits = model.forward(input);
    Tensor loss = bundle_loss(b, ts, logits);
    EXPECT_TRUE(check_output(b.name, "logits", logits, b.file.get("logits"), 1e-5));
    EXPECT_TRUE(check_output(b.name, "loss", loss.reshape({1}), b.file.get("loss"), 1e-5));
    loss.backward();

    // Gradients: per tensor, atol = 1e-6 + 2e-4 * max |grad_ref| (README: the worst float32-vs-float64
    // spread is 5.3e-6 of a tensor's largest gradient; entries that are zero in exact arithmetic are noise).
    const std::string gp = ts.value("grad_prefix", "grad."), ap = ts.value("after_prefix", "after.");
    double worst_grad = 0;
    int64_t grads = 0;
    for (auto& e : model.state_entries()) {
      if (e.is_buffer) continue;
      const Tensor& ref = b.file.get(gp + e.key);
      ASSERT_TRUE(e.tensor->grad().defined()) << b.name << ": no gradient for " << e.key;
      Tensor g = nn::to_torch_layout(e.tensor->grad(), e.layout);
      double scale_ref = max_abs(ref);
      Compare c = compare(g, ref, 1e-6 + 2e-4 * scale_ref, 0);
      if (scale_ref > 1e-5) worst_grad = std::max(worst_grad, c.max_abs / scale_ref);  // skip pure-noise tensors
      EXPECT_TRUE(allclose(g, ref, 1e-6 + 2e-4 * scale_ref, 0)) << b.name << " gradient of " << e.key;
      ++grads;
    }
    std::printf("[reference %s] %-38s %-34s %lld tensors, worst max abs / max |ref| %.3g\n", device_name(device()),
                b.name.c_str(), "gradients",
                (long long)grads, worst_grad);

    ASSERT_EQ(ts.value("optimizer", ""), "adamw");
    train::AdamWOptions opt;
    opt.lr = ts.at("lr").get<double>();
    opt.beta1 = ts.at("betas")[0].get<double>();
    opt.beta2 = ts.at("betas")[1].get<double>();
    opt.eps = ts.at("eps").get<double>();
    opt.weight_decay = ts.at("weight_decay").get<double>();
    train::AdamW adamw(model.parameters(), opt);
    adamw.step();

    // After the step: parameters whose gradient is not noise within 1e-6; noise-driven entries move by at
    // most lr (README); running statistics within 5e-6; integer buffers exactly.
    double worst_param = 0, worst_stat = 0;
    for (auto& [key, value] : model.state_dict()) {
      const Tensor& ref = b.file.get(ap + key);
      if (value.dtype() == DType::i64) {
        EXPECT_TRUE(allclose(value, ref, 0, 0)) << b.name << " " << key;
        continue;
      }
      if (b.file.has(gp + key)) {
        std::vector<double> ours = value.to(DType::f64).to_vector<double>();
        std::vector<double> theirs = ref.to(DType::f64).to_vector<double>();
        std::vector<double> g = b.file.get(gp + key).to(DType::f64).to_vector<double>();
        for (size_t i = 0; i < ours.size(); ++i) {
          double d = std::fabs(ours[i] - theirs[i]);
          bool noise = std::fabs(g[i]) <= 1e-6;
          if (!noise) worst_param = std::max(worst_param, d);
          ASSERT_LE(d, noise ? 2.1 * opt.lr : 1e-6) << b.name << " " << key << "[" << i << "]";
        }
      } else {
        Compare c = compare(value, ref, 5e-6, 0);
        worst_stat = std::max(worst_stat, c.max_abs);
        EXPECT_TRUE(allclose(value, ref, 5e-6, 0)) << b.name << " " << key;
      }
    }
    std::printf("[reference %s] %-38s %-34s params max abs %.3g (non-noise entries), running stats max abs %.3g\n",
                device_name(device()), b.name.c_str(), "after one AdamW step", worst_param, worst_stat);

    // The old torchvision BatchNorm momentum (0.99 in PyTorch's convention), when the bundle stores its stats.
    bool has_099 = false;
    for (auto& [k, t] : b.file.tensors) has_099 |= k.rfind("after_bn_momentum_0.99.", 0) == 0;
    if (has_099) {
      cfg.bn_momentum = 0.99;
      models::MaxVit old_model(cfg);
      old_model.load_state_dict(checkpoint);
      old_model.to(device());
      old_model.train();
      {
        NoGradGuard no_grad;
        old_model.forward(input);
      }
      double worst = 0;
      for (auto& [key, value] : old_model.state_dict()) {
        std::string k = "after_bn_momentum_0.99." + key;
        if (!b.file.has(k)) continue;
        Compare c = compare(value, b.file.get(k), 5e-5, 0);
        worst = std::max(worst, c.max_abs);
        EXPECT_TRUE(allclose(value, b.file.get(k), 5e-5, 0)) << b.name << " " << k;
      }
      std::printf("[reference %s] %-38s %-34s max abs %.3g\n", device_name(device()), b.name.c_str(),
                  "running stats, momentum 0.99", worst);
    }
  }
}

CAGE_INSTANTIATE_DEVICE_SUITE(MaxVitBundles);

}  // namespace
}  // namespace cage::test
