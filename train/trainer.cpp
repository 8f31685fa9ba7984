#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "core/safetensors.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "models/checkpoint.h"
#include "nn/functional.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/schedule.h"

namespace cage::train {

std::atomic<bool> g_stop_requested{false};

namespace fs = std::filesystem;

std::string TrainConfig::to_json() const {
  nlohmann::ordered_json j = {{"mode", mode},
                              {"num_classes", num_classes},
                              {"alpha", alpha},
                              {"beta", beta},
                              {"class_weights", class_weights},
                              {"epochs", epochs},
                              {"batch_size", batch_size},
                              {"lr", lr},
                              {"weight_decay", weight_decay},
                              {"warmup_fraction", warmup_fraction},
                              {"seed", seed},
                              {"holdout", holdout},
                              {"balanced", balanced},
                              {"train_pipeline", train_pipeline},
                              {"eval_pipeline", eval_pipeline},
                              {"workers", workers},
                              {"init", init},
                              {"data", data},
                              {"device", device_name(device)},
                              {"precision", precision},
                              {"model", nlohmann::ordered_json::parse(model.to_json())}};
  return j.dump(2);
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail("training config is not valid JSON: ", e.what());
  }
  TrainConfig c;
  try {
    c.mode = j.at("mode");
    c.num_classes = j.at("num_classes");
    c.alpha = j.at("alpha");
    c.beta = j.at("beta");
    c.class_weights = j.at("class_weights");
    c.epochs = j.at("epochs");
    c.batch_size = j.at("batch_size");
    c.lr = j.at("lr");
    c.weight_decay = j.at("weight_decay");
    c.warmup_fraction = j.at("warmup_fraction");
    c.seed = j.at("seed");
    c.holdout = j.at("holdout");
    c.balanced = j.value("balanced", false);
    c.train_pipeline = j.at("train_pipeline");
    c.eval_pipeline = j.at("eval_pipeline");
    c.workers = j.at("workers");
    c.init = j.at("init");
    c.data = j.at("data");
    c.device = parse_device(j.value("device", std::string("cpu")));
    c.precision = j.value("precision", std::string("fp32"));
    c.model = models::MaxVitConfig::from_json(j.at("model").dump());
  } catch (const nlohmann::json::exception& e) {
    fail("training config: ", e.what());
  }
  return c;
}

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  CAGE_CHECK(in, "cannot read ", p.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file_atomic(const fs::path& p, const std::string& text) {
  fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp);
    CAGE_CHECK(out, "cannot write ", tmp.string());
    out << text;
    CAGE_CHECK(out, "error writing ", tmp.string());
  }
  fs::rename(tmp, p);
}

// Rows of `scores` argmax -> predicted classes.
std::vector<int64_t> argmax_rows(const Tensor& scores) {
  Tensor s = scores.contiguous();
  const int64_t n = s.size(0), k = s.size(1);
  std::vector<int64_t> out(n);
  const float* p = s.data<float>();
  for (int64_t i = 0; i < n; ++i) out[i] = std::max_element(p + i * k, p + i * k + k) - (p + i * k);
  return out;
}

// A one-line progress display: rewritten in place on a terminal, printed every `every` steps otherwise.
class Progress {
 public:
  Progress(int64_t total, int64_t batch, int64_t first) : total_(total), batch_(batch), first_(first), tty_(isatty(fileno(stdout))) {
    start_ = std::chrono::steady_clock::now();
  }
  // ETA covers the whole run: the rest of this epoch and the epochs after it.
  void update(int64_t epoch, int64_t epochs, int64_t step, double loss, double lr) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double ips = (step + 1 - first_) * batch_ / std::max(secs, 1e-9);
    double eta = ((total_ - step - 1) + (epochs - epoch - 1) * total_) * batch_ / std::max(ips, 1e-9);
    if (tty_) {
      const int width = 24;
      int filled = static_cast<int>(width * (step + 1) / std::max<int64_t>(total_, 1));
      std::printf("\repoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  lr %.2e  %.0f img/s  ETA %s   ", (long long)epoch + 1,
                  (long long)epochs, std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                  (long long)step + 1, (long long)total_, loss, lr, ips, clock(eta).c_str());
      std::fflush(stdout);
    } else if ((step + 1) % 50 == 0 || step + 1 == total_) {
      std::printf("epoch %lld/%lld step %lld/%lld  loss %.4f  lr %.2e  %.0f img/s  ETA %s\n", (long long)epoch + 1,
                  (long long)epochs, (long long)step + 1, (long long)total_, loss, lr, ips, clock(eta).c_str());
      std::fflush(stdout);
    }
  }
  void done() {
    if (tty_) std::printf("\n");
  }
  double images_per_second(int64_t steps) const {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return steps * batch_ / std::max(secs, 1e-9);
  }

 private:
  static std::string clock(double s) {
    char buf[32];
    int t = static_cast<int>(s + 0.5);
    std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
    return buf;
  }
  int64_t total_, batch_, first_;  // first_: the step the epoch (re)started at
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

Trainer::Trainer(TrainConfig config, std::shared_ptr<const data::Dataset> train_set, std::string run_dir, bool resume)
    : config_(std::move(config)), run_dir_(std::move(run_dir)), full_(std::move(train_set)), dropout_rng_(0, 2) {
  fs::create_directories(run_dir_);
  if (resume) {
    TrainConfig saved = TrainConfig::from_json(read_file(fs::path(run_dir_) / "config.json"));
    // A resumed run continues with its own configuration; only where it runs and the GEMM precision may change.
    saved.device = config_.device;
    saved.precision = config_.precision;
    config_ = saved;
  } else {
    write_file_atomic(fs::path(run_dir_) / "config.json", config_.to_json());
  }
  CAGE_CHECK(config_.precision == "fp32" || config_.precision == "bf16", "precision '", config_.precision,
             "' (fp32 or bf16)");
  if (config_.precision == "bf16") {
    CAGE_CHECK(config_.device == Device::cpu, "bf16 mixed precision is implemented for the CPU only (device ",
               device_name(config_.device), "); use fp32");
    CAGE_CHECK(kernels::bf16_gemm_supported(), "bf16 mixed precision needs a CPU with AVX-512 BF16 (avx512_bf16); ",
               "this one has none: use fp32");
  }
  dropout_rng_ = Philox(config_.seed, 2);
  loss_.protocol = parse_protocol(config_.mode);
  loss_.num_classes = config_.num_classes;
  loss_.alpha = config_.alpha;
  loss_.beta = config_.beta;
  config_.model.num_classes = protocol_outputs(loss_);
  if (loss_.protocol == Protocol::va && config_.model.head_dropout == 0) config_.model.head_dropout = 0.3;

  // The VA protocol trains on a class-balanced subset (the paper: min-class-count images per class).
  if (config_.balanced) {
    CAGE_CHECK(full_->num_classes() > 0, "--balanced needs a dataset with classes");
    full_ = std::make_shared<data::SubsetDataset>(full_, data::balanced_subset_indices(*full_, 0, config_.seed));
  }
  // Model selection never looks at the evaluation set: a stratified share of the training set is held out.
  if (config_.holdout > 0 && full_->num_classes() > 0) {
    data::Split split = data::stratified_split(*full_, config_.holdout, config_.seed);
    train_ = std::make_shared<data::SubsetDataset>(full_, split.train);
    holdout_ = std::make_shared<data::SubsetDataset>(full_, split.holdout);
  } else {
    std::vector<int64_t> all(full_->size());
    for (int64_t i = 0; i < full_->size(); ++i) all[i] = i;
    train_ = std::make_shared<data::SubsetDataset>(full_, all);
  }

  if (loss_.protocol == Protocol::discrete || loss_.protocol == Protocol::combined) {
    std::vector<float> w;
    if (config_.class_weights == "paper") w = paper_class_weights(config_.num_classes);
    else if (config_.class_weights == "inverse") w = inverse_frequency_weights(data::class_counts(*train_));
    else CAGE_CHECK(config_.class_weights == "none", "class weights '", config_.class_weights, "' (paper, inverse or none)");
    if (!w.empty()) loss_.class_weights = Tensor::from_vector(w, {static_cast<int64_t>(w.size())}).to(config_.device);
  }
  if (loss_.protocol == Protocol::emotic) {
    std::vector<int64_t> positives(config_.num_classes, 0);
    for (int64_t i = 0; i < train_->size(); ++i) {
      std::vector<float> m = train_->multi_label(i);  // from the index: no image is decoded
      for (int64_t c = 0; c < config_.num_classes && c < static_cast<int64_t>(m.size()); ++c) positives[c] += m[c] > 0.5f;
    }
    std::vector<float> pw = emotic_pos_weight(positives, train_->size());
    loss_.pos_weight = Tensor::from_vector(pw, {static_cast<int64_t>(pw.size())}).to(config_.device);
  }

  train_pipeline_ = std::make_unique<data::Pipeline>(config_.train_pipeline);
  eval_pipeline_ = std::make_unique<data::Pipeline>(config_.eval_pipeline);
  model_ = std::make_unique<models::MaxVit>(config_.model);
  model_->init_weights(config_.seed);
  model_->rng = &dropout_rng_;
  if (!config_.init.empty() && !resume) {
    models::LoadedWeights w = models::load_weights(config_.init);
    for (const std::string& line : models::load_backbone(*model_, w.state))
      std::printf("init: re-initialised %s\n", line.c_str());
    std::printf("init: backbone from %s\n", config_.init.c_str());
  }
  model_->to(config_.device);
  AdamWOptions o;
  o.lr = config_.lr;
  o.weight_decay = config_.weight_decay;
  optimizer_ = std::make_unique<AdamW>(model_->parameters(), o);
  if (resume) CAGE_CHECK(load_state(), run_dir_, ": no state.safetensors to resume from");
}

void Trainer::save_state(int64_t epoch, int64_t batch_in_epoch, bool completed_epoch) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [k, t] : model_->state_dict()) tensors.emplace_back("model." + k, t);
  OptimizerState os = optimizer_->export_state();
  for (auto& [k, t] : os.tensors) tensors.emplace_back("optim." + k, t);
  nlohmann::json pos = {{"epoch", completed_epoch ? epoch + 1 : epoch},
                        {"batch", completed_epoch ? 0 : batch_in_epoch},
                        {"global_step", global_step_},
                        {"optimizer_step", os.step},
                        {"dropout_rng_offset", dropout_rng_.offset()},
                        {"best_score", best_score_},
                        {"best_epoch", best_epoch_}};
  save_safetensors((fs::path(run_dir_) / "state.safetensors").string(), tensors,
                   {{"position", pos.dump()}, {"config", model_->config().to_json()}});
}

bool Trainer::load_state() {
  fs::path p = fs::path(run_dir_) / "state.safetensors";
  if (!fs::exists(p)) return false;
  TensorFile f = load_safetensors(p.string());
  std::vector<std::pair<std::string, Tensor>> model_state;
  OptimizerState os;
  for (auto& [k, t] : f.tensors) {
    if (k.rfind("model.", 0) == 0) model_state.emplace_back(k.substr(6), t);
    else if (k.rfind("optim.", 0) == 0) os.tensors.emplace_back(k.substr(6), t);
  }
  model_->load_state_dict(model_state);
  nlohmann::json pos = nlohmann::json::parse(f.meta("position"));
  os.step = pos.at("optimizer_step");
  optimizer_->import_state(os);
  start_epoch_ = pos.at("epoch");
  start_batch_ = pos.at("batch");
  global_step_ = pos.at("global_step");
  dropout_rng_.set_offset(pos.at("dropout_rng_offset"));
  best_score_ = pos.at("best_score");
  best_epoch_ = pos.at("best_epoch");
  std::printf("resume: %s at epoch %lld, batch %lld (step %lld)\n", run_dir_.c_str(), (long long)start_epoch_ + 1,
              (long long)start_batch_, (long long)global_step_);
  return true;
}

double Trainer::evaluate_holdout(double* loss_out) {
  data::LoaderOptions lo;
  lo.batch_size = config_.batch_size;
  lo.shuffle = false;
  lo.workers = config_.workers;
  lo.seed = config_.seed;
  data::Loader loader(*holdout_, eval_pipeline_.get(), lo);
  model_->eval();
  NoGradGuard no_grad;
  std::vector<int64_t> pred, truth;
  std::vector<double> pv, tv, pa, ta;
  double loss_sum = 0;
  int64_t n = 0;
  loader.begin_epoch(0);
  data::Batch b;
  while (loader.next(b)) {
    to_device(b, config_.device);
    Tensor logits = model_->forward(b.images);
    loss_sum += protocol_loss(loss_, logits, b).item() * b.size();
    n += b.size();
    if (b.labels.defined() && loss_.protocol != Protocol::emotic && loss_.protocol != Protocol::va) {
      std::vector<int64_t> p = argmax_rows(logits.slice(1, 0, loss_.num_classes).to(Device::cpu));
      pred.insert(pred.end(), p.begin(), p.end());
      std::vector<int64_t> t = b.labels.to_vector<int64_t>();
      truth.insert(truth.end(), t.begin(), t.end());
    }
    if (loss_.protocol == Protocol::va || loss_.protocol == Protocol::combined) {
      int64_t off = loss_.protocol == Protocol::va ? 0 : loss_.num_classes;
      Tensor l = logits.to(Device::cpu).contiguous(), t = b.targets.to(Device::cpu).contiguous();
      for (int64_t i = 0; i < b.size(); ++i) {
        pv.push_back(l.data<float>()[i * l.size(1) + off]);
        pa.push_back(l.data<float>()[i * l.size(1) + off + 1]);
        tv.push_back(t.data<float>()[i * t.size(1)]);
        ta.push_back(t.data<float>()[i * t.size(1) + 1]);
      }
    }
  }
  model_->train();
  *loss_out = n ? loss_sum / n : 0;
  if (loss_.protocol == Protocol::va) return 0.5 * (ccc(tv, pv) + ccc(ta, pa));  // mean CCC (train/metrics.h)
  if (loss_.protocol == Protocol::emotic) return -*loss_out;
  int64_t correct = 0;
  for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
  return pred.empty() ? 0 : static_cast<double>(correct) / pred.size();  // accuracy
}

TrainResult Trainer::run(int64_t max_steps) {
  data::LoaderOptions lo;
  lo.batch_size = config_.batch_size;
  lo.shuffle = true;
  lo.drop_last = true;
  lo.seed = config_.seed;
  lo.workers = config_.workers;
  data::Loader loader(*train_, train_pipeline_.get(), lo);
  const int64_t per_epoch = loader.nominal_batches();
  CAGE_CHECK(per_epoch > 0, "the training set (", train_->size(), " samples) is smaller than one batch of ",
             config_.batch_size);
  CosineScheduleOptions so;
  so.base_lr = config_.lr;
  so.total_steps = per_epoch * config_.epochs;
  so.warmup_steps = static_cast<int64_t>(config_.warmup_fraction * so.total_steps);
  CosineSchedule schedule(so);
  std::printf("training: mode %s, %lld train / %lld held-out samples, %lld steps per epoch, %lld epochs\n",
              protocol_name(loss_.protocol), (long long)train_->size(), (long long)(holdout_ ? holdout_->size() : 0),
              (long long)per_epoch, (long long)config_.epochs);
  std::printf("model: %s, %lld parameters\n", model_->config().summary().c_str(), (long long)model_->parameter_count());

  TrainResult result;
  model_->train();
  for (int64_t epoch = start_epoch_; epoch < config_.epochs; ++epoch) {
    loader.begin_epoch(epoch);
    data::Batch b;
    for (int64_t skip = 0; skip < start_batch_ && loader.next(b); ++skip) {
    }  // resuming mid-epoch: the epoch's order is fixed, so the same batches come next
    int64_t step = start_batch_;
    start_batch_ = 0;
    Progress progress(per_epoch, config_.batch_size, step);
    double loss_sum = 0;
    int64_t loss_n = 0;
    while (loader.next(b)) {
      to_device(b, config_.device);
      schedule.apply(*optimizer_, global_step_);
      Tensor loss;
      {  // forward and backward GEMMs in the configured precision; evaluation and the optimizer stay fp32
        kernels::GemmPrecisionScope precision(config_.precision == "bf16" ? kernels::GemmPrecision::bf16
                                                                          : kernels::GemmPrecision::fp32);
        loss = protocol_loss(loss_, model_->forward(b.images), b);
        optimizer_->zero_grad();
        loss.backward();
      }
      optimizer_->step();
      double l = loss.item();
      CAGE_CHECK(std::isfinite(l), "the loss became ", l, " at epoch ", epoch + 1, " step ", step + 1,
                 ": lower the learning rate");
      loss_sum += l;
      ++loss_n;
      ++global_step_;
      progress.update(epoch, config_.epochs, step, loss_sum / loss_n, optimizer_->lr());
      ++step;
      if (g_stop_requested.load() || (max_steps >= 0 && global_step_ >= max_steps)) {
        progress.done();
        save_state(epoch, step, false);
        std::printf("interrupted: state saved to %s/state.safetensors (epoch %lld, batch %lld); continue with --resume\n",
                    run_dir_.c_str(), (long long)epoch + 1, (long long)step);
        result.interrupted = true;
        result.epochs_done = epoch;
        return result;
      }
    }
    progress.done();
    double ips = progress.images_per_second(loss_n);
    double holdout_loss = 0, score = 0;
    if (holdout_) {
      score = evaluate_holdout(&holdout_loss);
      if (score > best_score_) {
        best_score_ = score;
        best_epoch_ = epoch;
        models::save_checkpoint((fs::path(run_dir_) / "best.safetensors").string(), *model_,
                                {{"epoch", std::to_string(epoch + 1)}, {"holdout_score", std::to_string(score)}});
      }
    } else {
      models::save_checkpoint((fs::path(run_dir_) / "best.safetensors").string(), *model_,
                              {{"epoch", std::to_string(epoch + 1)}});
      best_epoch_ = epoch;
    }
    data::EpochStats st = loader.stats();
    nlohmann::ordered_json line = {{"epoch", epoch + 1},
                                   {"train_loss", loss_n ? loss_sum / loss_n : 0.0},
                                   {"holdout_loss", holdout_loss},
                                   {"holdout_score", score},
                                   {"lr", optimizer_->lr()},
                                   {"images_per_second", ips},
                                   {"skipped", st.skipped.total()},
                                   {"best_epoch", best_epoch_ + 1}};
    std::ofstream(fs::path(run_dir_) / "metrics.jsonl", std::ios::app) << line.dump() << "\n";
    std::printf("epoch %lld: train loss %.4f, held-out loss %.4f, held-out %s %.4f%s\n", (long long)epoch + 1,
                loss_n ? loss_sum / loss_n : 0.0, holdout_loss,
                loss_.protocol == Protocol::va ? "mean CCC" : loss_.protocol == Protocol::emotic ? "-loss" : "accuracy",
                score, best_epoch_ == epoch ? " (best)" : "");
    std::fflush(stdout);
    save_state(epoch, 0, true);
    result.epochs_done = epoch + 1;
  }
  result.best_score = best_score_;
  result.best_epoch = best_epoch_;
  return result;
}

}  // namespace cage::train
