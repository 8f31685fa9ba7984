// cage_infer: runs a MaxViT checkpoint on a raw NCHW float tensor and dumps the logits with the stem and
// per-stage outputs (NCHW), for comparison with PyTorch.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/autograd.h"
#include "core/safetensors.h"
#include "core/thread_pool.h"
#include "models/checkpoint.h"

using namespace cage;

int main(int argc, char** argv) {
  CLI::App app{"Run a MaxViT checkpoint on a tensor and dump its outputs"};
  std::string weights, tensor_spec, dump, device = "cpu";
  int threads = 0;
  app.add_option("--weights", weights, "checkpoint (.pth from torch.save, or .safetensors)")->required()->check(CLI::ExistingFile);
  app.add_option("--tensor", tensor_spec, "input as FILE.safetensors:KEY, a (N, C, H, W) float tensor")->required();
  app.add_option("--dump", dump, "safetensors file for logits, stem and stage outputs (NCHW)")->required();
  app.add_option("--device", device, "cpu (emu and cuda arrive with the CUDA backend)")->capture_default_str();
  app.add_option("--threads", threads, "threads (default: CAGE_NUM_THREADS or all cores)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) set_num_threads(threads);
    Device dev = parse_device(device == "auto" ? "cpu" : device);
    CAGE_CHECK(dev == Device::cpu, "device '", device, "' is not available in this build (the CUDA backend is not built yet)");
    size_t colon = tensor_spec.rfind(':');
    CAGE_CHECK(colon != std::string::npos, "--tensor expects FILE.safetensors:KEY, got '", tensor_spec, "'");
    TensorFile f = load_safetensors(tensor_spec.substr(0, colon));
    Tensor x = f.get(tensor_spec.substr(colon + 1));
    CAGE_CHECK(x.dim() == 4 && x.dtype() == DType::f32, "input must be a float32 (N, C, H, W) tensor, got ", describe(x));

    models::LoadedWeights w = models::load_weights(weights);
    w.config.input_size = x.size(2);
    models::MaxVit model(w.config);
    model.load_state_dict(w.state);
    model.eval();
    std::printf("model: %s\n", w.config.summary().c_str());

    std::vector<std::pair<std::string, Tensor>> outputs;
    NoGradGuard no_grad;
    Tensor logits = model.forward(x.permute({0, 2, 3, 1}).contiguous(), [&](const std::string& name, const Tensor& t) {
      if (name.find('.') != std::string::npos) return;  // stem, stageN, pooled, pre_logits; not per-layer outputs
      outputs.emplace_back(name, t.dim() == 4 ? t.permute({0, 3, 1, 2}).contiguous() : t);
    });
    save_safetensors(dump, outputs, {{"weights", weights}, {"input", tensor_spec}, {"layout", "NCHW"}});
    std::printf("logits %s written to %s with %zu tensors\n", shape_str(logits.shape()).c_str(), dump.c_str(),
                outputs.size());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cage_infer: %s\n", e.what());
    return 1;
  }
}
