// The CAGE training protocols: what the network outputs, which loss trains it, which number selects the model.
//   discrete  K logits; weighted cross-entropy.
//   combined  K logits + valence + arousal; CE_w + alpha * MSE(V, A) (MSE averaged over B x 2).
//   va        valence + arousal only (the VA head: Dropout(0.3) before the last Linear);
//             beta * MSE(V) + beta * MSE(A) + CCCloss(V) + CCCloss(A).
//   emotic    26 multi-label logits + V, A, D; BCE-with-logits (pos_weight) + alpha * MSE(V, A, D).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/loader.h"

namespace cage::train {

enum class Protocol { discrete, combined, va, emotic };

Protocol parse_protocol(const std::string& name);  // Error listing the valid names
const char* protocol_name(Protocol p);

struct LossOptions {
  Protocol protocol = Protocol::discrete;
  int64_t num_classes = 8;      // K (discrete, combined); 26 for emotic
  double alpha = 5.0;           // combined / emotic regression weight
  double beta = 3.0;            // va MSE weight
  Tensor class_weights;         // (K) f32, or undefined (unweighted)
  Tensor pos_weight;            // (26) f32 for emotic, or undefined
};

int64_t protocol_outputs(const LossOptions& o);  // the head's width

// The training loss of a batch (a scalar with autograd).
Tensor protocol_loss(const LossOptions& o, const Tensor& logits, const data::Batch& batch);

// The paper's class weights (normalised inverse class frequency of AffectNet's training set).
std::vector<float> paper_class_weights(int64_t num_classes);  // 8 or 7; Error otherwise
// Normalised inverse frequencies of the given per-class counts (the same rule, on any dataset).
std::vector<float> inverse_frequency_weights(const std::vector<int64_t>& counts);
// EMOTIC's pos_weight_c = (N - count_c) / count_c over the multi-hot labels.
std::vector<float> emotic_pos_weight(const std::vector<int64_t>& positives, int64_t n);

}  // namespace cage::train
