// The trainer: an interrupted and resumed run follows the very same trajectory as a straight one (identical
// weights, bit for bit, on the CPU), and the run directory holds what it promises.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "data/dataset.h"
#include "data/idx.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "models/checkpoint.h"
#include "support/test_support.h"
#include "train/trainer.h"

namespace cage::train {
namespace {

namespace fs = std::filesystem;

TrainConfig tiny_config() {
  TrainConfig c;
  c.mode = "discrete";
  c.num_classes = 10;
  c.class_weights = "none";
  c.epochs = 2;
  c.batch_size = 32;
  c.lr = 2e-3;
  c.weight_decay = 0.05;
  c.holdout = 0.2;
  c.seed = 5;
  c.workers = 2;
  c.train_pipeline = "hflip(0.5) center_crop(32) normalize(0.2860,0.3530)";
  c.eval_pipeline = "center_crop(32) normalize(0.2860,0.3530)";
  c.data = "fashion-mnist (first 320 images)";
  c.model.input_size = 32;
  c.model.in_channels = 1;
  c.model.stem_channels = 8;
  c.model.block_channels = {8, 16};
  c.model.block_layers = {1, 1};
  c.model.head_dim = 4;
  c.model.partition_size = 2;
  c.model.stochastic_depth_prob = 0.1;  // draws from the dropout stream: the resume must restore its offset
  c.model.bn_momentum = 0.1;
  return c;
}

std::shared_ptr<const data::Dataset> tiny_fashion() {
  auto full = std::make_shared<data::FashionMnistDataset>(data::kFashionMnistDir, "t10k", 1);
  std::vector<int64_t> idx(320);
  for (int64_t i = 0; i < 320; ++i) idx[i] = i;
  return std::make_shared<data::SubsetDataset>(full, idx);
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("cage_trainer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

// Trains straight and with two interruptions in `precision`; returns the straight run's final weights.
std::vector<std::pair<std::string, Tensor>> check_resume(const std::string& precision) {
  auto ds = tiny_fashion();
  TrainConfig config = tiny_config();
  config.precision = precision;
  fs::path straight = fresh_dir("straight"), split = fresh_dir("split");
  Trainer a(config, ds, straight.string(), false);
  TrainResult ra = a.run();
  EXPECT_FALSE(ra.interrupted);
  EXPECT_EQ(ra.epochs_done, 2);

  // Stopped in the middle of epoch 1 (8 batches per epoch), then resumed twice: mid-epoch and at an epoch end.
  {
    Trainer b(config, ds, split.string(), false);
    EXPECT_TRUE(b.run(3).interrupted);
  }
  {
    Trainer b(config, ds, split.string(), true);
    EXPECT_TRUE(b.run(8).interrupted);
  }
  Trainer c(config, ds, split.string(), true);
  TrainResult rc = c.run();
  EXPECT_FALSE(rc.interrupted);

  auto sa = a.model().state_dict(), sc = c.model().state_dict();
  EXPECT_EQ(sa.size(), sc.size());
  if (sa.size() != sc.size()) return sa;
  for (size_t i = 0; i < sa.size(); ++i)
    EXPECT_TRUE(test::allclose(sc[i].second, sa[i].second, 0, 0)) << sa[i].first;

  for (const char* f : {"config.json", "state.safetensors", "best.safetensors", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(straight / f)) << f;
  std::ifstream m(straight / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(m, line);) ++lines;
  EXPECT_EQ(lines, 2);
  // best.safetensors is a plain checkpoint that the other tools load.
  models::LoadedWeights w = models::load_weights((straight / "best.safetensors").string());
  EXPECT_EQ(w.config.num_classes, 10);
  std::ifstream cj(straight / "config.json");
  const std::string config_text((std::istreambuf_iterator<char>(cj)), std::istreambuf_iterator<char>());
  EXPECT_EQ(TrainConfig::from_json(config_text).precision, precision);
  fs::remove_all(straight);
  fs::remove_all(split);
  return sa;
}

bool have_fashion() { return fs::exists(std::string(data::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"); }

TEST(Trainer, ResumeFollowsTheSameTrajectory) {
  if (!have_fashion()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  check_resume("fp32");
}

// bf16 mixed precision (GEMM operands in bf16): deterministic as well, recorded in config.json, restored to
// fp32 outside the training step, really applied (the weights differ from the fp32 run's), and refused off the CPU.
TEST(Trainer, Bf16MixedPrecisionResumesAndIsApplied) {
  if (!have_fashion()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  auto w16 = check_resume("bf16");
  EXPECT_EQ(kernels::gemm_precision(), kernels::GemmPrecision::fp32);
  auto w32 = check_resume("fp32");
  ASSERT_EQ(w16.size(), w32.size());
  int differ = 0;
  double worst = 0;
  for (size_t i = 0; i < w16.size(); ++i) {
    if (w16[i].second.dtype() != DType::f32) continue;
    differ += !test::allclose(w16[i].second, w32[i].second, 0, 0);
    worst = std::max(worst, test::compare(w16[i].second, w32[i].second, 0, 0).max_abs);
  }
  EXPECT_GT(differ, 0) << "bf16 training gave the fp32 weights bit for bit: the precision was not applied";
  std::printf("[bf16 training] %d of %zu tensors differ from the fp32 run, max abs difference %.3g\n", differ,
              w16.size(), worst);

  TrainConfig config = tiny_config();
  config.precision = "bf16";
  config.device = Device::emu;
  EXPECT_THROW(Trainer(config, tiny_fashion(), fresh_dir("bf16_emu").string(), false), Error);
  config.device = Device::cpu;
  config.precision = "fp16";
  EXPECT_THROW(Trainer(config, tiny_fashion(), fresh_dir("fp16").string(), false), Error);
}

}  // namespace
}  // namespace cage::train
