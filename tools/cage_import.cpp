// cage_import: converts a torchvision / CAGE checkpoint written by torch.save (.pth) into a safetensors
// file with the same key names and the inferred model config in its metadata.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "models/checkpoint.h"

using namespace cage;

int main(int argc, char** argv) {
  CLI::App app{"Convert a PyTorch MaxViT checkpoint (.pth, torch.save) into a CAGE safetensors checkpoint"};
  std::string in, out;
  int64_t input_size = 224;
  std::string dtype = "f32";
  app.add_option("input", in, "checkpoint written by torch.save (a state_dict, or a dict holding one)")
      ->required()->check(CLI::ExistingFile);
  app.add_option("output", out, "safetensors file to write")->required();
  app.add_option("--input-size", input_size, "image size the model runs at (not stored in the weights)")
      ->capture_default_str();
  app.add_option("--dtype", dtype, "how floats are stored: f32, f16 or bf16 (rounded to nearest even)")
      ->capture_default_str()->check(CLI::IsMember({"f32", "f16", "bf16"}));
  CLI11_PARSE(app, argc, argv);
  try {
    models::LoadedWeights w = models::load_weights(in);
    w.config.input_size = input_size;
    models::MaxVit model(w.config);
    model.load_state_dict(w.state);  // strict: every mismatch is reported at once
    models::save_checkpoint(out, model, {{"source", in}},
                            dtype == "f16" ? FloatStorage::f16 : dtype == "bf16" ? FloatStorage::bf16 : FloatStorage::f32);
    std::printf("config: %s\n", w.config.summary().c_str());
    std::printf("parameters: %lld in %zu tensors (%zu state_dict entries)\n", (long long)model.parameter_count(),
                model.named_parameters().size(), w.state.size());
    std::printf("wrote %s\n", out.c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "cage_import: %s\n", e.what());
    return 1;
  }
}
