// MaxViT (torchvision's MaxVit, exactly) on NHWC tensors, with torchvision's state_dict keys and order.
// Attention layers run on NHWC rows through the fused relative-position attention op: no partition or
// departition copies. The classifier is torchvision's, or CAGE's valence-arousal head (Dropout before the
// last Linear) when config.head_dropout > 0.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/maxvit_config.h"
#include "nn/layers.h"

namespace cage::models {

// A naming level of the module tree (torchvision's nn.Sequential / OrderedDict containers).
class Container : public nn::Module {
 public:
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

// Called with ("stem" | "stage0.layer0.MBconv" | "stage0.layer0.window_attention" | "stage0.layer0.grid_attention" |
// "stage0" .. | "pooled" | "pre_logits" | "logits", NHWC or (B, C) tensor) during forward.
using Observer = std::function<void(const std::string& name, const Tensor& value)>;

class MBConv;
class PartitionAttention;

class MaxVitLayer : public nn::Module {
 public:
  MaxVitLayer(const MaxVitConfig& c, int64_t in, int64_t out, int64_t stride, double p_drop);
  Tensor forward(const Tensor& x, Philox* rng, const Observer& observe, const std::string& name);
  std::shared_ptr<MBConv> mbconv;
  std::shared_ptr<PartitionAttention> window, grid;
};

struct PackedCache;  // a weight packed for the bf16 GEMM (models/maxvit_inference.h)

class MaxVit : public nn::Module {
 public:
  explicit MaxVit(const MaxVitConfig& config);

  // x: (B, H, W, in_channels) NHWC float. Returns (B, num_classes).
  Tensor forward(const Tensor& x, const Observer& observe = nullptr);

  // torchvision's initialisation (normal std 0.02 for conv/linear weights, zero biases, unit norms,
  // truncated normal std 0.02 for the position bias tables) from a seeded Philox stream.
  void init_weights(uint64_t seed);

  const MaxVitConfig& config() const { return config_; }
  // Draws dropout and stochastic-depth masks in training mode; must be set when those are active.
  Philox* rng = nullptr;

 private:
  MaxVitConfig config_;
  std::shared_ptr<Container> stem_;
  std::vector<std::vector<std::shared_ptr<MaxVitLayer>>> stages_;
  std::shared_ptr<nn::BatchNorm2d> stem_bn_;
  std::shared_ptr<nn::Conv2d> stem_conv0_, stem_conv1_;
  std::shared_ptr<nn::LayerNorm> head_norm_;
  std::shared_ptr<nn::Linear> head_fc_, head_out_;
  std::vector<uintptr_t> stem_key_;  // stem conv with its BatchNorm folded in, for the inference fast path
  Tensor stem_w_, stem_b_;
  // bf16 packing of the second stem convolution (models/maxvit.cpp)
  std::shared_ptr<PackedCache> stem_pk_;
};

// The inference fast path (eval mode, no autograd, float32 CPU): BatchNorm folded into the convolutions,
// bias / GELU / residual adds fused into the GEMMs. On by default; CAGE_UNFUSED=1 or set_fused_inference(false)
// selects the plain autograd ops (A/B timing, debugging).
void set_fused_inference(bool on);
bool fused_inference_enabled();

// Arithmetic of the fast path's GEMMs (the 1x1 convolutions, the linears of the attention blocks and the
// second stem convolution: ~90% of the FLOPs): fp32 (default) or bf16, where activations are rounded to bfloat16
// as the GEMM reads them and the weights are packed to bfloat16 once (cached like the folded weights), with fp32
// accumulation (kernels/gemm_bf16.h). bf16 needs a CPU with AVX-512 BF16: set_inference_precision(Precision::bf16)
// throws an Error otherwise. The rest stays fp32: the first stem convolution (rounding the input image costs
// accuracy for <1% of the work), attention, norms, depthwise convolutions, squeeze-excitation, head.
enum class Precision { fp32, bf16 };
void set_inference_precision(Precision p);
Precision inference_precision();
Precision parse_precision(const std::string& name);  // "fp32" or "bf16"

// The relative_position_index buffer torchvision stores: index[i][j] = (yi - yj + P - 1) * (2P - 1) + (xi - xj + P - 1).
Tensor relative_position_index(int64_t partition);

}  // namespace cage::models
