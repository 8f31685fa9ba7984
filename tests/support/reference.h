// Reads the PyTorch reference fixtures written by tools/reference/generate_all.py (format: refio.py).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace cage::test {

struct ReferenceCase {
  std::string name;       // "<op>/<case>"
  TensorFile file;
  nlohmann::json params;  // metadata "params"
};

// Every case of `op` in $CAGE_OP_REFERENCE_DIR, sorted by name. Fails the calling test (Error) when the
// directory holds fewer than `min_cases` cases: a comparison that finds nothing to compare must not pass.
std::vector<ReferenceCase> load_reference_cases(const std::string& op, size_t min_cases = 2);

}  // namespace cage::test
