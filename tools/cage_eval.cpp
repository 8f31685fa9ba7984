// cage_eval: evaluates a checkpoint (ours, or one written by the paper's PyTorch code: a torchvision state_dict
// with a 10-, 9- or 2-output head) on a dataset with every metric of the CAGE protocol; prints a table, and
// optionally writes metrics JSON and a report with pictures (confusion matrix, circumplex, within-threshold curve).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "core/autograd.h"
#include "core/thread_pool.h"
#include "data/idx.h"
#include "data/loader.h"
#include "data/open_dataset.h"
#include "data/pipeline.h"
#include "kernels/device.h"
#include "models/checkpoint.h"
#include "train/metrics.h"
#include "train/report.h"

using namespace cage;

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a MaxViT checkpoint with the CAGE metrics"};
  std::string weights, data_spec, pipeline_spec, json_path, report_dir, title;
  int threads = 0, workers = 2;
  int64_t batch = 64, input_size = 0;
  bool seven = false;
  app.add_option("--weights", weights, "checkpoint: .safetensors (ours) or .pth (torchvision / the paper's code)")
      ->required()->check(CLI::ExistingFile);
  app.add_option("--data", data_spec, "evaluation set, e.g. fashion-mnist@t10k, affectnet:CSV,IMAGES, emotic:CSV,ROOT")
      ->required();
  app.add_flag("--affectnet7", seven, "AffectNet-7 (Contempt left out)");
  app.add_option("--pipeline", pipeline_spec, "transform spec (default: the paper's eval transform; Fashion-MNIST: pad + normalize)");
  app.add_option("--json", json_path, "write the metrics as JSON here");
  app.add_option("--report", report_dir, "write report.html, metrics and pictures into this directory");
  app.add_option("--title", title, "report title");
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--input-size", input_size, "image size (default: the checkpoint's config, else 224)");
  app.add_option("--workers", workers, "data loading threads")->capture_default_str();
  app.add_option("--threads", threads, "compute threads (default: CAGE_NUM_THREADS or all cores)");
  std::string device = "cpu", precision = "fp32", logits_path;
  app.add_option("--device", device, "cpu | emu (the CUDA kernels on the CUDA emulator) | cuda | auto")
      ->capture_default_str();
  app.add_option("--precision", precision,
                 "CPU inference GEMMs in fp32 or bf16 (bf16 needs AVX-512 BF16; fp32 accumulation either way)")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--logits", logits_path, "write every sample's model outputs here (CSV, one row per sample)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) set_num_threads(threads);
    models::set_inference_precision(models::parse_precision(precision));
    models::LoadedWeights w = models::load_weights(weights);
    if (input_size > 0) w.config.input_size = input_size;
    models::MaxVit model(w.config);
    model.load_state_dict(w.state);
    const Device dev = kernels::select_device(device);
    model.to(dev);
    model.eval();
    if (dev != Device::cpu) std::fprintf(stderr, "device: %s\n", kernels::describe_device(dev).c_str());
    const bool fashion = data_spec.rfind("fashion-mnist", 0) == 0;
    auto ds = data::open_dataset(data_spec, seven, static_cast<int>(w.config.in_channels));
    if (pipeline_spec.empty())
      pipeline_spec = fashion ? "center_crop(32) normalize(0.2860,0.3530)" : data::kPaperEvalSpec;
    data::Pipeline pipeline(pipeline_spec);

    // What the head's outputs mean, from its width and the dataset: K logits [+ V, A] | V, A | 26 + V, A, D.
    const int64_t outputs = w.config.num_classes, K = ds->num_classes();
    const bool emotic = ds->num_multi_labels() > 0;
    int64_t logits_k = 0, dims = 0;
    if (emotic) logits_k = ds->num_multi_labels(), dims = outputs - logits_k;
    else if (outputs == 2 && K != 2) dims = 2;
    else if (outputs == K) logits_k = K;
    else if (outputs == K + 2) logits_k = K, dims = 2;
    else fail("the checkpoint has ", outputs, " outputs; the dataset has ", K, " classes (expected ", K, ", ", K + 2,
              " or 2 outputs)");
    CAGE_CHECK(dims == 0 || ds->num_targets() >= dims, "the checkpoint predicts ", dims,
               " continuous dimensions but the dataset has ", ds->num_targets());
    std::printf("model: %s\ndata: %s (%lld samples), transform: %s\n", w.config.summary().c_str(), ds->name().c_str(),
                (long long)ds->size(), pipeline_spec.c_str());

    data::LoaderOptions lo;
    lo.batch_size = batch;
    lo.shuffle = false;
    lo.workers = workers;
    data::Loader loader(*ds, &pipeline, lo);
    train::EvalInputs in;
    in.title = title.empty() ? weights + " on " + data_spec : title;
    const char* dim_names[3] = {"valence", "arousal", "dominance"};
    for (int64_t d = 0; d < dims; ++d) in.dim_names.push_back(dim_names[d]);
    in.true_dims.resize(dims);
    in.pred_dims.resize(dims);
    if (emotic) {
      in.num_categories = logits_k;
      in.emotic_raw_scale = true;
    } else if (logits_k > 0) {
      in.num_classes = logits_k;
      if (fashion)
        for (const char* n : data::kFashionMnistClasses) in.class_names.push_back(n);
      in.top_k = {2, 3};
    }
    NoGradGuard no_grad;
    std::ofstream logits_out;
    if (!logits_path.empty()) {
      logits_out.open(logits_path);
      CAGE_CHECK(logits_out.good(), "cannot write ", logits_path);
    }
    const bool tty = isatty(fileno(stderr));
    loader.begin_epoch(0);
    data::Batch b;
    int64_t done = 0;
    while (loader.next(b)) {
      Tensor out = model.forward(b.images.to(dev)).to(Device::cpu).contiguous();
      const float* o = out.data<float>();
      for (int64_t i = 0; i < b.size(); ++i) {
        const float* row = o + i * outputs;
        if (logits_out.is_open()) {
          char buf[32];
          for (int64_t c = 0; c < outputs; ++c) {
            std::snprintf(buf, sizeof buf, "%.9g", row[c]);
            logits_out << (c ? "," : "") << buf;
          }
          logits_out << "\n";
        }
        if (emotic) {
          for (int64_t c = 0; c < logits_k; ++c) {
            in.category_scores.push_back(row[c]);
            in.true_categories.push_back(b.multi_label.data<float>()[i * logits_k + c] > 0.5f);
          }
        } else if (logits_k > 0) {
          int64_t best = 0;
          for (int64_t c = 0; c < logits_k; ++c) {
            in.class_scores.push_back(row[c]);
            if (row[c] > row[best]) best = c;
          }
          in.pred_class.push_back(best);
          in.true_class.push_back(b.labels.data<int64_t>()[i]);
        }
        for (int64_t d = 0; d < dims; ++d) {
          in.pred_dims[d].push_back(row[logits_k + d]);
          in.true_dims[d].push_back(b.targets.data<float>()[i * b.targets.size(1) + d]);
        }
      }
      done += b.size();
      if (tty) std::fprintf(stderr, "\revaluated %lld / %lld", (long long)done, (long long)ds->size());
    }
    if (tty) std::fprintf(stderr, "\n");
    data::EpochStats st = loader.stats();
    if (st.skipped.total() > 0) std::printf("skipped %lld samples (missing or unreadable images)\n", (long long)st.skipped.total());
    train::MetricsReport report = train::evaluate(in);
    std::printf("%s", report.to_text().c_str());
    if (!json_path.empty()) {
      std::ofstream(json_path) << report.to_json().dump(2) << "\n";
      std::printf("metrics written to %s\n", json_path.c_str());
    }
    if (!report_dir.empty()) {
      train::ReportFiles files = train::write_report(report_dir, report, in);
      std::printf("report: %s (%zu pictures)\n", files.html.c_str(), files.pictures.size());
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cage_eval: %s\n", e.what());
    return 1;
  }
}
