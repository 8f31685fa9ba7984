// MaxViT checkpoints: torchvision / CAGE .pth files written by torch.save and our safetensors files
// (torchvision key names and layouts, the model config as JSON in __metadata__["config"]).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "models/maxvit.h"

namespace cage::models {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

// The architecture read off a state_dict's shapes: stem width from stem.0.0.weight, stage widths and depths
// from the blocks.{s}.layers.{l} keys, heads and partition size from the position bias tables, expansion
// from conv_a, squeeze width from fc1, MLP ratio from mlp_layer.1, outputs from the last classifier Linear
// (classifier.6 means CAGE's valence-arousal head with dropout 0.3). Input size and stochastic depth
// are not in the shapes: they keep the maxvit_t defaults (224, 0.2). Error naming the missing key.
MaxVitConfig infer_config(const StateDict& state);

struct LoadedWeights {
  MaxVitConfig config;
  StateDict state;     // PyTorch layouts
  bool config_from_metadata = false;
};
// .pth (torch.save) or .safetensors, by content; the config comes from the metadata when present.
LoadedWeights load_weights(const std::string& path);

void save_checkpoint(const std::string& path, MaxVit& model, const std::map<std::string, std::string>& extra = {},
                     FloatStorage float_storage = FloatStorage::f32);

// For a run initialised from an ImageNet (or other) checkpoint: loads every tensor whose key and shape
// match; classifier tensors that are missing or differ in shape keep the model's fresh initialisation.
// Returns one line per re-initialised tensor ("classifier.5.weight: checkpoint [1000, 512], model [10, 512]").
// Any other difference is an Error listing all of them.
std::vector<std::string> load_backbone(MaxVit& model, const StateDict& state);

}  // namespace cage::models
