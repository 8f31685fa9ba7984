#include "train/protocol.h"

#include "nn/functional.h"

namespace cage::train {

Protocol parse_protocol(const std::string& name) {
  if (name == "discrete") return Protocol::discrete;
  if (name == "combined") return Protocol::combined;
  if (name == "va") return Protocol::va;
  if (name == "emotic") return Protocol::emotic;
  fail("unknown mode '", name, "' (expected discrete, combined, va or emotic)");
}

const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::discrete: return "discrete";
    case Protocol::combined: return "combined";
    case Protocol::va: return "va";
    case Protocol::emotic: return "emotic";
  }
  return "?";
}

int64_t protocol_outputs(const LossOptions& o) {
  switch (o.protocol) {
    case Protocol::discrete: return o.num_classes;
    case Protocol::combined: return o.num_classes + 2;
    case Protocol::va: return 2;
    case Protocol::emotic: return o.num_classes + 3;
  }
  return 0;
}

Tensor protocol_loss(const LossOptions& o, const Tensor& logits, const data::Batch& batch) {
  const int64_t K = o.num_classes;
  CAGE_CHECK(logits.size(1) == protocol_outputs(o), "the model has ", logits.size(1), " outputs, mode '",
             protocol_name(o.protocol), "' needs ", protocol_outputs(o));
  auto need = [&](const Tensor& t, const char* what) {
    CAGE_CHECK(t.defined(), "mode '", protocol_name(o.protocol), "' needs ", what, " but the dataset has none");
  };
  switch (o.protocol) {
    case Protocol::discrete:
      need(batch.labels, "class labels");
      return nn::cross_entropy(logits, batch.labels, o.class_weights);
    case Protocol::combined: {
      need(batch.labels, "class labels");
      need(batch.targets, "valence/arousal targets");
      Tensor ce = nn::cross_entropy(logits.slice(1, 0, K), batch.labels, o.class_weights);
      Tensor mse = nn::mse_loss(logits.slice(1, K, K + 2), batch.targets.slice(1, 0, 2));
      return nn::add(ce, nn::scale(mse, o.alpha));
    }
    case Protocol::va: {
      need(batch.targets, "valence/arousal targets");
      Tensor loss;
      for (int64_t d = 0; d < 2; ++d) {
        Tensor p = logits.slice(1, d, d + 1).reshape({-1}), t = batch.targets.slice(1, d, d + 1).reshape({-1});
        Tensor term = nn::add(nn::scale(nn::mse_loss(p, t), o.beta), nn::ccc_loss(p, t));
        loss = loss.defined() ? nn::add(loss, term) : term;
      }
      return loss;
    }
    case Protocol::emotic: {
      need(batch.multi_label, "multi-label categories");
      need(batch.targets, "valence/arousal/dominance targets");
      Tensor bce = nn::bce_with_logits(logits.slice(1, 0, K), batch.multi_label, o.pos_weight);
      Tensor mse = nn::mse_loss(logits.slice(1, K, K + 3), batch.targets.slice(1, 0, 3));
      return nn::add(bce, nn::scale(mse, o.alpha));
    }
  }
  fail("unknown protocol");
}

std::vector<float> paper_class_weights(int64_t num_classes) {
  if (num_classes == 8) return {0.015605f, 0.008709f, 0.046078f, 0.083078f, 0.185434f, 0.305953f, 0.046934f, 0.308210f};
  if (num_classes == 7) return {0.022600f, 0.012589f, 0.066464f, 0.120094f, 0.265305f, 0.444943f, 0.068006f};
  fail("the paper's class weights exist for 8 and 7 classes (AffectNet-8/-7), not ", num_classes);
}

std::vector<float> inverse_frequency_weights(const std::vector<int64_t>& counts) {
  double total = 0;
  std::vector<double> inv(counts.size());
  for (size_t c = 0; c < counts.size(); ++c) {
    CAGE_CHECK(counts[c] > 0, "class ", c, " has no training samples: inverse-frequency weights are undefined");
    inv[c] = 1.0 / static_cast<double>(counts[c]);
    total += inv[c];
  }
  std::vector<float> w(counts.size());
  for (size_t c = 0; c < counts.size(); ++c) w[c] = static_cast<float>(inv[c] / total);
  return w;
}

std::vector<float> emotic_pos_weight(const std::vector<int64_t>& positives, int64_t n) {
  std::vector<float> w(positives.size());
  for (size_t c = 0; c < positives.size(); ++c)
    w[c] = positives[c] > 0 ? static_cast<float>(static_cast<double>(n - positives[c]) / positives[c]) : 1.0f;
  return w;
}

}  // namespace cage::train
