// The trainer: an interrupted and resumed run follows the very same trajectory as a straight one (identical
// weights, bit for bit, on the CPU), and the run directory holds what it promises.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "data/dataset.h"
#include "data/idx.h"
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

TEST(Trainer, ResumeFollowsTheSameTrajectory) {
  if (!fs::exists(std::string(data::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  auto ds = tiny_fashion();
  fs::path straight = fresh_dir("straight"), split = fresh_dir("split");
  Trainer a(tiny_config(), ds, straight.string(), false);
  TrainResult ra = a.run();
  EXPECT_FALSE(ra.interrupted);
  EXPECT_EQ(ra.epochs_done, 2);

  // Stopped in the middle of epoch 1 (8 batches per epoch), then resumed twice: mid-epoch and at an epoch end.
  {
    Trainer b(tiny_config(), ds, split.string(), false);
    EXPECT_TRUE(b.run(3).interrupted);
  }
  {
    Trainer b(tiny_config(), ds, split.string(), true);
    EXPECT_TRUE(b.run(8).interrupted);
  }
  Trainer c(tiny_config(), ds, split.string(), true);
  TrainResult rc = c.run();
  EXPECT_FALSE(rc.interrupted);

  auto sa = a.model().state_dict(), sc = c.model().state_dict();
  ASSERT_EQ(sa.size(), sc.size());
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
  fs::remove_all(straight);
  fs::remove_all(split);
}

}  // namespace
}  // namespace cage::train
