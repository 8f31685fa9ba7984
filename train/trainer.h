// The training loop of cage_train: one of the CAGE protocols (train/protocol.h) on a MaxViT, AdamW with cosine
// annealing over the real number of steps, model selection on a held-out part of the training set (never on the
// evaluation set), a run directory that makes every run resumable:
//   config.json      the full configuration (model, protocol, optimiser, data)
//   state.safetensors model + optimiser state + position (epoch, batch, RNG offsets), written atomically after
//                    every epoch and on Ctrl-C; --resume continues the same trajectory from it
//   best.safetensors the model with the best held-out score so far (a plain checkpoint: cage_eval, cage_infer)
//   metrics.jsonl    one JSON line per epoch
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/pipeline.h"
#include "models/maxvit.h"
#include "train/optim.h"
#include "train/protocol.h"

namespace cage::train {

struct TrainConfig {
  std::string mode = "discrete";
  int64_t num_classes = 8;            // K; 26 for emotic
  double alpha = 5.0, beta = 3.0;
  std::string class_weights = "paper";  // paper | inverse | none
  int64_t epochs = 20;
  int64_t batch_size = 128;
  double lr = 5e-5, weight_decay = 0.01;
  double warmup_fraction = 0.0;       // share of the steps spent in linear warmup
  uint64_t seed = 0;
  double holdout = 0.1;               // share of the training set held out for model selection (0: none)
  bool balanced = false;              // train on a class-balanced subset (the smallest class's count per class)
  std::string train_pipeline, eval_pipeline;  // data/pipeline.h specs
  int workers = 2;
  std::string init;                   // a .pth / .safetensors to start from ("" = fresh initialisation)
  std::string data;                   // how the dataset was given (for the record)
  Device device = Device::cpu;        // where the model, batches and optimizer state live (kernels/device.h)
  std::string precision = "fp32";     // fp32 | bf16: the training step's GEMMs in bf16 mixed precision (CPU only)
  models::MaxVitConfig model;

  std::string to_json() const;
  static TrainConfig from_json(const std::string& text);
};

// Set by the SIGINT handler that cage_train installs: the loop saves state.safetensors and returns.
extern std::atomic<bool> g_stop_requested;

struct TrainResult {
  bool interrupted = false;
  int64_t epochs_done = 0;
  double best_score = 0;
  int64_t best_epoch = -1;
};

class Trainer {
 public:
  // `train_set` is split into training and held-out parts by the config's holdout share (stratified, seeded).
  // With resume, run_dir must hold a previous run's config.json and state.safetensors.
  Trainer(TrainConfig config, std::shared_ptr<const data::Dataset> train_set, std::string run_dir, bool resume);
  // max_steps >= 0 stops (as Ctrl-C does: state saved) once that many optimizer steps have run in total.
  TrainResult run(int64_t max_steps = -1);

  models::MaxVit& model() { return *model_; }
  const TrainConfig& config() const { return config_; }

 private:
  void save_state(int64_t epoch, int64_t batch_in_epoch, bool completed_epoch);
  bool load_state();
  double evaluate_holdout(double* loss_out);  // selection score: higher is better

  TrainConfig config_;
  std::string run_dir_;
  std::shared_ptr<const data::Dataset> full_;
  std::shared_ptr<data::SubsetDataset> train_, holdout_;
  std::unique_ptr<data::Pipeline> train_pipeline_, eval_pipeline_;
  std::unique_ptr<models::MaxVit> model_;
  std::unique_ptr<AdamW> optimizer_;
  LossOptions loss_;
  Philox dropout_rng_;
  int64_t start_epoch_ = 0, start_batch_ = 0, global_step_ = 0;
  double best_score_ = -1e300;
  int64_t best_epoch_ = -1;
};

}  // namespace cage::train
