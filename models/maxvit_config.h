// MaxViT configuration: the arguments of torchvision's MaxVit constructor plus the BatchNorm momentum
// (torchvision <= 0.17 passed 0.99 in PyTorch's convention, a bug fixed to 0.01 later; default 0.01) and
// the CAGE head variant.
#pragma once
#include <string>
#include <vector>

#include <cstdint>

namespace cage::models {

struct MaxVitConfig {
  int64_t input_size = 224;
  int64_t in_channels = 3;
  int64_t stem_channels = 64;
  std::vector<int64_t> block_channels{64, 128, 256, 512};
  std::vector<int64_t> block_layers{2, 2, 5, 2};
  int64_t head_dim = 32;
  int64_t partition_size = 7;
  double stochastic_depth_prob = 0.2;
  double mlp_ratio = 4;
  double expansion_ratio = 4;
  double squeeze_ratio = 0.25;
  double attention_dropout = 0;
  double mlp_dropout = 0;
  double bn_momentum = 0.01;  // PyTorch convention
  double bn_eps = 1e-3;
  double ln_eps = 1e-5;
  int64_t num_classes = 1000;
  // CAGE's valence-arousal head puts Dropout(head_dropout) between Tanh and the last Linear (classifier.6);
  // 0 gives torchvision's classifier (last Linear at classifier.5).
  double head_dropout = 0;

  std::string to_json() const;
  static MaxVitConfig from_json(const std::string& text);  // Error naming a bad field
  std::string summary() const;  // one line: "stem 64, channels [64, ...], layers [...], ..."
};

MaxVitConfig maxvit_t_config(int64_t num_classes = 1000);
// The Fashion-MNIST MaxViT: torchvision's MaxVit at input 32 (28 padded), stem 32, channels [32, 64, 128], one
// layer per stage, head_dim 16, partition 2 (0.75 M parameters), BatchNorm momentum 0.1.
MaxVitConfig fashion_mnist_config(int64_t in_channels = 1, int64_t num_classes = 10);

}  // namespace cage::models
