// Checkpoints: architecture inference from shapes, safetensors round trip, strict loading errors, backbone
// initialisation with a re-initialised head, and the cage_import / cage_infer binaries end to end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/pth.h"
#include "core/safetensors.h"
#include "models/checkpoint.h"
#include "models/reference_bundles.h"

namespace cage::test {
namespace {

namespace fs = std::filesystem;

std::string small_pth() { return (fs::path(reference_dir()) / "maxvit_small.pth").string(); }

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("cage_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

TEST(Checkpoint, InferConfigFromShapes) {
  models::MaxVitConfig c = models::infer_config(load_pth(small_pth()).tensors);
  EXPECT_EQ(c.stem_channels, 16);
  EXPECT_EQ(c.block_channels, (std::vector<int64_t>{16, 32, 48, 64}));
  EXPECT_EQ(c.block_layers, (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.partition_size, 2);
  EXPECT_EQ(c.num_classes, 10);
  EXPECT_EQ(c.expansion_ratio, 4);
  EXPECT_EQ(c.squeeze_ratio, 0.25);
  EXPECT_EQ(c.mlp_ratio, 4);
  EXPECT_EQ(c.head_dropout, 0);

  // The full maxvit_t (its keys and shapes are torchvision's, checked by the reference tests) and CAGE's VA head.
  models::MaxVitConfig va = models::maxvit_t_config(2);
  va.head_dropout = 0.3;
  models::MaxVit model(va);
  auto state = model.state_dict();
  EXPECT_EQ(state.size(), 582u);  // ../shared/reference/maxvit_t_keys.txt: 582 entries
  models::MaxVitConfig inferred = models::infer_config(state);
  EXPECT_EQ(inferred.to_json(), va.to_json());
}

TEST(Checkpoint, MaxVitTParameterCountIsTorchvisions) {
  models::MaxVit model(models::maxvit_t_config(1000));
  EXPECT_EQ(model.parameter_count(), 30919624);  // torchvision's published num_params for maxvit_t
}

TEST(Checkpoint, SafetensorsRoundTripKeepsConfigAndValues) {
  fs::path dir = temp_dir("roundtrip");
  models::LoadedWeights w = models::load_weights(small_pth());
  w.config.input_size = 64;
  models::MaxVit model(w.config);
  model.load_state_dict(w.state);
  std::string path = (dir / "small.safetensors").string();
  models::save_checkpoint(path, model);
  models::LoadedWeights back = models::load_weights(path);
  EXPECT_TRUE(back.config_from_metadata);
  EXPECT_EQ(back.config.to_json(), w.config.to_json());
  ASSERT_EQ(back.state.size(), w.state.size());
  for (size_t i = 0; i < w.state.size(); ++i) {
    EXPECT_EQ(back.state[i].first, w.state[i].first);
    EXPECT_TRUE(allclose(back.state[i].second, w.state[i].second, 0, 0)) << w.state[i].first;
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  fs::remove_all(dir);
}

TEST(Checkpoint, StrictLoadReportsEveryMismatchAtOnce) {
  auto state = load_pth(small_pth()).tensors;
  state.erase(state.begin() + 3);                         // a missing key
  state.emplace_back("blocks.9.extra", Tensor::zeros({2}));  // an unexpected key
  for (auto& [k, t] : state)
    if (k == "classifier.3.weight") t = Tensor::zeros({64, 32});  // a shape difference
  models::MaxVit model(models::infer_config(load_pth(small_pth()).tensors));
  try {
    model.load_state_dict(state);
    FAIL() << "a mismatching state_dict was accepted";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("1 missing keys"), std::string::npos) << m;
    EXPECT_NE(m.find("stem.0.1.running_mean"), std::string::npos) << m;  // the 4th entry
    EXPECT_NE(m.find("blocks.9.extra"), std::string::npos) << m;
    EXPECT_NE(m.find("classifier.3.weight: checkpoint [64, 32], model [64, 64]"), std::string::npos) << m;
  }
}

TEST(Checkpoint, BackboneInitReinitialisesADifferentHead) {
  auto state = load_pth(small_pth()).tensors;
  models::MaxVitConfig c = models::infer_config(state);
  c.num_classes = 9;  // AffectNet-7 combined: 7 + V + A instead of 10
  models::MaxVit model(c);
  model.init_weights(3);
  Tensor head_before = model.state_dict().back().second.clone();
  std::vector<std::string> reinit = models::load_backbone(model, state);
  ASSERT_EQ(reinit.size(), 1u);
  EXPECT_EQ(reinit[0], "classifier.5.weight: checkpoint [10, 64], model [9, 64]");
  auto after = model.state_dict();
  EXPECT_TRUE(allclose(after.back().second, head_before, 0, 0));  // the head kept its fresh initialisation
  for (size_t i = 0; i + 1 < after.size(); ++i)                     // everything else came from the checkpoint
    EXPECT_TRUE(allclose(after[i].second, state[i].second, 0, 0)) << after[i].first;

  // A backbone difference is an error, not a silent re-initialisation.
  c.num_classes = 10;
  c.stem_channels = 8;
  models::MaxVit other(c);
  EXPECT_THROW(models::load_backbone(other, state), Error);
}

TEST(Checkpoint, ImportAndInferBinariesReproduceTheGolden) {
  fs::path dir = temp_dir("binaries");
  std::string st = (dir / "small.safetensors").string(), dump = (dir / "dump.safetensors").string();
  std::string forward = (fs::path(reference_dir()) / "maxvit_small_forward.safetensors").string();
  ASSERT_EQ(std::system((std::string(CAGE_IMPORT_BIN) + " " + small_pth() + " " + st + " --input-size 64 > " +
                         (dir / "import.log").string()).c_str()), 0);
  ASSERT_EQ(std::system((std::string(CAGE_INFER_BIN) + " --weights " + st + " --tensor " + forward + ":input --dump " +
                         dump + " > " + (dir / "infer.log").string()).c_str()), 0);
  TensorFile out = load_safetensors(dump), ref = load_safetensors(forward);
  for (const char* name : {"stem", "stage0", "stage1", "stage2", "stage3", "pooled", "pre_logits", "logits"})
    EXPECT_TRUE(allclose(out.get(name), ref.get(name), 1e-4, 0)) << name;
  // A wrong checkpoint gives a clear error and a non-zero exit, and writes nothing.
  std::string bad = (dir / "bad.pth").string();
  { std::ofstream(bad) << "not a checkpoint"; }
  EXPECT_NE(std::system((std::string(CAGE_INFER_BIN) + " --weights " + bad + " --tensor " + forward + ":input --dump " +
                         (dir / "none.safetensors").string() + " 2> " + (dir / "err.log").string()).c_str()), 0);
  EXPECT_FALSE(fs::exists(dir / "none.safetensors"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cage::test
