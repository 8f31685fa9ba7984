// libFuzzer target for the safetensors reader (core/safetensors.h): any byte string must load or raise
// cage::Error, never crash, hang or read out of bounds. The reader takes a path, so each input is written to
// a per-process temporary file first.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/cage_fuzz_safetensors_" + std::to_string(getpid()) + ".safetensors";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    cage::TensorFile t = cage::load_safetensors(path);
    for (auto& [name, tensor] : t.tensors) (void)tensor.numel();
  } catch (const cage::Error&) {
  }
  return 0;
}
