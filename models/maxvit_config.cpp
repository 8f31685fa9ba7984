#include "models/maxvit_config.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace cage::models {

MaxVitConfig maxvit_t_config(int64_t num_classes) {
  MaxVitConfig c;
  c.num_classes = num_classes;
  return c;
}

MaxVitConfig fashion_mnist_config(int64_t in_channels, int64_t num_classes) {
  MaxVitConfig c;
  c.input_size = 32;
  c.in_channels = in_channels;
  c.stem_channels = 32;
  c.block_channels = {32, 64, 128};
  c.block_layers = {1, 1, 1};
  c.head_dim = 16;
  c.partition_size = 2;
  c.stochastic_depth_prob = 0.0;
  c.bn_momentum = 0.1;
  c.num_classes = num_classes;
  return c;
}

std::string MaxVitConfig::to_json() const {
  nlohmann::ordered_json j = {{"input_size", input_size},
                              {"in_channels", in_channels},
                              {"stem_channels", stem_channels},
                              {"block_channels", block_channels},
                              {"block_layers", block_layers},
                              {"head_dim", head_dim},
                              {"partition_size", partition_size},
                              {"stochastic_depth_prob", stochastic_depth_prob},
                              {"mlp_ratio", mlp_ratio},
                              {"expansion_ratio", expansion_ratio},
                              {"squeeze_ratio", squeeze_ratio},
                              {"attention_dropout", attention_dropout},
                              {"mlp_dropout", mlp_dropout},
                              {"bn_momentum", bn_momentum},
                              {"bn_eps", bn_eps},
                              {"ln_eps", ln_eps},
                              {"num_classes", num_classes},
                              {"head_dropout", head_dropout}};
  return j.dump();
}

MaxVitConfig MaxVitConfig::from_json(const std::string& text) {
  MaxVitConfig c;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail("model config is not valid JSON: ", e.what());
  }
  auto get = [&](const char* key, auto& field) {
    if (!j.contains(key)) return;
    try {
      j.at(key).get_to(field);
    } catch (const std::exception& e) {
      fail("model config field '", key, "': ", e.what());
    }
  };
  if (j.contains("input_size") && j["input_size"].is_array()) {  // torchvision takes (H, W); square only here
    auto& v = j["input_size"];
    CAGE_CHECK(v.size() == 2 && v[0] == v[1], "model config: input_size ", v.dump(), " (square inputs only)");
    c.input_size = v[0].get<int64_t>();
  } else {
    get("input_size", c.input_size);
  }
  get("in_channels", c.in_channels);
  get("stem_channels", c.stem_channels);
  get("block_channels", c.block_channels);
  get("block_layers", c.block_layers);
  get("head_dim", c.head_dim);
  get("partition_size", c.partition_size);
  get("stochastic_depth_prob", c.stochastic_depth_prob);
  get("mlp_ratio", c.mlp_ratio);
  get("expansion_ratio", c.expansion_ratio);
  get("squeeze_ratio", c.squeeze_ratio);
  get("attention_dropout", c.attention_dropout);
  get("mlp_dropout", c.mlp_dropout);
  get("bn_momentum", c.bn_momentum);
  get("bn_eps", c.bn_eps);
  get("ln_eps", c.ln_eps);
  get("num_classes", c.num_classes);
  get("head_dropout", c.head_dropout);
  return c;
}

std::string MaxVitConfig::summary() const {
  auto list = [](const std::vector<int64_t>& v) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    os << ']';
    return os.str();
  };
  std::ostringstream os;
  os << "input " << input_size << ", stem " << stem_channels << ", channels " << list(block_channels) << ", layers "
     << list(block_layers) << ", head_dim " << head_dim << ", partition " << partition_size << ", mlp_ratio "
     << mlp_ratio << ", expansion " << expansion_ratio << ", squeeze " << squeeze_ratio << ", outputs " << num_classes;
  if (head_dropout > 0) os << " (head dropout " << head_dropout << ")";
  return os.str();
}

}  // namespace cage::models
