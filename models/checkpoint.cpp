#include "models/checkpoint.h"

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/autograd.h"
#include "core/pth.h"
#include "core/safetensors.h"

namespace cage::models {

namespace {

const Tensor& need(const std::map<std::string, Tensor>& m, const std::string& key) {
  auto it = m.find(key);
  CAGE_CHECK(it != m.end(), "cannot infer the MaxViT architecture: the checkpoint has no '", key, "'");
  return it->second;
}

bool is_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CAGE_CHECK(in, "cannot open '", path, "'");
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K';
}

}  // namespace

MaxVitConfig infer_config(const StateDict& state) {
  std::map<std::string, Tensor> m(state.begin(), state.end());
  MaxVitConfig c;
  const Tensor& stem = need(m, "stem.0.0.weight");  // (stem, in, 3, 3)
  c.stem_channels = stem.size(0);
  c.in_channels = stem.size(1);
  c.block_channels.clear();
  c.block_layers.clear();
  for (int64_t s = 0;; ++s) {
    std::string block = "blocks." + std::to_string(s) + ".layers.";
    int64_t layers = 0;
    while (m.count(block + std::to_string(layers) + ".layers.MBconv.layers.conv_c.weight")) ++layers;
    if (layers == 0) break;
    c.block_layers.push_back(layers);
    c.block_channels.push_back(m[block + "0.layers.MBconv.layers.conv_c.weight"].size(0));
  }
  CAGE_CHECK(!c.block_layers.empty(), "cannot infer the MaxViT architecture: no blocks.0.layers.0 keys");
  const std::string l0 = "blocks.0.layers.0.layers.";
  const int64_t C0 = c.block_channels[0];
  c.expansion_ratio = static_cast<double>(need(m, l0 + "MBconv.layers.conv_a.0.weight").size(0)) / C0;
  c.squeeze_ratio = static_cast<double>(need(m, l0 + "MBconv.layers.squeeze_excitation.fc1.weight").size(0)) / C0;
  const Tensor& table = need(m, l0 + "window_attention.attn_layer.1.relative_position_bias_table");
  const int64_t side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(table.size(0)))));
  CAGE_CHECK(side * side == table.size(0) && side % 2 == 1, "relative_position_bias_table ", shape_str(table.shape()),
             " is not ((2P-1)^2, heads)");
  c.partition_size = (side + 1) / 2;
  c.head_dim = C0 / table.size(1);
  c.mlp_ratio = static_cast<double>(need(m, l0 + "window_attention.mlp_layer.1.weight").size(0)) / C0;
  if (m.count("classifier.6.weight")) {
    c.num_classes = m["classifier.6.weight"].size(0);
    c.head_dropout = 0.3;
  } else {
    c.num_classes = need(m, "classifier.5.weight").size(0);
  }
  return c;
}

LoadedWeights load_weights(const std::string& path) {
  LoadedWeights w;
  if (is_zip(path)) {
    w.state = load_pth(path).tensors;
    w.config = infer_config(w.state);
    return w;
  }
  TensorFile f = load_safetensors(path);
  w.state = f.tensors;
  auto it = f.metadata.find("config");
  if (it != f.metadata.end()) {
    w.config = MaxVitConfig::from_json(it->second);
    w.config_from_metadata = true;
  } else {
    w.config = infer_config(w.state);
  }
  return w;
}

void save_checkpoint(const std::string& path, MaxVit& model, const std::map<std::string, std::string>& extra,
                     FloatStorage float_storage) {
  std::map<std::string, std::string> meta = extra;
  meta["config"] = model.config().to_json();
  meta["format"] = "cage-maxvit";
  save_safetensors(path, model.state_dict(), meta, float_storage);
}

std::vector<std::string> load_backbone(MaxVit& model, const StateDict& state) {
  std::map<std::string, const Tensor*> given;
  for (auto& [k, t] : state) given[k] = &t;
  std::vector<std::string> reinit, errors;
  std::set<std::string> known;
  auto entries = model.state_entries();
  for (auto& e : entries) {
    known.insert(e.key);
    Shape expect = nn::torch_shape(e.tensor->shape(), e.layout);
    auto it = given.find(e.key);
    bool head = e.key.rfind("classifier.", 0) == 0;
    if (it == given.end()) {
      (head ? reinit : errors).push_back(e.key + ": not in the checkpoint");
    } else if (it->second->shape() != expect) {
      (head ? reinit : errors)
          .push_back(e.key + ": checkpoint " + shape_str(it->second->shape()) + ", model " + shape_str(expect));
    }
  }
  for (auto& [k, t] : state)
    if (!known.count(k) && k.rfind("classifier.", 0) != 0) errors.push_back(k + ": not in the model");
  if (!errors.empty()) {
    std::ostringstream os;
    os << "checkpoint does not fit the model's backbone (" << errors.size() << " differences):";
    for (auto& e : errors) os << "\n  " << e;
    fail(os.str());
  }
  NoGradGuard no_grad;
  for (auto& e : entries) {
    auto it = given.find(e.key);
    if (it != given.end() && it->second->shape() == nn::torch_shape(e.tensor->shape(), e.layout))
      e.tensor->copy_(nn::from_torch_layout(*it->second, e.layout));
  }
  return reinit;
}

}  // namespace cage::models
