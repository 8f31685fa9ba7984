#include "models/maxvit.h"

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/autograd.h"
#include "core/thread_pool.h"
#include "kernels/conv.h"
#include "kernels/fused.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm_bf16.h"
#include "models/maxvit_inference.h"

namespace cage::models {

Tensor relative_position_index(int64_t P) {
  const int64_t N = P * P;
  Tensor idx = Tensor::empty({N, N}, DType::i64);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j)
      idx.data<int64_t>()[i * N + j] = (i / P - j / P + P - 1) * (2 * P - 1) + (i % P - j % P + P - 1);
  return idx;
}

namespace {

// BatchNorm followed by GELU: in training on the CPU one fused op (nn::batch_norm2d_gelu, two memory passes each
// way fewer and no stored pre-activation); on GPU devices the composition of the two ops' kernels (the fused op's
// GPU entries are themselves that composition plus a recomputation of the pre-activation in backward: no gain).
Tensor norm_gelu(nn::BatchNorm2d& bn, const Tensor& x) {
  return x.device() == Device::cpu ? bn.forward_gelu(x) : nn::gelu(bn.forward(x));
}

// torchvision's Conv2dNormActivation without activation: children "0" (conv) and "1" (BatchNorm).
struct ConvNorm {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> norm;
};
ConvNorm add_conv_norm(Container& parent, const std::string& name, const MaxVitConfig& c, int64_t in, int64_t out,
                       int64_t kernel, int64_t stride, int64_t groups) {
  auto seq = parent.add(name, std::make_shared<Container>());
  ConvNorm cn;
  cn.conv = seq->add("0", std::make_shared<nn::Conv2d>(in, out, kernel, stride, kernel / 2, groups, false));
  cn.norm = seq->add("1", std::make_shared<nn::BatchNorm2d>(out, c.bn_eps, c.bn_momentum));
  return cn;
}

}  // namespace

class MBConv : public Container {
 public:
  MBConv(const MaxVitConfig& c, int64_t in, int64_t out, int64_t stride, double p_drop) : stride_(stride), p_drop_(p_drop) {
    const int64_t mid = static_cast<int64_t>(out * c.expansion_ratio);
    const int64_t sqz = static_cast<int64_t>(out * c.squeeze_ratio);
    if (stride != 1 || in != out) {
      auto proj = add("proj", std::make_shared<Container>());
      proj_conv_ = proj->add(stride == 2 ? "1" : "0", std::make_shared<nn::Conv2d>(in, out, 1, 1, 0, 1, true));
    }
    auto layers = add("layers", std::make_shared<Container>());
    pre_norm_ = layers->add("pre_norm", std::make_shared<nn::BatchNorm2d>(in, c.bn_eps, c.bn_momentum));
    conv_a_ = add_conv_norm(*layers, "conv_a", c, in, mid, 1, 1, 1);
    conv_b_ = add_conv_norm(*layers, "conv_b", c, mid, mid, 3, stride, mid);
    auto se = layers->add("squeeze_excitation", std::make_shared<Container>());
    fc1_ = se->add("fc1", std::make_shared<nn::Conv2d>(mid, sqz, 1, 1, 0, 1, true));
    fc2_ = se->add("fc2", std::make_shared<nn::Conv2d>(sqz, mid, 1, 1, 0, 1, true));
    conv_c_ = layers->add("conv_c", std::make_shared<nn::Conv2d>(mid, out, 1, 1, 0, 1, true));
  }

  Tensor forward(const Tensor& x, Philox* rng) {
    if (fused_inference(*this, x)) return forward_inference(x.contiguous());
    Tensor res = x;
    if (proj_conv_) {
      if (stride_ == 2) res = nn::avg_pool2d(res, 3, 2, 1, true);
      res = proj_conv_->forward(res);
    }
    Tensor h = pre_norm_->forward(x);
    h = norm_gelu(*conv_a_.norm, conv_a_.conv->forward(h));
    h = depthwise_norm_gelu(h);
    h = conv_c_->forward(squeeze_excitation(h));
    if (is_training() && p_drop_ > 0) {
      CAGE_CHECK(rng, "MaxViT in training mode with stochastic depth needs a random generator (MaxVit::rng)");
      h = nn::stochastic_depth(h, p_drop_, true, *rng);
    }
    return nn::add(res, h);
  }

 private:
  // conv_b: depthwise 3x3, BatchNorm, GELU. On a GPU at inference (eval mode, no autograd) one kernel does all three
  // with the BatchNorm as a per-channel affine of its running statistics.
  Tensor depthwise_norm_gelu(const Tensor& h) {
    if (h.device() == Device::cpu || is_training() || grad_enabled())
      return norm_gelu(*conv_b_.norm, conv_b_.conv->forward(h));
    const nn::BatchNorm2d& bn = *conv_b_.norm;
    const Tensor& w = conv_b_.conv->weight;
    const int64_t C = w.size(3);
    // The BatchNorm's affine, built on the host once and kept on the device until the parameters change.
    std::vector<uintptr_t> key = fold_key({&bn.weight, &bn.bias, &bn.running_mean, &bn.running_var});
    if (key != bn_affine_key_) {
      std::vector<double> scale, shift;
      bn_affine(bn, scale, shift);
      bn_scale_ = Tensor::from_vector(std::vector<float>(scale.begin(), scale.end()), {C}).to(h.device());
      bn_shift_ = Tensor::from_vector(std::vector<float>(shift.begin(), shift.end()), {C}).to(h.device());
      bn_affine_key_ = std::move(key);
    }
    const Tensor x = h.contiguous();
    kernels::Conv2dShape s = kernels::conv2d_shape(x.shape(), w.shape(), stride_, 1, C);
    Tensor y = Tensor::empty({s.N, s.Ho, s.Wo, C}, DType::f32, x.device());
    kernels::depthwise_conv2d_bn_gelu_forward(s, x, w, conv_b_.conv->bias ? *conv_b_.conv->bias : Tensor(),
                                              bn_scale_, bn_shift_, y);
    return y;
  }

  // Squeeze-excitation: a per-channel gate from the globally pooled features, as one fused op forward and one
  // backward (nn::squeeze_excitation) on every device. (The composition of its ops, which the CPU used before,
  // made three full-size temporaries in backward: the two products of mul's gradient and the gradient
  // accumulation of h's two uses.)
  Tensor squeeze_excitation(const Tensor& h) {
    return nn::squeeze_excitation(h, fc1_->weight, *fc1_->bias, fc2_->weight, *fc2_->bias);
  }

  int64_t stride_;
  double p_drop_;
  std::shared_ptr<nn::Conv2d> proj_conv_, fc1_, fc2_, conv_c_;
  std::shared_ptr<nn::BatchNorm2d> pre_norm_;
  ConvNorm conv_a_, conv_b_;

  // pre_norm and conv_a's BatchNorm folded into conv_a (1x1, so the pre-norm's shift folds exactly), conv_b's
  // BatchNorm into the depthwise weights. Rebuilt when parameters may have changed.
  void fold() {
    std::vector<uintptr_t> key = fold_key({&pre_norm_->weight, &pre_norm_->bias, &pre_norm_->running_mean,
                                           &pre_norm_->running_var, &conv_a_.conv->weight, &conv_a_.norm->weight,
                                           &conv_a_.norm->bias, &conv_a_.norm->running_mean, &conv_a_.norm->running_var,
                                           &conv_b_.conv->weight, &conv_b_.norm->weight, &conv_b_.norm->bias,
                                           &conv_b_.norm->running_mean, &conv_b_.norm->running_var});
    if (key == folded_key_) return;
    std::vector<double> s1, t1;
    bn_affine(*pre_norm_, s1, t1);
    Tensor wa = conv_a_.conv->weight.to(DType::f64).contiguous();  // (1, 1, in, mid)
    const int64_t in = wa.size(2), mid = wa.size(3);
    std::vector<double> shift_in(mid, 0.0);  // W^T t1
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < mid; ++o) {
        double& w = wa.data<double>()[i * mid + o];
        shift_in[o] += w * t1[i];
        w *= s1[i];
      }
    std::vector<double> s2, t2;
    bn_affine(*conv_a_.norm, s2, t2);
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < mid; ++o) wa.data<double>()[i * mid + o] *= s2[o];
    Tensor ba = Tensor::empty({mid}, DType::f64);
    for (int64_t o = 0; o < mid; ++o) ba.data<double>()[o] = s2[o] * shift_in[o] + t2[o];
    wa_ = wa.to(DType::f32).contiguous();
    ba_ = ba.to(DType::f32);
    std::tie(wb_, bb_) = fold_following_bn(conv_b_.conv->weight, *conv_b_.norm);
    folded_key_ = std::move(key);
  }

  Tensor forward_inference(const Tensor& x) {
    fold();
    const int64_t N = x.size(0), H = x.size(1), W = x.size(2), in = x.size(3), mid = wa_.size(3);
    Tensor res = x;
    if (proj_conv_) {
      if (stride_ == 2) res = nn::avg_pool2d(res, 3, 2, 1, true).contiguous();
      const int64_t out = proj_conv_->weight.size(3), rows = res.numel() / in;
      Tensor r = Tensor::empty({res.size(0), res.size(1), res.size(2), out}, DType::f32);
      gemm_precision(pk_proj_, proj_conv_->weight, false, rows, out, in, fp(res), in, fp(proj_conv_->weight), out,
                     fp(*proj_conv_->bias), kernels::Act::none, nullptr, 0, fp(r), out);
      res = r;
    }
    Tensor a = Tensor::empty({N, H, W, mid}, DType::f32);
    gemm_precision(pk_a_, wa_, false, N * H * W, mid, in, fp(x), in, fp(wa_), mid, fp(ba_), kernels::Act::gelu, nullptr,
                   0, fp(a), mid);
    const int64_t Ho = (H - 1) / stride_ + 1, Wo = (W - 1) / stride_ + 1, P = Ho * Wo;
    Tensor b = Tensor::empty({N, Ho, Wo, mid}, DType::f32), pooled = Tensor::empty({N, mid}, DType::f32);
    if (inference_precision() == Precision::bf16)  // its output is rounded to bf16 by conv_c's GEMM anyway
      kernels::depthwise_bias_gelu_bf16(N, H, W, mid, 3, 3, stride_, 1, fp(a), fp(wb_), fp(bb_), fp(b), fp(pooled));
    else
      kernels::depthwise_bias_gelu(N, H, W, mid, 3, 3, stride_, 1, fp(a), fp(wb_), fp(bb_), fp(b), fp(pooled));
    a = Tensor();  // back to the pool before the next allocations
    Tensor s = nn::sigmoid(fc2_->forward(nn::silu(fc1_->forward(pooled.reshape({N, 1, 1, mid})))));
    s = s.reshape({N, mid}).contiguous();
    const int64_t out = conv_c_->weight.size(3);
    Tensor y = Tensor::empty({N, Ho, Wo, out}, DType::f32);
    const float* wc = fp(conv_c_->weight);
    if (inference_precision() == Precision::bf16) {
      // bf16: the gate scales the activation as the GEMM rounds it to bf16 (the weights stay packed once).
      const kernels::PackedBf16& wp = packed_bf16(pk_c_, conv_c_->weight, false, mid, out, wc, out);
      for (int64_t n = 0; n < N; ++n)
        kernels::gemm_bf16_epilogue(P, fp(b) + n * P * mid, mid, wp, fp(*conv_c_->bias), kernels::Act::none,
                                    fp(res) + n * P * out, out, fp(y) + n * P * out, out, fp(s) + n * mid);
    } else if (P >= out) {
      // The squeeze-excitation gate scales the GEMM's K dimension: fold it into a per-image weight copy,
      // smaller than the activation here.
      Tensor ws = Tensor::empty({mid, out}, DType::f32);
      for (int64_t n = 0; n < N; ++n) {
        const float* g = fp(s) + n * mid;
        float* w = fp(ws);
        for (int64_t k = 0; k < mid; ++k)
          for (int64_t o = 0; o < out; ++o) w[k * out + o] = wc[k * out + o] * g[k];
        kernels::gemm_epilogue(false, P, out, mid, fp(b) + n * P * mid, mid, w, out, fp(*conv_c_->bias),
                               kernels::Act::none, fp(res) + n * P * out, out, fp(y) + n * P * out, out);
      }
    } else {
      float* bp = fp(b);
      parallel_for(0, N * P, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* g = fp(s) + (r / P) * mid;
          for (int64_t k = 0; k < mid; ++k) bp[r * mid + k] *= g[k];
        }
      });
      kernels::gemm_epilogue(false, N * P, out, mid, bp, mid, wc, out, fp(*conv_c_->bias), kernels::Act::none, fp(res),
                             out, fp(y), out);
    }
    return y;
  }

  std::vector<uintptr_t> folded_key_;
  std::vector<uintptr_t> bn_affine_key_;  // conv_b's BatchNorm as scale/shift on a GPU (depthwise_norm_gelu)
  Tensor bn_scale_, bn_shift_;
  Tensor wa_, ba_, wb_, bb_;
  PackedCache pk_proj_, pk_a_, pk_c_;  // bf16 packings of proj_conv, wa_, conv_c
};

// torchvision's RelativePositionalMultiHeadAttention: parameters first, then the index buffer, then the linears.
class RelPosAttention : public Container {
 public:
  RelPosAttention(int64_t C, int64_t head_dim, int64_t P)
      : table(register_parameter("relative_position_bias_table",
                                 Tensor::zeros({(2 * P - 1) * (2 * P - 1), C / head_dim}))),
        index(register_buffer("relative_position_index", relative_position_index(P))) {
    CAGE_CHECK(C % head_dim == 0, "attention width ", C, " is not a multiple of head_dim ", head_dim);
    to_qkv = add("to_qkv", std::make_shared<nn::Linear>(C, 3 * C, true));
    merge = add("merge", std::make_shared<nn::Linear>(C, C, true));
  }
  Tensor& table;
  Tensor& index;
  std::shared_ptr<nn::Linear> to_qkv, merge;
};

class PartitionAttention : public Container {
 public:
  PartitionAttention(const MaxVitConfig& c, int64_t C, nn::Partition kind, double p_drop) : c_(c), p_drop_(p_drop) {
    auto attn = add("attn_layer", std::make_shared<Container>());
    norm1_ = attn->add("0", std::make_shared<nn::LayerNorm>(C, c.ln_eps));
    attn_ = attn->add("1", std::make_shared<RelPosAttention>(C, c.head_dim, c.partition_size));
    auto mlp = add("mlp_layer", std::make_shared<Container>());
    const int64_t hidden = static_cast<int64_t>(C * c.mlp_ratio);
    norm2_ = mlp->add("0", std::make_shared<nn::LayerNorm>(C, c.ln_eps));
    fc1_ = mlp->add("1", std::make_shared<nn::Linear>(C, hidden, true));
    fc2_ = mlp->add("3", std::make_shared<nn::Linear>(hidden, C, true));
    options_.kind = kind;
    options_.partition = c.partition_size;
    options_.heads = C / c.head_dim;
    options_.scale = 1.0 / std::sqrt(static_cast<double>(C));  // torchvision scales by the layer width, not head_dim
  }

  // LayerNorm of the fast path: in the bf16 path with fp32 row statistics (its output is rounded to bf16 by the
  // GEMM that reads it), else the module's own.
  static Tensor norm_inference(nn::LayerNorm& ln, const Tensor& x) {
    if (inference_precision() != Precision::bf16) return ln.forward(x);
    const int64_t C = x.size(-1);
    Tensor y = Tensor::empty(x.shape(), DType::f32);
    Tensor g = ln.weight.contiguous(), b = ln.bias.contiguous();
    kernels::layer_norm_bf16(x.numel() / C, C, fp(x), fp(g), fp(b), static_cast<float>(ln.eps), fp(y));
    return y;
  }

  Tensor forward(const Tensor& x_in, Philox* rng) {
    if (fused_inference(*this, x_in)) {
      Tensor x = x_in.contiguous();
      Tensor qkv = linear_fused(norm_inference(*norm1_, x), *attn_->to_qkv, pk_[0], kernels::Act::none);
      Tensor att;
      if (inference_precision() == Precision::bf16) {
        kernels::RelposAttentionParams p;
        p.kind = options_.kind == nn::Partition::window ? kernels::AttentionPartition::window
                                                        : kernels::AttentionPartition::grid;
        p.partition = options_.partition;
        p.heads = options_.heads;
        p.scale = options_.scale;
        Tensor table = attn_->table.contiguous();
        kernels::relpos_attention_check(qkv, table, p);
        att = Tensor::empty({qkv.size(0), qkv.size(1), qkv.size(2), qkv.size(3) / 3}, DType::f32);
        kernels::relpos_attention_forward_bf16(qkv.size(0), qkv.size(1), qkv.size(2), qkv.size(3) / 3, fp(qkv),
                                               fp(table), p, fp(att));
      } else {
        att = nn::relpos_attention(qkv, attn_->table, options_).contiguous();
      }
      qkv = Tensor();
      Tensor h = linear_fused(att, *attn_->merge, pk_[1], kernels::Act::none, x);
      att = Tensor();
      Tensor m = linear_fused(norm_inference(*norm2_, h), *fc1_, pk_[2], kernels::Act::gelu);
      return linear_fused(m, *fc2_, pk_[3], kernels::Act::none, h);
    }
    const Tensor& x = x_in;
    Tensor qkv = attn_->to_qkv->forward(norm1_->forward(x));
    Tensor a = attn_->merge->forward(nn::relpos_attention(qkv, attn_->table, options_));
    Tensor h = nn::add(x, regularize(a, c_.attention_dropout, rng));
    Tensor m = fc2_->forward(nn::gelu(fc1_->forward(norm2_->forward(h))));
    return nn::add(h, regularize(m, c_.mlp_dropout, rng));
  }

 private:
  Tensor regularize(Tensor t, double p_dropout, Philox* rng) {
    if (!is_training() || (p_dropout == 0 && p_drop_ == 0)) return t;
    CAGE_CHECK(rng, "MaxViT in training mode with dropout or stochastic depth needs a random generator (MaxVit::rng)");
    t = nn::dropout(t, p_dropout, true, *rng);
    return nn::stochastic_depth(t, p_drop_, true, *rng);
  }

  MaxVitConfig c_;
  double p_drop_;
  nn::AttentionOptions options_;
  std::shared_ptr<nn::LayerNorm> norm1_, norm2_;
  std::shared_ptr<RelPosAttention> attn_;
  std::shared_ptr<nn::Linear> fc1_, fc2_;
  PackedCache pk_[4];  // bf16 packings of to_qkv, merge, fc1, fc2
};

MaxVitLayer::MaxVitLayer(const MaxVitConfig& c, int64_t in, int64_t out, int64_t stride, double p_drop) {
  auto layers = register_module("layers", std::make_shared<Container>());
  mbconv = layers->add("MBconv", std::make_shared<MBConv>(c, in, out, stride, p_drop));
  window = layers->add("window_attention", std::make_shared<PartitionAttention>(c, out, nn::Partition::window, p_drop));
  grid = layers->add("grid_attention", std::make_shared<PartitionAttention>(c, out, nn::Partition::grid, p_drop));
}

Tensor MaxVitLayer::forward(const Tensor& x, Philox* rng, const Observer& observe, const std::string& name) {
  Tensor h = mbconv->forward(x, rng);
  if (observe) observe(name + ".MBconv", h);
  h = window->forward(h, rng);
  if (observe) observe(name + ".window_attention", h);
  h = grid->forward(h, rng);
  if (observe) observe(name + ".grid_attention", h);
  return h;
}

MaxVit::MaxVit(const MaxVitConfig& c) : config_(c) {
  CAGE_CHECK(c.block_channels.size() == c.block_layers.size() && !c.block_channels.empty(),
             "MaxViT config: block_channels and block_layers differ in length");
  stem_ = register_module("stem", std::make_shared<Container>());
  ConvNorm s0 = add_conv_norm(*stem_, "0", c, c.in_channels, c.stem_channels, 3, 2, 1);
  stem_conv0_ = s0.conv;
  stem_bn_ = s0.norm;
  auto s1 = stem_->add("1", std::make_shared<Container>());
  stem_conv1_ = s1->add("0", std::make_shared<nn::Conv2d>(c.stem_channels, c.stem_channels, 3, 1, 1, 1, true));
  stem_pk_ = std::make_shared<PackedCache>();

  int64_t total = 0;
  for (int64_t n : c.block_layers) total += n;
  auto blocks = register_module("blocks", std::make_shared<Container>());
  int64_t in = c.stem_channels, layer_index = 0;
  for (size_t s = 0; s < c.block_channels.size(); ++s) {
    auto block = blocks->add(std::to_string(s), std::make_shared<Container>());
    auto layers = block->add("layers", std::make_shared<Container>());
    stages_.emplace_back();
    for (int64_t l = 0; l < c.block_layers[s]; ++l, ++layer_index) {
      // np.linspace(0, p, total)[layer_index], as torchvision spreads the rates
      double p = total > 1 ? c.stochastic_depth_prob * layer_index / (total - 1) : 0.0;
      int64_t out = c.block_channels[s];
      stages_.back().push_back(
          layers->add(std::to_string(l), std::make_shared<MaxVitLayer>(c, l == 0 ? in : out, out, l == 0 ? 2 : 1, p)));
    }
    in = c.block_channels[s];
  }

  auto head = register_module("classifier", std::make_shared<Container>());
  const int64_t width = c.block_channels.back();
  head_norm_ = head->add("2", std::make_shared<nn::LayerNorm>(width, c.ln_eps));
  head_fc_ = head->add("3", std::make_shared<nn::Linear>(width, width, true));
  head_out_ = head->add(c.head_dropout > 0 ? "6" : "5", std::make_shared<nn::Linear>(width, c.num_classes, false));
}

Tensor MaxVit::forward(const Tensor& x, const Observer& observe) {
  CAGE_CHECK(x.dim() == 4 && x.size(3) == config_.in_channels, "MaxViT expects NHWC input with ", config_.in_channels,
             " channels, got ", describe(x));
  Tensor h;
  if (fused_inference(*this, x)) {
    std::vector<uintptr_t> key = fold_key({&stem_conv0_->weight, &stem_bn_->weight, &stem_bn_->bias,
                                           &stem_bn_->running_mean, &stem_bn_->running_var});
    if (key != stem_key_) {
      std::tie(stem_w_, stem_b_) = fold_following_bn(stem_conv0_->weight, *stem_bn_);
      stem_key_ = std::move(key);
    }
    h = nn::conv2d(x, stem_w_, stem_b_, stem_conv0_->options);
    // bf16 from the second stem convolution on: rounding the input image itself to bf16 (the first convolution's
    // A) doubled the mean logit difference to fp32 on Fashion-MNIST, for under 1% of the FLOPs.
    if (inference_precision() == Precision::bf16) {
      kernels::gelu_bf16(fp(h), fp(h), h.numel());  // rounded to bf16 next: the cheaper GELU is enough
      h = conv2d_bf16(h, stem_conv1_->weight, *stem_conv1_->bias, stem_conv1_->options, *stem_pk_,
                      kernels::Act::none);
    } else {
      kernels::gelu_inplace(fp(h), h.numel());
      h = stem_conv1_->forward(h);
    }
  } else {
    h = norm_gelu(*stem_bn_, stem_conv0_->forward(x));
    h = stem_conv1_->forward(h);
  }
  if (observe) observe("stem", h);
  for (size_t s = 0; s < stages_.size(); ++s) {
    for (size_t l = 0; l < stages_[s].size(); ++l)
      h = stages_[s][l]->forward(h, rng, observe, "stage" + std::to_string(s) + ".layer" + std::to_string(l));
    if (observe) observe("stage" + std::to_string(s), h);
  }
  Tensor pooled = nn::global_avg_pool(h);
  if (observe) observe("pooled", pooled);
  Tensor pre = nn::tanh(head_fc_->forward(head_norm_->forward(pooled)));
  if (observe) observe("pre_logits", pre);
  if (is_training() && config_.head_dropout > 0) {
    CAGE_CHECK(rng, "MaxViT in training mode with head dropout needs a random generator (MaxVit::rng)");
    pre = nn::dropout(pre, config_.head_dropout, true, *rng);
  }
  Tensor logits = head_out_->forward(pre);
  if (observe) observe("logits", logits);
  return logits;
}

void MaxVit::init_weights(uint64_t seed) {
  Philox g(seed, 0x4d61785669540000ull);  // a stream of its own, apart from dropout and data order
  NoGradGuard no_grad;
  for (auto& e : state_entries()) {
    Tensor& t = *e.tensor;
    if (t.dtype() != DType::f32 && t.dtype() != DType::f64) continue;
    const std::string& k = e.key;
    auto ends = [&](const char* suffix) {
      size_t n = std::strlen(suffix);
      return k.size() >= n && k.compare(k.size() - n, n, suffix) == 0;
    };
    Tensor v = Tensor::empty(t.shape(), DType::f64);
    double* p = v.data<double>();
    if (ends("relative_position_bias_table")) {
      for (int64_t i = 0; i < v.numel(); ++i) {  // trunc_normal_(std=0.02, a=-2, b=2): the bounds never bind
        double z = g.normal();
        p[i] = 0.02 * z;
      }
    } else if (ends("running_var") || (t.dim() == 1 && ends(".weight"))) {
      for (int64_t i = 0; i < v.numel(); ++i) p[i] = 1.0;
    } else if (t.dim() > 1) {
      for (int64_t i = 0; i < v.numel(); ++i) p[i] = 0.02 * g.normal();
    } else {
      for (int64_t i = 0; i < v.numel(); ++i) p[i] = 0.0;
    }
    t.copy_(v);
  }
  parameters_changed();
}

}  // namespace cage::models
