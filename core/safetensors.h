// safetensors files (8-byte little-endian header length, JSON header, raw data), read and written.
// Writing goes to a temporary name first, then renames, so an interrupted write never leaves a half file.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace cage {

struct TensorFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in header order
  std::map<std::string, std::string> metadata;          // "__metadata__"

  bool has(const std::string& name) const;
  const Tensor& get(const std::string& name) const;  // Error naming the file's keys when missing
  std::string meta(const std::string& key) const;    // Error when missing
  std::string source;                                // the path it was read from
};

TensorFile load_safetensors(const std::string& path);

// How float32 tensors are stored: as they are, or rounded (to nearest even) to F16 / BF16 to halve the file.
// Reading F16 / BF16 gives f32 tensors back (exact).
enum class FloatStorage { f32, f16, bf16 };
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      FloatStorage float_storage = FloatStorage::f32);

}  // namespace cage
