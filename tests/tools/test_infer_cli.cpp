// cage_infer's image mode against the C++ API: the probabilities, valence and arousal it prints (--json) must be the
// model's own outputs for the paper's eval transform, with the head read from its width (10, 9, 8, 7, 2) and never
// sliced otherwise; heads that are not CAGE face heads, and --classes that disagree with the head, are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "core/autograd.h"
#include "data/dataset.h"
#include "data/decode.h"
#include "data/pipeline.h"
#include "models/checkpoint.h"
#include "support/test_support.h"

namespace cage::test {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("cage_infer_cli_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// A small MaxViT that runs at 224 x 224 (partition 7 divides 56 and 28) with random weights; the head's Linears
// are redrawn (uniform in [-1, 1] and [-3, 3]) so that the class probabilities differ clearly (torchvision's std
// 0.02 leaves them all near 1/K, where a slicing error could hide).
std::unique_ptr<models::MaxVit> make_model(int64_t outputs, uint64_t seed) {
  models::MaxVitConfig c;
  c.input_size = 224;
  c.stem_channels = 8;
  c.block_channels = {8, 16};
  c.block_layers = {1, 1};
  c.head_dim = 4;
  c.partition_size = 7;
  c.stochastic_depth_prob = 0;
  c.num_classes = outputs;
  auto model = std::make_unique<models::MaxVit>(c);
  model->init_weights(seed);
  Philox rng(seed + 100);
  auto state = model->state_dict();
  for (auto& [key, value] : state) {
    if (key == "classifier.3.weight") value = random_tensor(value.shape(), rng, -1, 1);
    if (key == "classifier.5.weight") value = random_tensor(value.shape(), rng, -3, 3);
  }
  model->load_state_dict(state);
  model->eval();
  return model;
}

data::Image pattern(int64_t h, int64_t w, uint64_t seed) {
  data::Image im(h, w, 3);
  Philox rng(seed);
  const float fx = 0.02f + 0.05f * rng.uniform(), fy = 0.02f + 0.05f * rng.uniform();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < 3; ++c)
        im.row(y)[x * 3 + c] = static_cast<uint8_t>(127.5 + 120 * std::sin(fx * x * (c + 1) + fy * y + c));
  return im;
}

struct InferRun {
  int status = 0;
  std::string out, err;
};

InferRun run_infer(const std::string& args) {
  fs::path dir = temp_dir();
  std::string out = (dir / "out.txt").string(), err = (dir / "err.txt").string();
  InferRun r;
  r.status = std::system((std::string(CAGE_INFER_BIN) + " --threads 2 " + args + " > " + out + " 2> " + err).c_str());
  std::stringstream so, se;
  so << std::ifstream(out).rdbuf();
  se << std::ifstream(err).rdbuf();
  r.out = so.str(), r.err = se.str();
  return r;
}

// The model's outputs for an image file under the eval transform, as a user of the C++ API computes them.
std::vector<double> api_outputs(models::MaxVit& model, const std::string& path) {
  data::Pipeline pipeline(data::kPaperEvalSpec);
  Philox rng(0);
  data::FloatImage x = pipeline.apply(data::decode_image(path), rng);
  NoGradGuard no_grad;
  Tensor out = model.forward(Tensor::from_vector(x.values, {1, x.height, x.width, x.channels})).contiguous();
  return std::vector<double>(out.data<float>(), out.data<float>() + out.numel());
}

std::vector<double> softmax(const std::vector<double>& v, size_t k) {
  std::vector<double> p(k);
  double top = *std::max_element(v.begin(), v.begin() + k), sum = 0;
  for (size_t i = 0; i < k; ++i) sum += p[i] = std::exp(v[i] - top);
  for (double& x : p) x /= sum;
  return p;
}

class InferCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    square_ = (dir_ / "square.jpg").string();
    tall_ = (dir_ / "tall.png").string();
    data::encode_jpeg(pattern(224, 224, 1), square_, 92);
    data::encode_png(pattern(260, 200, 2), tall_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a checkpoint with `outputs` outputs, runs cage_infer --json on both images, and checks every entry
  // against the C++ API with the head split as K logits + `va` trailing values.
  void check_head(int64_t outputs, size_t k, bool va, const std::string& extra = "") {
    SCOPED_TRACE("head of " + std::to_string(outputs) + " outputs");
    auto model = make_model(outputs, 7 + outputs);
    std::string ckpt = (dir_ / (std::to_string(outputs) + "_head.safetensors")).string();
    models::save_checkpoint(ckpt, *model);
    InferRun r = run_infer("--weights " + ckpt + " --json --no-faces " + extra + " " + square_ + " " + tall_);
    ASSERT_EQ(r.status, 0) << r.err;
    nlohmann::json doc = nlohmann::json::parse(r.out);
    ASSERT_EQ(doc["results"].size(), 2u) << r.out;
    ASSERT_EQ(doc["classes"].size(), k);
    for (size_t c = 0; c < k; ++c) EXPECT_EQ(doc["classes"][c], data::kAffectNetClasses[c]);
    for (const auto& entry : doc["results"]) {
      const std::string file = entry["file"];
      SCOPED_TRACE(file);
      EXPECT_TRUE(entry["face"].is_null());
      std::vector<double> out = api_outputs(*model, file);
      ASSERT_EQ(out.size(), static_cast<size_t>(outputs));
      if (k > 0) {
        std::vector<double> p = softmax(out, k);
        ASSERT_EQ(entry["probabilities"].size(), k);
        double sum = 0;
        size_t best = 0;
        for (size_t c = 0; c < k; ++c) {
          const double printed = entry["probabilities"][data::kAffectNetClasses[c]];
          EXPECT_NEAR(printed, p[c], 1e-6) << data::kAffectNetClasses[c];
          sum += printed;
          if (p[c] > p[best]) best = c;
        }
        EXPECT_NEAR(sum, 1.0, 1e-9);
        EXPECT_EQ(entry["class"], data::kAffectNetClasses[best]);
        EXPECT_NEAR(entry["probability"].get<double>(), p[best], 1e-6);
        // Not a test of luck: with these heads the classes are far from uniform.
        EXPECT_GT(p[best], 1.5 / static_cast<double>(k));
      } else {
        EXPECT_TRUE(entry["probabilities"].is_null());
        EXPECT_TRUE(entry["class"].is_null());
      }
      if (va) {
        EXPECT_NEAR(entry["valence"].get<double>(), out[k], 1e-6);
        EXPECT_NEAR(entry["arousal"].get<double>(), out[k + 1], 1e-6);
      } else {
        EXPECT_TRUE(entry["valence"].is_null());
      }
    }
  }

  fs::path dir_;
  std::string square_, tall_;
};

TEST_F(InferCli, TenOutputsAreEightLogitsThenValenceArousal) { check_head(10, 8, true); }
TEST_F(InferCli, NineOutputsAreSevenLogitsThenValenceArousal) { check_head(9, 7, true, "--classes 7"); }
TEST_F(InferCli, ExpressionOnlyHeads) {
  check_head(8, 8, false);
  check_head(7, 7, false);
}
TEST_F(InferCli, ValenceArousalOnlyHead) { check_head(2, 0, true); }

TEST_F(InferCli, RefusesHeadsItWouldHaveToGuess) {
  // The public webcam demo's bug: a 10-output head read as 7 logits + V + A. Refused, with one line.
  auto ten = make_model(10, 1);
  std::string ckpt = (dir_ / "ten.safetensors").string();
  models::save_checkpoint(ckpt, *ten);
  InferRun r = run_infer("--weights " + ckpt + " --classes 7 " + square_);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("10 outputs"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  for (int64_t outputs : {29, 5}) {
    auto m = make_model(outputs, 2);
    std::string path = (dir_ / (std::to_string(outputs) + "_outputs.safetensors")).string();
    models::save_checkpoint(path, *m);
    InferRun bad = run_infer("--weights " + path + " " + square_);
    EXPECT_NE(bad.status, 0) << outputs;
    EXPECT_NE(bad.err.find(outputs == 29 ? "EMOTIC" : "5 outputs"), std::string::npos) << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  }
}

}  // namespace
}  // namespace cage::test
