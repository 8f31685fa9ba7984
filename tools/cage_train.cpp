// cage_train: trains a MaxViT with one of the CAGE protocols (discrete, combined, va, emotic) into a run
// directory (config.json, state.safetensors, best.safetensors, metrics.jsonl); --resume continues a run,
// Ctrl-C saves the state and exits cleanly.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>

#include "core/thread_pool.h"
#include "data/open_dataset.h"
#include "data/pipeline.h"
#include "kernels/device.h"
#include "models/maxvit_config.h"
#include "train/trainer.h"

using namespace cage;

namespace {

void on_sigint(int) {
  train::g_stop_requested.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C stops at once
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train a MaxViT with the CAGE protocols (discrete, combined, va, emotic)"};
  train::TrainConfig c;
  std::string run_dir, resume, model = "auto", model_json;
  int threads = 0;
  bool seven = false;
  double bn_momentum = -1, stochastic_depth = -1;
  int64_t input_size = 0;
  std::string lr_s, wd_s, cw_s, epochs_s, train_spec, eval_spec;
  app.add_option("--data", c.data, "training set, e.g. fashion-mnist, affectnet:CSV,IMAGES, emotic:CSV,ROOT (see data/open_dataset.h)");
  app.add_option("--mode", c.mode, "discrete | combined | va | emotic")->capture_default_str();
  app.add_flag("--affectnet7", seven, "AffectNet-7: leave out Contempt (7 classes)");
  app.add_option("--epochs", epochs_s, "epochs (default 20; Fashion-MNIST 8)");
  app.add_option("--batch", c.batch_size, "batch size")->capture_default_str();
  app.add_option("--lr", lr_s, "peak AdamW learning rate (default 5e-5; Fashion-MNIST 2e-3)");
  app.add_option("--weight-decay", wd_s, "AdamW weight decay (default 0.01; Fashion-MNIST 0.05)");
  app.add_option("--warmup", c.warmup_fraction, "share of the steps in linear warmup")->capture_default_str();
  app.add_option("--alpha", c.alpha, "combined/emotic regression weight")->capture_default_str();
  app.add_option("--beta", c.beta, "va MSE weight")->capture_default_str();
  app.add_option("--class-weights", cw_s, "paper | inverse | none (default paper; Fashion-MNIST none)");
  app.add_flag("--balanced", c.balanced, "train on a class-balanced subset (the paper's VA protocol)");
  app.add_option("--holdout", c.holdout, "share of the training set held out for model selection")->capture_default_str();
  app.add_option("--seed", c.seed, "seed of initialisation, data order, augmentation and dropout")->capture_default_str();
  app.add_option("--bn-momentum", bn_momentum, "BatchNorm momentum, PyTorch convention (default 0.01; Fashion-MNIST 0.1)");
  app.add_option("--stochastic-depth", stochastic_depth, "stochastic depth probability of the last layer");
  app.add_option("--model", model, "auto | maxvit_t | fashion")->capture_default_str();
  app.add_option("--model-config", model_json, "a JSON file with MaxViT constructor arguments");
  app.add_option("--input-size", input_size, "image size the model runs at");
  app.add_option("--init", c.init, "start from this checkpoint (.pth from torchvision/CAGE, or .safetensors); a head of another shape is re-initialised");
  app.add_option("--train-pipeline", train_spec, "augmentation spec (default: the paper's; see data/pipeline.h)");
  app.add_option("--eval-pipeline", eval_spec, "held-out transform spec (default: the paper's)");
  app.add_option("--workers", c.workers, "data loading threads")->capture_default_str();
  app.add_option("--threads", threads, "compute threads (default: CAGE_NUM_THREADS or all cores)");
  std::string device = "cpu";
  app.add_option("--device", device, "cpu | emu (the CUDA kernels on the CUDA emulator) | cuda | auto")
      ->capture_default_str();
  std::string precision = "fp32";
  app.add_option("--precision", precision,
                 "fp32 | bf16: the training step's GEMMs (convolutions, linear layers, attention's products) with "
                 "bf16 operands and fp32 accumulation, as PyTorch's autocast, and GELU from polynomials; "
                 "activations, the optimizer and evaluation stay fp32 (CPU with AVX-512 BF16)")
      ->capture_default_str();
  app.add_option("--run-dir", run_dir, "where the run is written (default runs/<mode>)");
  app.add_option("--resume", resume, "continue the run in this directory with its own configuration");
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) set_num_threads(threads);
    std::signal(SIGINT, on_sigint);
    bool resuming = !resume.empty();
    if (resuming) {
      std::ifstream in(resume + "/config.json");
      CAGE_CHECK(in, "--resume ", resume, ": no config.json there");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      c = train::TrainConfig::from_json(text);
      run_dir = resume;
    } else {
      CAGE_CHECK(!c.data.empty(), "--data is required (or --resume RUN_DIR)");
      const bool fashion = c.data.rfind("fashion-mnist", 0) == 0;
      if (model == "auto") model = fashion ? "fashion" : "maxvit_t";
      if (model == "fashion") c.model = models::fashion_mnist_config();
      else if (model == "maxvit_t") c.model = models::maxvit_t_config();
      else fail("--model '", model, "' (auto, maxvit_t or fashion)");
      if (!model_json.empty()) {
        std::ifstream in(model_json);
        CAGE_CHECK(in, "cannot read --model-config ", model_json);
        c.model = models::MaxVitConfig::from_json(std::string((std::istreambuf_iterator<char>(in)), {}));
      }
      if (input_size > 0) c.model.input_size = input_size;
      if (bn_momentum >= 0) c.model.bn_momentum = bn_momentum;
      if (stochastic_depth >= 0) c.model.stochastic_depth_prob = stochastic_depth;
      c.num_classes = fashion ? 10 : c.mode == "emotic" ? 26 : seven ? 7 : 8;
      c.epochs = epochs_s.empty() ? (fashion ? 8 : 20) : std::stoll(epochs_s);
      c.lr = lr_s.empty() ? (fashion ? 2e-3 : 5e-5) : std::stod(lr_s);
      c.weight_decay = wd_s.empty() ? (fashion ? 0.05 : 0.01) : std::stod(wd_s);
      c.class_weights = cw_s.empty() ? (fashion || c.mode == "emotic" || c.mode == "va" ? "none" : "paper") : cw_s;
      if (c.class_weights == "paper" && c.num_classes != 8 && c.num_classes != 7) c.class_weights = "inverse";
      const std::string fashion_eval = "center_crop(32) normalize(0.2860,0.3530)";
      c.train_pipeline = !train_spec.empty() ? train_spec : fashion ? "hflip(0.5) " + fashion_eval : data::kPaperTrainSpec;
      c.eval_pipeline = !eval_spec.empty() ? eval_spec : fashion ? fashion_eval : data::kPaperEvalSpec;
      if (run_dir.empty()) run_dir = "runs/" + (fashion ? std::string("fashion-mnist") : c.mode);
    }
    if (!resuming || app.count("--device")) c.device = kernels::select_device(device);
    std::printf("device: %s\n", kernels::describe_device(c.device).c_str());
    if (!resuming || app.count("--precision")) c.precision = precision;
    if (c.precision != "fp32") std::printf("precision: %s mixed (GEMM and attention operands %s, fp32 accumulation)\n",
                                           c.precision.c_str(), c.precision.c_str());
    const bool fashion = c.data.rfind("fashion-mnist", 0) == 0;
    auto dataset = data::open_dataset(c.data, c.num_classes == 7, static_cast<int>(c.model.in_channels));
    std::printf("data: %s (%lld samples)\n", dataset->name().c_str(), (long long)dataset->size());
    (void)fashion;
    train::Trainer trainer(c, dataset, run_dir, resuming);
    train::TrainResult r = trainer.run();
    if (r.interrupted) return 130;
    std::printf("done: %lld epochs, best held-out score %.4f at epoch %lld; model in %s/best.safetensors\n",
                (long long)r.epochs_done, r.best_score, (long long)r.best_epoch + 1, run_dir.c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cage_train: %s\n", e.what());
    return 1;
  }
}
